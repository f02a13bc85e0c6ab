"""Alert documents built from matched sequences, in Kibana's shape."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from runner import samples
from runner.alerts.build import (
    AlertContext,
    ExecutionType,
    build_alerts,
    sequence_id,
)
from runner.ecs import event_from_source
from runner.eql.parser import parse_query
from runner.events import Event
from runner.rules.loader import load_rule
from runner.rules.model import Rule

DLLHOST = (
    Path(__file__).resolve().parents[2]
    / "rules"
    / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)

T0 = 1_796_119_200_000  # 2026-12-01T10:00:00Z
EXECUTION_MS = T0 + 5 * 60_000
HOST = "host-1"
ENTITY = "entity-1"
PROCESS_INDEX = ".ds-logs-endpoint.events.process-default-2026.12.01-000001"
NETWORK_INDEX = ".ds-logs-endpoint.events.network-default-2026.12.01-000001"

Sources = dict[tuple[str, str], dict[str, Any]]
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def rule() -> Rule:
    """The project's DllHost sequence rule."""
    return load_rule(DLLHOST)


@pytest.fixture
def sources() -> Sources:
    """A dllhost.exe start and its connection to 8.8.8.8, by (index, id)."""
    start = samples.defend_process_start(T0, HOST, ENTITY, sequence=1)
    connect = samples.defend_network(T0 + 10_000, HOST, ENTITY, "8.8.8.8", sequence=2)
    return {(PROCESS_INDEX, "p1"): start, (NETWORK_INDEX, "n1"): connect}


@pytest.fixture
def events(sources: Sources) -> list[Event]:
    """The events of ``sources``, in sequence order."""
    return [event_from_source(source, *key) for key, source in sources.items()]


def context(execution_type: ExecutionType = "scheduled") -> AlertContext:
    """The execution every alert of a test shares."""
    return AlertContext(EXECUTION_MS, execution_type, "exec-uuid")


def build(rule: Rule, events: list[Event], sources: Sources) -> list[Doc]:
    """Return the alert sources of one match, parent first."""
    return [doc for _, doc in build_alerts(rule, events, sources, context())]


def test_sequence_id_is_deterministic(events: list[Event]) -> None:
    """The same rule and events give the same 64-hex-digit id."""
    first = sequence_id("rule-1", events, None)
    assert first == sequence_id("rule-1", list(events), None)
    assert len(first) == 64
    int(first, 16)


def test_sequence_id_depends_on_event_order(events: list[Event]) -> None:
    """Reversing the events changes the id."""
    forward = sequence_id("rule-1", events, None)
    assert forward != sequence_id("rule-1", events[::-1], None)


def test_sequence_id_depends_on_rule_id(events: list[Event]) -> None:
    """Another rule finding the same events gets another id."""
    assert sequence_id("rule-1", events, None) != sequence_id("rule-2", events, None)


def test_sequence_id_depends_on_position(events: list[Event]) -> None:
    """The parent and each building block have distinct ids."""
    ids = {sequence_id("rule-1", events, p) for p in (None, 0, 1)}
    assert len(ids) == 3


def test_sequence_id_ignores_event_content(events: list[Event]) -> None:
    """Only (_index, _id) count: a re-fetched event keeps its alert id."""
    changed = [dataclasses.replace(events[0], timestamp=0, fields={}), events[1]]
    assert sequence_id("r", changed, 0) == sequence_id("r", events, 0)


def test_build_alerts_parent_then_one_block_per_event(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """A 2-event sequence gives a parent and two building blocks, ids by position."""
    docs = build_alerts(rule, events, sources, context())
    assert [doc_id for doc_id, _ in docs] == [
        sequence_id(rule.rule_id, events, None),
        sequence_id(rule.rule_id, events, 0),
        sequence_id(rule.rule_id, events, 1),
    ]
    assert [doc["kibana.alert.uuid"] for _, doc in docs] == [i for i, _ in docs]


def test_build_alerts_group_fields(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """All share group.id; blocks carry group.index 0..n-1 and building_block_type."""
    parent, *blocks = build(rule, events, sources)
    group_id = sequence_id(rule.rule_id, events, None)
    assert {doc["kibana.alert.group.id"] for doc in (parent, *blocks)} == {group_id}
    assert [b["kibana.alert.group.index"] for b in blocks] == [0, 1]
    assert "kibana.alert.group.index" not in parent
    assert "kibana.alert.building_block_type" not in parent
    assert {b["kibana.alert.building_block_type"] for b in blocks} == {"default"}
    assert parent["kibana.alert.depth"] == 2
    assert {b["kibana.alert.depth"] for b in blocks} == {1}


def test_build_alerts_parent_keeps_only_shared_fields(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """The parent has host.id and process.entity_id, not destination.ip."""
    parent, _, network_block = build(rule, events, sources)
    assert parent["host"]["id"] == HOST
    assert parent["process"]["entity_id"] == ENTITY
    assert parent["process"]["name"] == "dllhost.exe"
    assert "destination" not in parent
    assert "args" not in parent["process"]
    assert network_block["destination"]["ip"] == "8.8.8.8"


def test_build_alerts_event_kind_is_signal(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """Every alert is event.kind signal; blocks keep the original event."""
    parent, process_block, network_block = build(rule, events, sources)
    for doc in (parent, process_block, network_block):
        assert doc["event"]["kind"] == "signal"
    assert process_block["kibana.alert.original_event"]["action"] == "start"
    assert process_block["kibana.alert.original_event"]["kind"] == "event"
    assert network_block["event"]["action"] == "connection_attempted"


def test_build_alerts_times(rule: Rule, events: list[Event], sources: Sources) -> None:
    """@timestamp is the execution; original_time the first (or own) event's."""
    parent, process_block, network_block = build(rule, events, sources)
    assert {d["@timestamp"] for d in (parent, process_block, network_block)} == {
        samples.iso(EXECUTION_MS)
    }
    assert parent["kibana.alert.original_time"] == samples.iso(T0)
    assert process_block["kibana.alert.original_time"] == samples.iso(T0)
    assert network_block["kibana.alert.original_time"] == samples.iso(T0 + 10_000)


def test_build_alerts_ancestors_in_order(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """The parent lists every event's index and id in order; a block, its own."""
    parent, process_block, network_block = build(rule, events, sources)
    process = {"id": "p1", "index": PROCESS_INDEX, "type": "event", "depth": 0}
    network = {"id": "n1", "index": NETWORK_INDEX, "type": "event", "depth": 0}
    assert parent["kibana.alert.ancestors"] == [process, network]
    assert process_block["kibana.alert.ancestors"] == [process]
    assert network_block["kibana.alert.ancestors"] == [network]


def test_build_alerts_rule_metadata(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """The rule's metadata is copied into kibana.alert.rule.* on every alert."""
    for doc in build(rule, events, sources):
        assert (
            doc["kibana.alert.rule.rule_id"] == "c7894234-7814-44c2-92a9-f7d851ea246a"
        )
        assert doc["kibana.alert.rule.uuid"] == rule.rule_id
        assert doc["kibana.alert.rule.name"] == "Unusual Network Connection via DllHost"
        assert doc["kibana.alert.rule.type"] == "eql"
        assert doc["kibana.alert.rule.severity"] == "medium"
        assert doc["kibana.alert.severity"] == "medium"
        assert doc["kibana.alert.rule.risk_score"] == 47
        assert doc["kibana.alert.risk_score"] == 47
        assert doc["kibana.alert.rule.version"] == "208"
        assert doc["kibana.alert.rule.from"] == "now-9m"
        assert doc["kibana.alert.rule.interval"] == "5m"
        assert doc["kibana.alert.rule.max_signals"] == 100
        assert doc["kibana.alert.rule.indices"] == list(rule.index)
        assert "winlogbeat-*" in doc["kibana.alert.rule.indices"]
        assert doc["kibana.alert.rule.references"] == list(rule.references)
        assert len(doc["kibana.alert.rule.references"]) == 3
        assert "Tactic: Defense Evasion" in doc["kibana.alert.rule.tags"]
        assert doc["kibana.alert.rule.note"].startswith("## Triage and analysis")
        assert doc["kibana.alert.status"] == "active"
        assert doc["kibana.alert.workflow_status"] == "open"
        assert "dllhost.exe" in doc["kibana.alert.reason"]


def test_build_alerts_threat_in_kibana_shape(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """The MITRE mapping keeps framework, tactic and techniques."""
    parent = build(rule, events, sources)[0]
    (threat,) = parent["kibana.alert.rule.threat"]
    assert threat["framework"] == "MITRE ATT&CK"
    assert threat["tactic"]["id"] == "TA0005"
    assert [t["id"] for t in threat["technique"]] == ["T1218"]


@pytest.mark.parametrize("execution_type", ["scheduled", "manual"])
def test_build_alerts_execution_type(
    rule: Rule, events: list[Event], sources: Sources, execution_type: ExecutionType
) -> None:
    """The execution type and uuid of the context are on every alert."""
    docs = build_alerts(rule, events, sources, context(execution_type))
    for _, doc in docs:
        assert doc["kibana.alert.rule.execution.type"] == execution_type
        assert doc["kibana.alert.rule.execution.uuid"] == "exec-uuid"


def test_build_alerts_leaves_sources_untouched(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """Building alerts never mutates the events' sources."""
    before = copy.deepcopy(sources)
    build(rule, events, sources)
    assert sources == before


def test_build_alerts_event_query_gives_one_alert(
    rule: Rule, events: list[Event], sources: Sources
) -> None:
    """An event query's match is one alert, with no group or building block."""
    single = dataclasses.replace(rule, parsed=parse_query("process where true"))
    docs = build_alerts(single, events[:1], sources, context())
    ((doc_id, doc),) = docs
    assert doc_id == sequence_id(rule.rule_id, events[:1], None)
    assert "kibana.alert.group.id" not in doc
    assert "kibana.alert.building_block_type" not in doc
    assert doc["process"]["args_count"] == 1
