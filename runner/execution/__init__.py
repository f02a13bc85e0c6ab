"""Execute: windows, one execution, the scheduler and backfill."""

from __future__ import annotations
