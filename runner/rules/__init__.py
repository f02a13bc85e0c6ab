"""Load: detection-rules TOML files into typed rule models."""

from __future__ import annotations
