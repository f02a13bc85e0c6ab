"""Faults: the node stopped mid-run and restarted, the runner killed mid-write.

The outage tests stop and restart a node, so they start one of their own on
another port (``RUNNER_FAULT_PORT``, default 9290) and never touch the
cluster the other tests use; they run where ``make test`` manages local
nodes and are skipped against an external ``ES_URL``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch, helpers

from runner import samples
from runner.elastic.client import RetryPolicy
from runner.eql.compile import compile_rule
from runner.execution.rule_runner import RuleRunner, Target
from runner.rules.loader import load_rule
from tests.integration import timeline
from tests.integration.test_execution import (
    RULE_FILE,
    ancestry,
    count,
    index_docs,
    no_sleep,
    parent_alerts,
    scoped,
)
from tests.integration.timeline import MIN, T0

pytestmark = pytest.mark.elasticsearch

ROOT = Path(__file__).resolve().parents[2]
ES_NODE = ROOT / "scripts" / "es-node"


@dataclass
class Node:
    """A node of this module's own, which its tests may stop and start."""

    url: str
    env: dict[str, str]

    def stop(self) -> None:
        subprocess.run([str(ES_NODE), "stop"], env=self.env, check=True)

    def start(self) -> None:
        subprocess.run([str(ES_NODE), "up"], env=self.env, check=True)


@pytest.fixture(scope="module")
def own_node() -> Iterator[Node]:
    """Start a dedicated node; remove it and its data afterwards."""
    if not os.environ.get("RUNNER_LOCAL_NODE"):
        pytest.skip("needs a local node it may stop: run through make test")
    port = os.environ.get("RUNNER_FAULT_PORT", "9290")
    env = {**os.environ, "ES_PORT": port}
    node = Node(f"http://127.0.0.1:{port}", env)
    node.start()
    yield node
    subprocess.run([str(ES_NODE), "down"], env=env, check=False)


def install_sources(es: Elasticsearch, namespace: str) -> None:
    for name, body in samples.source_templates(namespace).items():
        es.indices.put_index_template(name=name, **body)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds}s waiting for {what}")


def test_faults_outage_is_caught_up_after_restart(own_node: Node) -> None:
    """Ticks during an outage fail cleanly; after the restart, one tick with
    catch-up windows produces every expected alert exactly once and records
    the span beyond catch-up as a gap."""
    es = Elasticsearch(own_node.url, request_timeout=10, max_retries=0)
    namespace = "outage"
    install_sources(es, namespace)
    tl = timeline.build(namespace)
    index_docs(es, tl.docs)
    rule = scoped(compile_rule(load_rule(RULE_FILE)), namespace)
    target = Target("runner-alerts-outage", "runner-state-outage")
    now = [T0 + 5 * MIN]
    retry = RetryPolicy(attempts=2, max_delay_s=5, sleep=no_sleep)
    runner = RuleRunner(es, target, retry, clock=lambda: now[0] / 1000)

    assert len(runner.tick(rule)) == 1
    now[0] = T0 + 10 * MIN
    assert len(runner.tick(rule)) == 1

    own_node.stop()
    for minutes in (15, 20):
        now[0] = T0 + minutes * MIN
        assert runner.tick(rule) == []
    own_node.start()

    now[0] = T0 + 40 * MIN
    results = runner.tick(rule)

    assert len(results) == 5
    alerts = parent_alerts(es, target.alerts_index)
    assert ancestry(alerts) == tl.expected
    assert len(alerts) == len(tl.expected)
    gap = es.get(
        index=target.state_index, id=f"gap:{rule.rule.rule_id}:{T0 + 10 * MIN}"
    )
    assert gap["_source"]["gap_end"] == samples.iso(T0 + 11 * MIN)
    checkpoint = es.get(index=target.state_index, id=f"checkpoint:{rule.rule.rule_id}")
    assert checkpoint["_source"]["window_end_ms"] == T0 + 40 * MIN
    assert checkpoint["_source"]["status"] == "succeeded"


def _daemon_rules(folder: Path, namespace: str) -> None:
    text = RULE_FILE.read_text().replace('interval = "5m"', 'interval = "2s"')
    for family in samples.FAMILIES:
        text = text.replace(f'"{family}-*"', f'"{family}-{namespace}*"')
    (folder / "dllhost.toml").write_text(text)


def _true_positive(es: Elasticsearch, namespace: str, name: str) -> None:
    now_ms = int(time.time() * 1000)
    host, entity = f"host-{name}", f"ep-{name}"
    docs = [
        (
            samples.data_stream_name(samples.DEFEND_PROCESS, namespace),
            f"{name}-start",
            samples.defend_process_start(now_ms - 20_000, host, entity),
        ),
        (
            samples.data_stream_name(samples.DEFEND_NETWORK, namespace),
            f"{name}-net",
            samples.defend_network(now_ms - 10_000, host, entity, "8.8.8.8"),
        ),
    ]
    index_docs(es, docs)


def test_faults_daemon_survives_outage_and_stops_on_sigterm(
    own_node: Node, tmp_path: Path
) -> None:
    """The daemon keeps running while its node is down, raises alerts again
    once it is back, and exits 0 on SIGTERM."""
    es = Elasticsearch(own_node.url, request_timeout=10, max_retries=0)
    namespace = "daemon"
    install_sources(es, namespace)
    _daemon_rules(tmp_path, namespace)
    alerts_index = "runner-alerts-daemon"
    env = {
        **os.environ,
        "ES_URL": own_node.url,
        "RULES_DIR": str(tmp_path),
        "ALERTS_INDEX": alerts_index,
        "STATE_INDEX": "runner-state-daemon",
    }
    log = (tmp_path / "daemon.log").open("w+")
    _true_positive(es, namespace, "before")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "runner", "run"], env=env, stderr=log, cwd=tmp_path
    )
    try:
        wait_for(lambda: _documents(es, alerts_index) == 3, 60, "the first alert")
        own_node.stop()
        wait_for(
            lambda: "execution failed" in Path(log.name).read_text(),
            120,
            "a failed execution",
        )
        assert daemon.poll() is None
        own_node.start()
        _true_positive(es, namespace, "after")
        wait_for(lambda: _documents(es, alerts_index) == 6, 120, "the second alert")
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    assert code == 0
    assert count(es, alerts_index) == 6
    assert "daemon stopped" in Path(log.name).read_text()


def _settled_count(es: Elasticsearch, index: str) -> int:
    """Count once a bulk request the killed client left in flight has landed."""
    previous = -1
    current = count(es, index)
    while current != previous:
        time.sleep(1)
        previous, current = current, count(es, index)
    return current


def _documents(es: Elasticsearch, index: str) -> int:
    if not es.indices.exists(index=index):
        return 0
    return count(es, index)


def test_faults_kill_during_bulk_write_then_rerun_completes_without_duplicates(
    es_url: str, es: Elasticsearch, namespace: str, tmp_path: Path
) -> None:
    """A runner SIGKILLed half-way through writing its alerts, run again over
    the same window, leaves exactly the full alert set, each alert once."""
    sequences = 2_000
    docs = timeline.true_positives(namespace, "kill", sequences, 200)
    helpers.bulk(
        es,
        (
            {"_op_type": "create", "_index": i, "_id": d, "_source": s}
            for i, d, s in docs
        ),
        refresh="wait_for",
        chunk_size=2_000,
    )
    text = RULE_FILE.read_text().replace(
        "max_signals = 100", f"max_signals = {sequences}"
    )
    for family in samples.FAMILIES:
        text = text.replace(f'"{family}-*"', f'"{family}-{namespace}*"')
    rule_file = tmp_path / "dllhost.toml"
    rule_file.write_text(text)
    alerts_index = f"runner-alerts-{namespace}"
    env = {
        **os.environ,
        "ES_URL": es_url,
        "ALERTS_INDEX": alerts_index,
        "STATE_INDEX": f"runner-state-{namespace}",
    }
    command = [
        sys.executable,
        "-m",
        "runner",
        "run-once",
        "--rule",
        str(rule_file),
        "--at",
        samples.iso(T0 + 8 * MIN),
    ]

    first = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: _documents(es, alerts_index) > 0, 120, "the first bulk")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    written = _settled_count(es, alerts_index)
    assert 0 < written < 3 * sequences

    rerun = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=True
    )

    assert count(es, alerts_index) == 3 * sequences
    assert f'"duplicates": {written}' in rerun.stdout
    es.options(ignore_status=404).indices.delete(index=alerts_index)
