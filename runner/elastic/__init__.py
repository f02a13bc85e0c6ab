"""Fetch and write: everything that speaks to Elasticsearch."""

from __future__ import annotations
