"""Executions of compiled rules with their checkpoints: ticks and backfill.

A tick reads the rule's checkpoint, plans the regular window plus any
catch-up windows, runs them oldest first and moves the checkpoint after
each. A failure is logged with the rule id and recorded in the state index;
the checkpoint stays where it was, so the next tick covers the missed span.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from elasticsearch import Elasticsearch

from runner.alerts.build import ExecutionType
from runner.ecs import format_timestamp as iso
from runner.elastic import state
from runner.elastic.client import RetryPolicy
from runner.eql.compile import CompiledRule
from runner.execution.execute import ExecutionResult, execute
from runner.execution.window import (
    DEFAULT_MAX_CATCH_UP,
    Window,
    backfill_windows,
    plan_windows,
    window_ending,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where alerts and checkpoints go."""

    alerts_index: str
    state_index: str


class RuleRunner:
    """Runs compiled rules against one cluster.

    Args:
        es: The client.
        target: The alerts and state indices.
        retry: The retry policy of every call.
        clock: Seconds since the epoch; injected for tests.
        max_catch_up: Catch-up windows allowed per tick.
    """

    def __init__(
        self,
        es: Elasticsearch,
        target: Target,
        retry: RetryPolicy,
        clock: Callable[[], float] = time.time,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    ) -> None:
        self.es = es
        self.target = target
        self.retry = retry
        self.clock = clock
        self.max_catch_up = max_catch_up
        self._indices_ready = False

    def prepare(self) -> None:
        """Install the templates and indices once per process."""
        if not self._indices_ready:
            state.ensure_indices(
                self.es, self.target.alerts_index, self.target.state_index, self.retry
            )
            self._indices_ready = True

    def tick(self, compiled: CompiledRule) -> list[ExecutionResult]:
        """Run one scheduled tick of a rule, catching up since its checkpoint.

        Never raises for a failed execution: the failure is logged and
        recorded, and the results of the windows that completed are returned.
        """
        rule_id = compiled.rule.rule_id
        try:
            return list(self._tick(compiled))
        except Exception as exc:
            logger.exception("rule %s: execution failed", rule_id)
            self._record_failure(rule_id, exc)
            return []

    def _tick(self, compiled: CompiledRule) -> Iterator[ExecutionResult]:
        rule = compiled.rule
        self.prepare()
        now_ms = self._now_ms()
        checkpoint = state.read_checkpoint(
            self.es, self.target.state_index, rule.rule_id, self.retry
        )
        plan = plan_windows(
            now_ms,
            None if checkpoint is None else checkpoint.window_end_ms,
            rule.interval_ms,
            rule.lookback_ms,
            self.max_catch_up,
        )
        if plan.gap is not None:
            self._record_gap(rule.rule_id, plan.gap, now_ms)
        for window in plan.windows:
            result = self.run_window(compiled, window, "scheduled")
            self._checkpoint(rule.rule_id, window, result)
            yield result

    def run_window(
        self, compiled: CompiledRule, window: Window, kind: ExecutionType = "scheduled"
    ) -> ExecutionResult:
        """Run one execution over ``window`` and log its one INFO line."""
        self.prepare()
        result = execute(
            self.es,
            compiled,
            window,
            alerts_index=self.target.alerts_index,
            execution_type=kind,
            retry=self.retry,
            clock=self.clock,
        )
        logger.info(
            "rule %s: %s window %s..%s scanned=%d sequences=%d created=%d "
            "duplicates=%d truncated=%d skipped=%d in %d ms",
            result.rule_id,
            kind,
            result.window_start,
            result.window_end,
            result.events_scanned,
            result.sequences,
            result.alerts_created,
            result.duplicates,
            result.truncated,
            result.skipped_documents,
            result.duration_ms,
        )
        return result

    def run_once(
        self, compiled: CompiledRule, end_ms: int | None = None
    ) -> ExecutionResult:
        """Run the rule's window ending at ``end_ms`` (default now).

        Only a run ending now moves the checkpoint: a window in the past says
        nothing about what the schedule has covered.
        """
        rule = compiled.rule
        end = self._now_ms() if end_ms is None else end_ms
        window = window_ending(end, rule.lookback_ms)
        result = self.run_window(compiled, window)
        if end_ms is None:
            self._checkpoint(rule.rule_id, window, result)
        return result

    def backfill(
        self, compiled: CompiledRule, from_ms: int, to_ms: int
    ) -> Iterator[tuple[int, int, ExecutionResult]]:
        """Run manual executions covering ``[from_ms, to_ms]``.

        Yields ``(done, total, result)`` after each window, for progress.
        """
        rule = compiled.rule
        windows = backfill_windows(from_ms, to_ms, rule.interval_ms, rule.lookback_ms)
        for done, window in enumerate(windows, start=1):
            yield done, len(windows), self.run_window(compiled, window, "manual")

    def _checkpoint(
        self, rule_id: str, window: Window, result: ExecutionResult
    ) -> None:
        state.write_checkpoint(
            self.es,
            self.target.state_index,
            state.Checkpoint(rule_id, window.end_ms),
            result.as_dict(),
            self.retry,
            self._now_ms(),
        )

    def _record_gap(self, rule_id: str, gap: tuple[int, int], now_ms: int) -> None:
        logger.warning(
            "rule %s: gap %s..%s is beyond catch-up and will not be covered",
            rule_id,
            iso(gap[0]),
            iso(gap[1]),
        )
        state.record_gap(
            self.es, self.target.state_index, rule_id, gap, self.retry, now_ms
        )

    def _record_failure(self, rule_id: str, exc: Exception) -> None:
        try:
            state.record_failure(
                self.es,
                self.target.state_index,
                rule_id,
                f"{type(exc).__name__}: {exc}",
                self.retry,
                self._now_ms(),
            )
        except Exception as record_exc:  # noqa: BLE001 - the cluster may be the cause
            logger.warning(
                "rule %s: could not record the failure: %s", rule_id, record_exc
            )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)
