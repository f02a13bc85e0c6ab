"""Compiling a loaded rule: plan, prefilter, fields, category override."""

from __future__ import annotations

from pathlib import Path

from runner.ecs import event_from_source
from runner.eql.compile import compile_rule
from runner.matching.evaluate import evaluate
from runner.rules.loader import load_rule

RULE = """[rule]
rule_id = "r1"
name = "RDS password modified"
description = "d"
type = "eql"
language = "eql"
risk_score = 21
severity = "low"
index = ["logs-aws.cloudtrail-*"]
{override}
query = '''
info where event.provider == "rds.amazonaws.com" and event.outcome == "success"
'''
"""


def _rule(tmp_path: Path, override: str) -> Path:
    path = tmp_path / "rule.toml"
    path.write_text(RULE.format(override=override), encoding="utf-8")
    return path


def _doc(types: list[str], categories: list[str]) -> dict[str, object]:
    return {
        "@timestamp": "2026-12-01T10:00:00.000Z",
        "event": {
            "type": types,
            "category": categories,
            "provider": "rds.amazonaws.com",
            "outcome": "success",
        },
    }


def test_compile_rule_category_override_reads_category_from_named_field(
    tmp_path: Path,
) -> None:
    """With event_category_override = "event.type", `info where` matches on
    event.type (any element) and ignores event.category."""
    compiled = compile_rule(
        load_rule(_rule(tmp_path, 'event_category_override = "event.type"'))
    )
    events = [
        event_from_source(_doc(["info", "change"], ["database"]), "i", "1"),
        event_from_source(_doc(["change"], ["info"]), "i", "2"),
    ]

    found = evaluate(compiled.plan, events, limit=10)

    assert [m.events[0].id for m in found.matches] == ["1"]
    assert "event.type" in compiled.fields
    assert {"term": {"event.type": "info"}} in compiled.prefilter["bool"]["filter"]


def test_compile_rule_without_override_reads_event_category(tmp_path: Path) -> None:
    """Without an override the category is read from event.category."""
    compiled = compile_rule(load_rule(_rule(tmp_path, "")))
    events = [
        event_from_source(_doc(["info"], ["database"]), "i", "1"),
        event_from_source(_doc(["change"], ["info"]), "i", "2"),
    ]

    found = evaluate(compiled.plan, events, limit=10)

    assert [m.events[0].id for m in found.matches] == ["2"]
    assert {"term": {"event.category": "info"}} in compiled.prefilter["bool"]["filter"]
