"""A detection rule as loaded from its detection-rules TOML file.

:class:`Rule` holds what the runner needs from ``[rule]`` and ``[metadata]``,
with Kibana's defaults filled in and the EQL query already parsed. The
loader (:mod:`runner.rules.loader`) is the only producer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.eql.ast import Query

__all__ = [
    "DEFAULT_FROM",
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_SIGNALS",
    "SEVERITIES",
    "Rule",
]

# Kibana's defaults for a rule that does not set them.
DEFAULT_FROM = "now-6m"
DEFAULT_INTERVAL = "5m"
DEFAULT_MAX_SIGNALS = 100

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Rule:
    """One EQL detection rule, validated and parsed.

    Attributes:
        path: The TOML file the rule was loaded from.
        rule_id: The rule's stable id (``rule_id``), shared by its versions.
        name: The human name.
        description: What the rule detects.
        version: The rule's version; 1 when the file does not say.
        type: The rule type; ``eql``.
        language: The query language; ``eql``.
        query: The EQL query text, as written.
        parsed: The parsed query.
        index: The index patterns searched.
        from_: Kibana's ``from`` (``now-9m``).
        lookback_ms: How far each run looks back, from ``from_``.
        interval: How often the rule runs (``5m``).
        interval_ms: ``interval`` in milliseconds.
        max_signals: The most sequences or events one run alerts on.
        risk_score: 0 to 100.
        severity: One of :data:`SEVERITIES`.
        threat: MITRE ATT&CK mappings in Kibana's shape: ``framework``,
            ``tactic`` (``id``, ``name``, ``reference``) and ``technique``,
            a list of ``id``, ``name``, ``reference`` and, when the file has
            any, ``subtechnique``.
        references: URLs.
        tags: Free-form tags.
        author: Authors.
        license: The rule's license.
        note: The investigation guide, Markdown; empty when absent.
        timestamp_override: A field to order and window by instead of
            ``@timestamp`` (``event.ingested``), or None.
        tiebreaker_field: A field ordering events of equal timestamp, or None.
        event_category_override: A field to read the event category from
            instead of ``event.category``, or None.
        building_block_type: ``default`` for building-block rules, or None.
        query_offset: ``(line_offset, column_offset)`` of the query's first
            character in the file, for :meth:`RuleError.at` to move an error
            found later in the parsed query (by the compiler) into the file.
            Exact for ``'''`` literal strings; in a basic string an escape
            before the error on its line shifts the column.
        metadata: The ``[metadata]`` table.
        raw: The whole TOML document.
    """

    path: str
    rule_id: str
    name: str
    description: str
    type: str
    language: str
    query: str
    parsed: Query
    index: tuple[str, ...]
    risk_score: int
    severity: str
    version: int = 1
    from_: str = DEFAULT_FROM
    lookback_ms: int = 6 * 60_000
    interval: str = DEFAULT_INTERVAL
    interval_ms: int = 5 * 60_000
    max_signals: int = DEFAULT_MAX_SIGNALS
    threat: tuple[Mapping[str, Any], ...] = ()
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    license: str = ""
    note: str = ""
    timestamp_override: str | None = None
    tiebreaker_field: str | None = None
    event_category_override: str | None = None
    building_block_type: str | None = None
    query_offset: tuple[int, int] = (0, 0)
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
