"""Elasticsearch prefilters: exact where possible, never narrower than the predicate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.eql.ast import EventQuery, Field
from runner.eql.ast import Sequence as SequenceQuery
from runner.eql.parser import parse_query
from runner.eql.prefilter import (
    explain_plan,
    query_prefilter,
    render,
    stage_prefilter,
    translate,
)
from runner.rules.loader import load_rule

RULE_FILE = (
    Path(__file__).resolve().parents[2]
    / "rules"
    / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)
DLLHOST = load_rule(RULE_FILE).query

KEYS = (Field("host.id"), Field("process.entity_id"))
KEY_EXISTS = [
    {"exists": {"field": "host.id"}},
    {"exists": {"field": "process.entity_id"}},
]
DLLHOST_NAME = {
    "term": {"process.name": {"value": "dllhost.exe", "case_insensitive": True}}
}

START_FILTER = {
    "bool": {
        "filter": [
            {"term": {"event.category": "process"}},
            {"term": {"host.os.type": "windows"}},
            {"term": {"event.type": "start"}},
            DLLHOST_NAME,
            {"term": {"process.args_count": 1}},
            *KEY_EXISTS,
        ]
    }
}
NETWORK_FILTER = {
    "bool": {
        "filter": [
            {"term": {"event.category": "network"}},
            {"term": {"host.os.type": "windows"}},
            DLLHOST_NAME,
            *KEY_EXISTS,
        ]
    }
}


def _dllhost() -> SequenceQuery:
    query = parse_query(DLLHOST)
    assert isinstance(query, SequenceQuery)
    return query


def _event_query(text: str) -> EventQuery:
    query = parse_query(text)
    assert isinstance(query, EventQuery)
    return query


def condition(text: str) -> dict[str, Any]:
    """Return the prefilter of ``any where <text>`` without join keys."""
    return stage_prefilter(_event_query(f"any where {text}"))


def _filter(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": list(clauses)}}


def test_prefilter_dllhost_start_stage() -> None:
    """The start stage pushes every condition down, plus the key fields' existence."""
    query = _dllhost()
    assert stage_prefilter(query.stages[0].query, KEYS) == START_FILTER


def test_prefilter_dllhost_network_stage_omits_cidr() -> None:
    """The network stage leaves ``not cidrMatch`` to the client."""
    query = _dllhost()
    assert stage_prefilter(query.stages[1].query, KEYS) == NETWORK_FILTER


def test_prefilter_dllhost_query_ors_stages() -> None:
    """The rule's query is the OR of its stages' prefilters."""
    assert query_prefilter(_dllhost()) == {
        "bool": {"should": [START_FILTER, NETWORK_FILTER], "minimum_should_match": 1}
    }


def test_prefilter_until_is_included() -> None:
    """An ``until`` stage is fetched too, since it drops pending sequences."""
    query = parse_query(
        'sequence by host.id [process where a == "1"] [process where a == "2"] '
        'until [process where a == "3"]'
    )
    should = query_prefilter(query)["bool"]["should"]
    assert len(should) == 3
    assert {"term": {"a": "3"}} in should[2]["bool"]["filter"]


def test_prefilter_identical_stages_collapse() -> None:
    """Stages with the same prefilter appear once."""
    query = parse_query("sequence [process where true] [process where true]")
    assert query_prefilter(query) == _filter({"term": {"event.category": "process"}})


def test_prefilter_event_query_is_its_stage() -> None:
    """An event query's prefilter is its single stage's."""
    query = _event_query('process where a == "1"')
    assert query_prefilter(query) == _filter(
        {"term": {"event.category": "process"}}, {"term": {"a": "1"}}
    )


def test_prefilter_any_true_matches_all() -> None:
    """``any where true`` has nothing to filter on."""
    assert condition("true") == {"match_all": {}}


def test_prefilter_optional_key_needs_no_exists() -> None:
    """An optional join key may be missing, so it adds no ``exists``."""
    query = _event_query("any where true")
    result = stage_prefilter(query, (Field("host.id"), Field("user.id", optional=True)))
    assert result == _filter({"exists": {"field": "host.id"}})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a == "x"', {"term": {"a": "x"}}),
        ('a != "x"', {"bool": {"must_not": [{"term": {"a": "x"}}]}}),
        ("a == null", {"bool": {"must_not": [{"exists": {"field": "a"}}]}}),
        ("a != null", {"exists": {"field": "a"}}),
        ('"x" == a', {"term": {"a": "x"}}),
        ("process.pid >= 4", {"range": {"process.pid": {"gte": 4}}}),
        ("4 < process.pid", {"range": {"process.pid": {"gt": 4}}}),
        ("process.pid < -1", {"range": {"process.pid": {"lt": -1}}}),
        (
            'a : "Cmd.exe"',
            {"term": {"a": {"value": "Cmd.exe", "case_insensitive": True}}},
        ),
        (
            'a : "*.EXE"',
            {"wildcard": {"a": {"value": "*.EXE", "case_insensitive": True}}},
        ),
        (
            r'a : "C:\\Windows\\*"',
            {"wildcard": {"a": {"value": r"C:\\Windows\\*", "case_insensitive": True}}},
        ),
        ('a like "x?"', {"wildcard": {"a": {"value": "x?"}}}),
        ('a like "xy"', {"term": {"a": "xy"}}),
        (
            'a like~ "x*"',
            {"wildcard": {"a": {"value": "x*", "case_insensitive": True}}},
        ),
        ('a in ("x", "y")', {"terms": {"a": ["x", "y"]}}),
        ("process.pid in (1, 2)", {"terms": {"process.pid": [1, 2]}}),
        (
            'a in~ ("X", "y")',
            {
                "bool": {
                    "should": [
                        {"term": {"a": {"value": "X", "case_insensitive": True}}},
                        {"term": {"a": {"value": "y", "case_insensitive": True}}},
                    ],
                    "minimum_should_match": 1,
                }
            },
        ),
        (
            'a not in ("x")',
            {"bool": {"must_not": [{"terms": {"a": ["x"]}}]}},
        ),
        (
            'destination.ip == "::FFFF:10.1.2.3"',
            {"term": {"destination.ip": "10.1.2.3"}},
        ),
        ('destination.ip == "nope"', {"match_none": {}}),
        ('process.pid == "7"', {"term": {"process.pid": 7}}),
    ],
)
def test_prefilter_translations(text: str, expected: dict[str, Any]) -> None:
    """Each exactly translatable condition becomes its Query DSL equivalent."""
    assert condition(text) == _filter(expected)


@pytest.mark.parametrize(
    "text",
    [
        'cidrMatch(destination.ip, "10.0.0.0/8")',
        'not cidrMatch(destination.ip, "10.0.0.0/8")',
        'startsWith(a, "x")',
        'a regex "x.*"',
        "a == b",
        "process.pid + 1 == 2",
        'a > "m"',
        '@timestamp > "2026-01-01"',
        'a : "Ä*"',
        'a in~ ("É")',
        'destination.ip : "10.*"',
        'a == "x" or cidrMatch(destination.ip, "10.0.0.0/8")',
        'not (a == "x" and cidrMatch(destination.ip, "10.0.0.0/8"))',
        'not (a == "x" or startsWith(b, "y"))',
        "not a",
    ],
)
def test_prefilter_untranslatable_widens_to_everything(text: str) -> None:
    """Whatever cannot be pushed down exactly, even under not or or, matches all."""
    assert condition(text) == {"match_all": {}}


def test_prefilter_and_keeps_translatable_parts() -> None:
    """An ``and`` keeps its translatable parts and drops the others."""
    result = condition('a == "x" and startsWith(b, "y") and c == "z"')
    assert result == _filter({"term": {"a": "x"}}, {"term": {"c": "z"}})


def test_prefilter_inexact_and_inside_or_still_filters() -> None:
    """A widened ``and`` is still a safe branch of an ``or`` (a superset)."""
    result = condition('(a == "x" and startsWith(b, "y")) or c == "z"')
    should = [{"term": {"a": "x"}}, {"term": {"c": "z"}}]
    assert result == _filter({"bool": {"should": should, "minimum_should_match": 1}})
    assert translate(_event_query(f"any where {'a == b or c == d'}").condition) is None


def test_prefilter_not_over_exact_and() -> None:
    """``not`` is pushed down over an exactly translated ``and``."""
    result = condition('not (a == "x" and b == "y")')
    inner = {"bool": {"filter": [{"term": {"a": "x"}}, {"term": {"b": "y"}}]}}
    assert result == _filter({"bool": {"must_not": [inner]}})


def test_prefilter_translation_reports_exactness() -> None:
    """translate says whether its query is exact or a superset."""
    exact = translate(_event_query('any where a == "x"').condition)
    widened = translate(_event_query('any where a == "x" and length(b) > 1').condition)
    assert exact == ({"term": {"a": "x"}}, True)
    assert widened == ({"term": {"a": "x"}}, False)


def test_prefilter_explain_plan_of_dllhost() -> None:
    """The plan names what Elasticsearch filters and what the runner evaluates."""
    plan = explain_plan(_dllhost())
    assert "maxspan: 1m (60000 ms)" in plan
    assert "join keys: host.id, process.entity_id" in plan
    assert 'pushed down (exact):\n    host.os.type == "windows"' in plan
    assert 'client-side only:\n    not cidrMatch(destination.ip, "10.0.0.0/8"' in plan
    assert "until: none" in plan


def test_prefilter_render_round_trips() -> None:
    """Rendered conditions parse back to the same tree."""
    text = (
        'process where (a == "x" or b : ("y*", "z")) and not c in~ ("A", 1) and '
        'd like~ "q?" and e regex "[0-9]+" and startsWith~(f, "g") and '
        "(h + 1) * 2 >= 3 and ?i == null and j != true"
    )
    query = _event_query(text)
    again = _event_query(f"process where {render(query.condition)}")
    assert again.condition == query.condition
