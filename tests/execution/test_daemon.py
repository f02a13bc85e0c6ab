"""The daemon's schedule: one job per rule with the options that keep it sane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from elasticsearch import Elasticsearch

from runner.elastic.client import RetryPolicy
from runner.eql.compile import compile_rule
from runner.execution.daemon import build_scheduler
from runner.execution.rule_runner import RuleRunner, Target
from runner.rules.loader import load_rule

RULE = (
    Path(__file__).resolve().parents[2]
    / "rules"
    / "defense_evasion_unusual_network_connection_via_dllhost.toml"
)


def test_build_scheduler_one_interval_job_per_rule_due_now() -> None:
    """Each rule gets an interval job of its interval, first due at start,
    coalescing missed runs, one instance at a time, with a misfire grace."""
    compiled = compile_rule(load_rule(RULE))
    # The client is never contacted: the scheduler is built, not started.
    runner = RuleRunner(
        Elasticsearch("http://127.0.0.1:1"), Target("a", "s"), RetryPolicy()
    )
    before = datetime.now(tz=UTC)

    scheduler = build_scheduler(runner, [compiled])

    (job,) = scheduler.get_jobs()
    assert job.id == compiled.rule.rule_id
    assert job.trigger.interval == timedelta(minutes=5)
    assert job.coalesce is True
    assert job.max_instances == 1
    assert job.misfire_grace_time == 300
    assert before - timedelta(seconds=1) <= job.next_run_time <= datetime.now(tz=UTC)
    assert job.args == (compiled,)
