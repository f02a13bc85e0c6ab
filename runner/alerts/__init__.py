"""Build alerts: Kibana-shaped alert documents with deterministic ids."""

from __future__ import annotations
