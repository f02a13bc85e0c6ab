"""Executions of the DllHost rule against a real node, end to end."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from runner import samples
from runner.elastic.client import RetryPolicy
from runner.eql.compile import CompiledRule, compile_rule
from runner.execution.rule_runner import RuleRunner, Target
from runner.rules.loader import load_rule
from tests.integration import timeline
from tests.integration.timeline import END, MIN, T0

pytestmark = pytest.mark.elasticsearch

ROOT = Path(__file__).resolve().parents[2]
RULE_FILE = (
    ROOT / "rules" / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)


def scoped(compiled: CompiledRule, namespace: str) -> CompiledRule:
    """Narrow the rule's index patterns to the test's data streams."""
    index = tuple(
        pattern.replace("*", f"{namespace}*") for pattern in compiled.rule.index
    )
    return dataclasses.replace(
        compiled, rule=dataclasses.replace(compiled.rule, index=index)
    )


@pytest.fixture
def dllhost(namespace: str) -> CompiledRule:
    """The project's DllHost rule, reading only this test's data streams."""
    return scoped(compile_rule(load_rule(RULE_FILE)), namespace)


@pytest.fixture
def target(es: Elasticsearch, namespace: str) -> Iterator[Target]:
    """Alerts and state indices of this test, deleted afterwards."""
    made = Target(f"runner-alerts-{namespace}", f"runner-state-{namespace}")
    yield made
    es.options(ignore_status=404).indices.delete(
        index=f"{made.alerts_index}*,{made.state_index}"
    )
    for name in (made.alerts_index, made.state_index):
        es.options(ignore_status=404).indices.delete_index_template(
            name=f"eql-runner-{name}"
        )


def no_sleep(seconds: float) -> None:
    """Retries in tests never wait for real."""


def make_runner(es: Elasticsearch, target: Target, now_ms: int = END) -> RuleRunner:
    """A runner whose clock stands at ``now_ms``."""
    return RuleRunner(
        es, target, RetryPolicy(sleep=no_sleep), clock=lambda: now_ms / 1000
    )


def index_docs(es: Elasticsearch, docs: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Create the documents with their own ids, refreshed."""
    actions = [
        {"_op_type": "create", "_index": index, "_id": doc_id, "_source": doc}
        for index, doc_id, doc in docs
    ]
    helpers.bulk(es, actions, refresh="wait_for")


def parent_alerts(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    """Every parent alert of the index (building blocks left out)."""
    es.indices.refresh(index=index)
    found = es.search(
        index=index,
        query={
            "bool": {
                "must_not": {"exists": {"field": "kibana.alert.building_block_type"}}
            }
        },
        size=1000,
    )
    return [hit["_source"] | {"_id": hit["_id"]} for hit in found["hits"]["hits"]]


def ancestry(alerts: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """Each parent alert as the tuple of its events' ids."""
    return {tuple(a["id"] for a in alert["kibana.alert.ancestors"]) for alert in alerts}


def count(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def test_execution_timeline_every_five_minutes_yields_expected_alerts(
    es: Elasticsearch, namespace: str, dllhost: CompiledRule, target: Target
) -> None:
    """run-once --at every 5 minutes across the timeline raises exactly the
    expected parent alerts, once each, from all four index families."""
    tl = timeline.build(namespace)
    index_docs(es, tl.docs)
    runner = make_runner(es, target)

    for end in range(T0 + 5 * MIN, END + 1, 5 * MIN):
        runner.run_once(dllhost, end)

    alerts = parent_alerts(es, target.alerts_index)
    assert ancestry(alerts) == tl.expected
    assert len(alerts) == len(tl.expected)
    blocks = count(es, target.alerts_index) - len(alerts)
    assert blocks == 2 * len(tl.expected)


def test_execution_same_window_twice_adds_nothing(
    es: Elasticsearch, namespace: str, dllhost: CompiledRule, target: Target
) -> None:
    """Running the same --at twice writes no document the second time and
    counts every alert as a duplicate."""
    tl = timeline.build(namespace)
    index_docs(es, tl.docs)
    runner = make_runner(es, target)

    first = runner.run_once(dllhost, T0 + 10 * MIN)
    before = count(es, target.alerts_index)
    second = runner.run_once(dllhost, T0 + 10 * MIN)

    assert first.alerts_created == 6  # two sequences, three documents each
    assert second.alerts_created == 0
    assert second.duplicates == first.alerts_created
    assert count(es, target.alerts_index) == before


def test_execution_backfill_matches_scheduled_runs(
    es: Elasticsearch, namespace: str, dllhost: CompiledRule, target: Target
) -> None:
    """A backfill over the timeline into a fresh alerts index yields the same
    alert set, marked manual, and is idempotent."""
    tl = timeline.build(namespace)
    index_docs(es, tl.docs)
    runner = make_runner(es, target)

    results = [r for _, _, r in runner.backfill(dllhost, T0, END)]
    again = [r for _, _, r in runner.backfill(dllhost, T0, END)]

    alerts = parent_alerts(es, target.alerts_index)
    assert ancestry(alerts) == tl.expected
    assert {a["kibana.alert.rule.execution.type"] for a in alerts} == {"manual"}
    assert sum(r.alerts_created for r in again) == 0
    assert sum(r.alerts_created for r in results) == 3 * len(tl.expected)


def test_execution_alert_fields_follow_kibana_shape(
    es: Elasticsearch, namespace: str, dllhost: CompiledRule, target: Target
) -> None:
    """A parent alert carries the rule's metadata, the shared ECS fields and
    its events as ancestors; its building blocks carry each event."""
    tl = timeline.build(namespace)
    index_docs(es, tl.docs)
    make_runner(es, target).run_once(dllhost, T0 + 5 * MIN)

    (parent,) = parent_alerts(es, target.alerts_index)
    assert parent["kibana.alert.rule.rule_id"] == "c7894234-7814-44c2-92a9-f7d851ea246a"
    assert parent["kibana.alert.rule.name"] == "Unusual Network Connection via DllHost"
    assert parent["kibana.alert.rule.risk_score"] == 47
    assert parent["kibana.alert.rule.severity"] == "medium"
    assert parent["kibana.alert.rule.version"] == "208"
    assert parent["kibana.alert.rule.execution.type"] == "scheduled"
    assert parent["event"]["kind"] == "signal"
    assert parent["host"]["id"] == "host-tp-defend"
    assert parent["process"]["entity_id"] == "ep-tp-defend"
    assert "destination" not in parent
    assert parent["kibana.alert.original_time"] == samples.iso(T0 + 1 * MIN)
    threat = parent["kibana.alert.rule.threat"][0]
    assert threat["tactic"]["id"] == "TA0005"
    assert threat["technique"][0]["id"] == "T1218"

    blocks = es.search(
        index=target.alerts_index,
        query={"term": {"kibana.alert.group.id": parent["_id"]}},
        sort=[{"kibana.alert.group.index": "asc"}],
    )["hits"]["hits"]
    sources = [hit["_source"] for hit in blocks if hit["_id"] != parent["_id"]]
    assert [b["kibana.alert.group.index"] for b in sources] == [0, 1]
    assert sources[1]["destination"]["ip"] == "8.8.8.8"
    assert all(b["kibana.alert.building_block_type"] == "default" for b in sources)


def test_execution_caps_at_max_signals_keeping_latest(
    es: Elasticsearch, namespace: str, dllhost: CompiledRule, target: Target
) -> None:
    """150 sequences in one window give 100 parent alerts, the latest ones,
    and the result says 50 were truncated."""
    index_docs(es, timeline.true_positives(namespace, "cap", 150, 2_000))

    result = make_runner(es, target).run_once(dllhost, T0 + 8 * MIN)

    assert result.sequences == 150
    assert result.truncated == 50
    alerts = parent_alerts(es, target.alerts_index)
    kept = sorted(a["host"]["id"] for a in alerts)
    assert kept == [f"host-cap-{n:04d}" for n in range(50, 150)]


def test_execution_run_once_cli_prints_one_json_line_and_refuses_bad_rule(
    es_url: str, es: Elasticsearch, namespace: str, target: Target, tmp_path: Path
) -> None:
    """runner run-once prints the JSON line of DESIGN section 5 for the good
    rule, and names the bad rule file with line and column."""
    tl = timeline.build(namespace)
    index_docs(es, tl.docs)
    text = RULE_FILE.read_text()
    for pattern in (
        '"winlogbeat-*"',
        '"logs-endpoint.events.process-*"',
        '"logs-endpoint.events.network-*"',
        '"logs-windows.sysmon_operational-*"',
    ):
        text = text.replace(pattern, pattern.replace("*", f"{namespace}*"))
    (tmp_path / "dllhost.toml").write_text(text)
    (tmp_path / "broken.toml").write_text(
        '[rule]\nrule_id = "x"\nname = "x"\ntype = "eql"\nlanguage = "eql"\n'
        'risk_score = 1\nseverity = "low"\nindex = ["a-*"]\ndescription = "d"\n'
        "query = '''\nprocess where process.name == \n'''\n"
    )
    env = {
        **os.environ,
        "ES_URL": es_url,
        "RULES_DIR": str(tmp_path),
        "ALERTS_INDEX": target.alerts_index,
        "STATE_INDEX": target.state_index,
    }

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "run-once",
            "--at",
            samples.iso(T0 + 10 * MIN),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    result = json.loads(line)
    assert set(result) >= {
        "rule_id",
        "window_start",
        "window_end",
        "events_scanned",
        "sequences",
        "alerts_created",
        "duplicates",
        "truncated",
        "duration_ms",
    }
    assert result["window_start"] == samples.iso(T0 + 1 * MIN)
    assert result["window_end"] == samples.iso(T0 + 10 * MIN)
    assert result["sequences"] == 2
    assert result["alerts_created"] == 6
    assert f"{tmp_path / 'broken.toml'}:11:30: unexpected end of query" in done.stderr
