"""One execution of one rule over one window.

fetch → match → cap → fetch the matched events' sources → build alerts →
write. The checkpoint is the caller's business (:mod:`runner.execution.rule_runner`),
since scheduled, catch-up and manual executions treat it differently.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from elasticsearch import Elasticsearch

from runner.alerts.build import AlertContext, AlertDoc, ExecutionType, build_alerts
from runner.ecs import format_timestamp as iso
from runner.elastic.client import RetryPolicy
from runner.elastic.fetch import FetchRequest, FetchStats, stream_events
from runner.elastic.write import create_all
from runner.eql.compile import CompiledRule
from runner.events import Event
from runner.execution.window import Window
from runner.matching.evaluate import Evaluation, evaluate

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class ExecutionResult:
    """The figures of one execution, as ``runner run-once`` prints them."""

    rule_id: str
    window_start: str
    window_end: str
    events_scanned: int
    sequences: int
    alerts_created: int
    duplicates: int
    truncated: int
    skipped_documents: int
    duration_ms: int

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as a JSON-ready dict."""
        return asdict(self)


def alerts_for(
    compiled: CompiledRule,
    evaluation: Evaluation,
    sources: Mapping[tuple[str, str], Mapping[str, Any]],
    context: AlertContext,
) -> list[AlertDoc]:
    """Return every alert document of an evaluation, match by match."""
    docs: list[AlertDoc] = []
    for match in evaluation.matches:
        docs.extend(build_alerts(compiled.rule, match.events, sources, context))
    return docs


def execute(
    es: Elasticsearch,
    compiled: CompiledRule,
    window: Window,
    *,
    alerts_index: str,
    execution_type: ExecutionType,
    retry: RetryPolicy,
    clock: Clock = time.time,
) -> ExecutionResult:
    """Run ``compiled`` over ``window`` and write its alerts.

    Raises:
        elasticsearch.ApiError, elasticsearch.TransportError: when the
            cluster fails beyond the retry policy.
        ExecutionError: when alerts are refused for good.
    """
    started = clock()
    rule = compiled.rule
    stats = FetchStats()
    events = stream_events(es, fetch_request(compiled, window), retry, stats)
    evaluation = evaluate(compiled.plan, events, rule.max_signals)

    sources = fetch_sources(es, _matched_events(evaluation), retry)
    context = AlertContext(
        execution_ms=int(started * 1000),
        execution_type=execution_type,
        execution_uuid=str(uuid.uuid4()),
    )
    written = create_all(
        es, alerts_index, alerts_for(compiled, evaluation, sources, context), retry
    )

    return ExecutionResult(
        rule_id=rule.rule_id,
        window_start=iso(window.start_ms),
        window_end=iso(window.end_ms),
        events_scanned=evaluation.events_scanned,
        sequences=evaluation.sequences,
        alerts_created=written.created,
        duplicates=written.duplicates,
        truncated=evaluation.truncated,
        skipped_documents=stats.skipped,
        duration_ms=int((clock() - started) * 1000),
    )


def fetch_request(compiled: CompiledRule, window: Window) -> FetchRequest:
    """Return the fetch of ``compiled``'s prefiltered events in ``window``."""
    rule = compiled.rule
    return FetchRequest(
        indices=rule.index,
        query=compiled.prefilter,
        fields=compiled.fields,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        timestamp_field=rule.timestamp_override or "@timestamp",
        tiebreaker_field=rule.tiebreaker_field or "event.sequence",
    )


def _matched_events(evaluation: Evaluation) -> list[Event]:
    return [event for match in evaluation.matches for event in match.events]


def fetch_sources(
    es: Elasticsearch, events: Iterable[Event], retry: RetryPolicy
) -> dict[tuple[str, str], dict[str, Any]]:
    """Return the full ``_source`` of each event, by ``(_index, _id)``."""
    wanted = sorted({(event.index, event.id) for event in events})
    if not wanted:
        return {}
    response = retry.call(
        "mget sources",
        es.mget,
        docs=[{"_index": index, "_id": doc_id} for index, doc_id in wanted],
    )
    return {
        (doc["_index"], doc["_id"]): doc["_source"]
        for doc in response["docs"]
        if doc.get("found")
    }
