"""Turn matched sequences into Kibana-shaped alert documents.

A sequence of n events gives n + 1 documents, as Kibana's EQL rule writes
them: one building-block alert per event (the event's own fields, its
position in the sequence) and one parent alert with the fields all events
share (``host.id``, ``process.entity_id`` …), grouped by
``kibana.alert.group.id``. An event query gives one alert per event.

Ids are deterministic: SHA-256 of the rule id and the ordered ``(_index,
_id)`` pairs of the sequence, plus the position for a building block. Two
executions that find the same sequence write the same ids, so the second
``create`` is a 409 and nothing is duplicated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from runner.ecs import format_timestamp as iso
from runner.eql.ast import Sequence as SequenceQuery
from runner.events import Event
from runner.rules.model import Rule

AlertDoc = tuple[str, dict[str, Any]]
Sources = Mapping[tuple[str, str], Mapping[str, Any]]

ExecutionType = Literal["scheduled", "manual"]


@dataclass(frozen=True)
class AlertContext:
    """What every alert of one execution shares."""

    execution_ms: int
    execution_type: ExecutionType
    execution_uuid: str


def sequence_id(rule_id: str, events: Sequence[Event], position: int | None) -> str:
    """Return the deterministic alert id of a sequence or one of its events."""
    digest = hashlib.sha256(rule_id.encode())
    for event in events:
        digest.update(b"\x00" + event.index.encode() + b"\x00" + event.id.encode())
    if position is not None:
        digest.update(b"\x01" + str(position).encode())
    return digest.hexdigest()


def build_alerts(
    rule: Rule, events: Sequence[Event], sources: Sources, context: AlertContext
) -> list[AlertDoc]:
    """Return the alert documents of one match, parent first."""
    originals = [dict(sources.get((e.index, e.id), {})) for e in events]
    if len(events) == 1 and not _is_sequence(rule):
        doc_id = sequence_id(rule.rule_id, events, None)
        single = _alert(rule, context, originals[0], events, doc_id)
        single["kibana.alert.original_time"] = iso(events[0].timestamp)
        return [(doc_id, single)]

    group_id = sequence_id(rule.rule_id, events, None)
    parent = _alert(rule, context, _shared(originals), events, group_id)
    parent["kibana.alert.original_time"] = iso(events[0].timestamp)
    parent["kibana.alert.group.id"] = group_id
    parent["kibana.alert.depth"] = 2
    docs: list[AlertDoc] = [(group_id, parent)]
    for position, (event, original) in enumerate(zip(events, originals, strict=True)):
        doc_id = sequence_id(rule.rule_id, events, position)
        block = _alert(rule, context, original, [event], doc_id)
        block["kibana.alert.original_time"] = iso(event.timestamp)
        block["kibana.alert.building_block_type"] = "default"
        block["kibana.alert.group.id"] = group_id
        block["kibana.alert.group.index"] = position
        docs.append((doc_id, block))
    return docs


def _is_sequence(rule: Rule) -> bool:
    return isinstance(rule.parsed, SequenceQuery)


def _alert(
    rule: Rule,
    context: AlertContext,
    source: Mapping[str, Any],
    events: Sequence[Event],
    doc_id: str,
) -> dict[str, Any]:
    # A shallow copy: nested objects of the source are shared, never changed.
    doc = dict(source)
    original_event = doc.get("event") if isinstance(doc.get("event"), dict) else None
    doc["event"] = {**(original_event or {}), "kind": "signal"}
    doc["@timestamp"] = iso(context.execution_ms)
    doc.update(_rule_fields(rule, context))
    if original_event:
        doc["kibana.alert.original_event"] = original_event
    doc["kibana.alert.uuid"] = doc_id
    doc["kibana.alert.ancestors"] = [
        {"id": e.id, "index": e.index, "type": "event", "depth": 0} for e in events
    ]
    doc["kibana.alert.depth"] = 1
    doc["kibana.alert.reason"] = _reason(rule, source)
    return doc


def _rule_fields(rule: Rule, context: AlertContext) -> dict[str, Any]:
    return {
        "kibana.alert.rule.uuid": rule.rule_id,
        "kibana.alert.rule.rule_id": rule.rule_id,
        "kibana.alert.rule.name": rule.name,
        "kibana.alert.rule.description": rule.description,
        "kibana.alert.rule.type": rule.type,
        "kibana.alert.rule.version": str(rule.version),
        "kibana.alert.rule.risk_score": rule.risk_score,
        "kibana.alert.rule.severity": rule.severity,
        "kibana.alert.rule.threat": [dict(t) for t in rule.threat],
        "kibana.alert.rule.references": list(rule.references),
        "kibana.alert.rule.tags": list(rule.tags),
        "kibana.alert.rule.author": list(rule.author),
        "kibana.alert.rule.license": rule.license,
        "kibana.alert.rule.from": rule.from_,
        "kibana.alert.rule.interval": rule.interval,
        "kibana.alert.rule.max_signals": rule.max_signals,
        "kibana.alert.rule.indices": list(rule.index),
        "kibana.alert.rule.note": rule.note,
        "kibana.alert.rule.execution.type": context.execution_type,
        "kibana.alert.rule.execution.uuid": context.execution_uuid,
        "kibana.alert.severity": rule.severity,
        "kibana.alert.risk_score": rule.risk_score,
        "kibana.alert.status": "active",
        "kibana.alert.workflow_status": "open",
    }


def _reason(rule: Rule, source: Mapping[str, Any]) -> str:
    parts = []
    process = _dig(source, "process.name")
    host = _dig(source, "host.name") or _dig(source, "host.id")
    if process:
        parts.append(f"with process {process},")
    if host:
        parts.append(f"on {host}")
    subject = "event " + " ".join(parts) if parts else "event"
    return f"{subject} created {rule.severity} alert {rule.name}."


def _dig(source: Mapping[str, Any], dotted: str) -> Any:
    node: Any = source
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return source.get(dotted)
        node = node.get(part)
    return node


def _shared(originals: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the fields whose value is the same in every event."""
    first, *rest = [_flatten(doc) for doc in originals]
    common = {
        name: value
        for name, value in first.items()
        if all(other.get(name, _ABSENT) == value for other in rest)
    }
    return _nest(common)


_ABSENT = object()


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in flat.items():
        node = nested
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested
