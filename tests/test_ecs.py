"""Offline indexing: raw documents coerced as the ECS mappings index them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runner import ecs


def test_ecs_flatten_nested_and_dotted_keys() -> None:
    """Nested objects and dotted keys give the same dotted names."""
    source = {"process": {"name": "a", "parent.name": "b"}, "host.os.type": "windows"}
    assert ecs.flatten(source) == {
        "process.name": ["a"],
        "process.parent.name": ["b"],
        "host.os.type": ["windows"],
    }


def test_ecs_flatten_arrays_of_objects() -> None:
    """An array of objects contributes each object's values under one name."""
    source = {"dns": {"answers": [{"data": "1.1.1.1", "ttl": 5}, {"data": "x"}]}}
    assert ecs.flatten(source) == {
        "dns.answers.data": ["1.1.1.1", "x"],
        "dns.answers.ttl": [5],
    }


def test_ecs_flatten_drops_nulls_and_flattens_nested_arrays() -> None:
    """Nulls, empty arrays and empty objects vanish; nested arrays flatten."""
    source: dict[str, Any] = {
        "a": None,
        "b": [],
        "c": {},
        "d": [["x", None], "y"],
        "event": {"category": ["process"]},
    }
    assert ecs.flatten(source) == {"d": ["x", "y"], "event.category": ["process"]}


def test_ecs_flatten_merges_both_spellings() -> None:
    """A name given both nested and dotted gathers all values."""
    source = {"event": {"type": "start"}, "event.type": ["change"]}
    assert ecs.flatten(source) == {"event.type": ["start", "change"]}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("destination.ip", ecs.IP),
        ("related.ip", ecs.IP),
        ("process.args_count", ecs.LONG),
        ("process.parent.pid", ecs.LONG),
        ("destination.port", ecs.LONG),
        ("event.sequence", ecs.LONG),
        ("@timestamp", ecs.DATE),
        ("event.ingested", ecs.DATE),
        ("process.code_signature.trusted", ecs.BOOLEAN),
        ("process.name", ecs.KEYWORD),
        ("winlog.event_id", ecs.KEYWORD),
    ],
)
def test_ecs_field_type_table(name: str, kind: str) -> None:
    """ECS types come from the field's name or suffix; keyword otherwise."""
    assert ecs.field_type(name) == kind


@pytest.mark.parametrize(
    ("name", "raw", "indexed"),
    [
        ("process.args_count", "1", 1),
        ("process.args_count", 1, 1),
        ("process.args_count", 1.0, 1),
        ("process.args_count", "abc", ecs.MALFORMED),
        ("process.args_count", True, ecs.MALFORMED),
        ("destination.ip", "::FFFF:10.1.2.3", "10.1.2.3"),
        ("destination.ip", "FE80::0:1", "fe80::1"),
        ("destination.ip", "not-an-ip", ecs.MALFORMED),
        ("destination.ip", "300.1.1.1", ecs.MALFORMED),
        ("host.id", 1, "1"),
        ("host.id", 1.5, "1.5"),
        ("host.id", True, "true"),
        ("host.id", "abc", "abc"),
        ("@timestamp", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00.000Z"),
        ("@timestamp", "2026-12-01T12:00:00.5+02:00", "2026-12-01T10:00:00.500Z"),
        ("@timestamp", "yesterday", ecs.MALFORMED),
        ("process.code_signature.trusted", "true", True),
        ("process.code_signature.trusted", "yes", ecs.MALFORMED),
    ],
)
def test_ecs_coerce(name: str, raw: Any, indexed: Any) -> None:
    """A value becomes what its field type indexes, or MALFORMED."""
    result = ecs.coerce(name, raw)
    assert result == indexed
    assert type(result) is type(indexed)


@pytest.mark.parametrize(
    ("text", "epoch_ms"),
    [
        ("2026-12-01T10:00:00.123Z", 1796119200123),
        ("2026-12-01T10:00:00.123456789Z", 1796119200123),
        ("2026-12-01T11:00:00.123+01:00", 1796119200123),
        ("2026-12-01T10:00:00.123", 1796119200123),
        ("2026-12-01", 1796083200000),
        ("1796119200123", 1796119200123),
        (1796119200123, 1796119200123),
    ],
)
def test_ecs_parse_timestamp(text: Any, epoch_ms: int) -> None:
    """ISO 8601 (any offset, up to nanoseconds) and epoch milliseconds parse."""
    assert ecs.parse_timestamp(text) == epoch_ms


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-13-01", "2026-12-01 10:00", None]
)
def test_ecs_parse_timestamp_refuses(text: Any) -> None:
    """Text that is no date raises ValueError."""
    with pytest.raises(ValueError, match="date"):
        ecs.parse_timestamp(text)


def _network_source(**overrides: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "@timestamp": "2026-12-01T10:00:00.123Z",
        "event": {"category": ["network"], "sequence": "42"},
        "host": {"id": "h1"},
        "destination": {"ip": "::ffff:8.8.8.8", "port": "443"},
        "process": {"name": "dllhost.exe", "args_count": "1"},
    }
    source.update(overrides)
    return source


def test_ecs_event_from_source() -> None:
    """A raw document becomes the event ES would return, typed by its mapping."""
    event = ecs.event_from_source(_network_source(), "logs-x", "d1")
    assert (event.index, event.id, event.timestamp) == ("logs-x", "d1", 1796119200123)
    assert event.tiebreaker == 42
    assert event.fields["destination.ip"] == ["8.8.8.8"]
    assert event.fields["destination.port"] == [443]
    assert event.fields["process.args_count"] == [1]
    assert event.fields["@timestamp"] == ["2026-12-01T10:00:00.123Z"]


def test_ecs_event_from_source_drops_and_counts_malformed() -> None:
    """A malformed ip is dropped, as ignore_malformed does, and counted."""
    malformed: Counter[str] = Counter()
    source = _network_source(destination={"ip": "not-an-ip"})
    event = ecs.event_from_source(source, "logs-x", "d1", malformed=malformed)
    assert "destination.ip" not in event.fields
    assert malformed == Counter({"destination.ip": 1})


def test_ecs_event_from_source_without_tiebreaker() -> None:
    """Without the tiebreaker field the event's tiebreaker is None."""
    source = _network_source(event={"category": ["network"]})
    assert ecs.event_from_source(source, "logs-x", "d1").tiebreaker is None


@pytest.mark.parametrize("stamp", [None, "not a date"])
def test_ecs_event_from_source_requires_timestamp(stamp: Any) -> None:
    """A missing or unparseable @timestamp raises, naming the document."""
    source = _network_source()
    source["@timestamp"] = stamp
    with pytest.raises(ValueError, match="logs-x/d9"):
        ecs.event_from_source(source, "logs-x", "d9")


def test_ecs_event_from_hit_uses_sort_value() -> None:
    """A hit's first sort value is its timestamp; fields are kept as returned."""
    hit = {
        "_index": "logs-x",
        "_id": "d1",
        "sort": [1796119200123, 42],
        "fields": {
            "@timestamp": ["2000-01-01T00:00:00.000Z"],
            "event.sequence": [42],
            "destination.ip": ["8.8.8.8"],
        },
    }
    event = ecs.event_from_hit(hit)
    assert (event.index, event.id, event.timestamp) == ("logs-x", "d1", 1796119200123)
    assert event.tiebreaker == 42
    assert event.fields["destination.ip"] == ["8.8.8.8"]


def test_ecs_event_from_hit_without_sort_reads_timestamp_field() -> None:
    """Without sort values the timestamp comes from fields['@timestamp']."""
    hit = {
        "_index": "i",
        "_id": "d",
        "fields": {"@timestamp": ["2026-12-01T10:00:00.123Z"]},
    }
    event = ecs.event_from_hit(hit)
    assert event.timestamp == 1796119200123
    assert event.tiebreaker is None


def test_ecs_event_from_hit_without_timestamp_raises() -> None:
    """A hit with neither sort values nor @timestamp raises, naming the hit."""
    with pytest.raises(ValueError, match="i/d"):
        ecs.event_from_hit({"_index": "i", "_id": "d", "fields": {}})
