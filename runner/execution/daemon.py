"""The daemon: one interval job per rule on an APScheduler 3 scheduler.

Each job runs at start, then every rule interval. ``coalesce`` folds runs
missed while the process was busy or asleep into one, ``max_instances=1``
keeps one execution of a rule at a time, and the catch-up of
:meth:`RuleRunner.tick` covers whatever span a late run leaves behind.
SIGTERM and SIGINT stop the scheduler after the running executions finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from runner.eql.compile import CompiledRule
from runner.execution.rule_runner import RuleRunner

logger = logging.getLogger(__name__)

MAX_WORKERS = 4


def build_scheduler(
    runner: RuleRunner, rules: Sequence[CompiledRule]
) -> BackgroundScheduler:
    """Return a scheduler with one job per rule, each first due now."""
    workers = max(1, min(MAX_WORKERS, len(rules)))
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(workers)}, timezone=UTC
    )
    now = datetime.now(tz=UTC)
    for compiled in rules:
        interval_s = compiled.rule.interval_ms / 1000
        scheduler.add_job(
            runner.tick,
            trigger="interval",
            seconds=interval_s,
            args=[compiled],
            id=compiled.rule.rule_id,
            name=compiled.rule.name,
            next_run_time=now,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(interval_s)),
        )
    return scheduler


def run_daemon(runner: RuleRunner, rules: Sequence[CompiledRule]) -> int:
    """Run until SIGTERM or SIGINT; return the exit code (0 on a clean stop)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info(
            "received %s, stopping after running executions",
            signal.Signals(signum).name,
        )
        stop.set()

    previous = {
        sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    scheduler = build_scheduler(runner, rules)
    logger.info("daemon started with %d rule(s)", len(rules))
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("daemon stopped")
    return 0
