"""Parse and compile: EQL text into predicates and Elasticsearch prefilters."""

from __future__ import annotations
