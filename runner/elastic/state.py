"""The alerts and state indices, per-rule checkpoints and recorded gaps.

A checkpoint document per rule (``_id`` ``checkpoint:<rule_id>``) holds the
end of the last window that a scheduled execution completed, with that
execution's figures; a failed execution records its error there and leaves
the window end alone, so the next tick covers what it missed. A span that
no window will cover is recorded as a ``gap`` document.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from runner.ecs import format_timestamp as iso
from runner.elastic.client import RetryPolicy
from runner.elastic.mappings import alert_mappings, state_mappings

logger = logging.getLogger(__name__)

_SETTINGS = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}


def ensure_indices(
    es: Elasticsearch, alerts_index: str, state_index: str, retry: RetryPolicy
) -> None:
    """Install the templates of both indices, then create the indices.

    Idempotent: run before the first write of every process.
    """
    # Alerts copy their events' fields as sent: a value the source index
    # ignored as malformed (a bad IP, say) must not make the alert fail.
    alerts_settings = {**_SETTINGS, "index.mapping.ignore_malformed": True}
    for name, settings, mappings in (
        (alerts_index, alerts_settings, alert_mappings()),
        (state_index, _SETTINGS, state_mappings()),
    ):
        retry.call(
            "put index template",
            es.indices.put_index_template,
            name=f"eql-runner-{name}",
            index_patterns=[name],
            priority=500,
            template={"settings": settings, "mappings": mappings},
        )
        _create_index(es, name, retry)


def _create_index(es: Elasticsearch, name: str, retry: RetryPolicy) -> None:
    try:
        retry.call("create index", es.indices.create, index=name)
    except BadRequestError as exc:
        if exc.error != "resource_already_exists_exception":
            raise


@dataclass(frozen=True)
class Checkpoint:
    """The last completed scheduled window of a rule."""

    rule_id: str
    window_end_ms: int


def _checkpoint_id(rule_id: str) -> str:
    return f"checkpoint:{rule_id}"


def read_checkpoint(
    es: Elasticsearch, state_index: str, rule_id: str, retry: RetryPolicy
) -> Checkpoint | None:
    """Return the rule's checkpoint, or None before its first execution."""
    try:
        doc = retry.call(
            "read checkpoint", es.get, index=state_index, id=_checkpoint_id(rule_id)
        )
    except NotFoundError:
        return None
    end = doc["_source"].get("window_end_ms")
    return None if end is None else Checkpoint(rule_id, int(end))


def write_checkpoint(
    es: Elasticsearch,
    state_index: str,
    checkpoint: Checkpoint,
    stats: dict[str, Any],
    retry: RetryPolicy,
    now_ms: int,
) -> None:
    """Record a completed window; the window end never moves backwards."""
    fields = {
        "type": "checkpoint",
        "rule_id": checkpoint.rule_id,
        "window_end": iso(checkpoint.window_end_ms),
        "window_end_ms": checkpoint.window_end_ms,
        "updated_at": iso(now_ms),
        "status": "succeeded",
        "error": None,
        "stats": stats,
    }
    # The integ-test distribution has no scripting, so the "never backwards"
    # rule is a read and a compare here; a checkpoint has one writer per rule.
    current = read_checkpoint(es, state_index, checkpoint.rule_id, retry)
    if current is not None and current.window_end_ms > checkpoint.window_end_ms:
        fields["window_end"] = iso(current.window_end_ms)
        fields["window_end_ms"] = current.window_end_ms
    retry.call(
        "write checkpoint",
        es.index,
        index=state_index,
        id=_checkpoint_id(checkpoint.rule_id),
        document=fields,
        refresh=False,
    )


def record_failure(
    es: Elasticsearch,
    state_index: str,
    rule_id: str,
    error: str,
    retry: RetryPolicy,
    now_ms: int,
) -> None:
    """Record that an execution failed, leaving the checkpoint's window alone."""
    fields = {
        "type": "checkpoint",
        "rule_id": rule_id,
        "status": "failed",
        "error": error,
        "updated_at": iso(now_ms),
    }
    retry.call(
        "record failure",
        es.update,
        index=state_index,
        id=_checkpoint_id(rule_id),
        doc=fields,
        doc_as_upsert=True,
        refresh=False,
    )


def record_gap(
    es: Elasticsearch,
    state_index: str,
    rule_id: str,
    gap: tuple[int, int],
    retry: RetryPolicy,
    now_ms: int,
) -> None:
    """Record a span of time that no execution of the rule covered."""
    start, end = gap
    retry.call(
        "record gap",
        es.index,
        index=state_index,
        id=f"gap:{rule_id}:{start}",
        document={
            "type": "gap",
            "rule_id": rule_id,
            "gap_start": iso(start),
            "gap_end": iso(end),
            "updated_at": iso(now_ms),
        },
        refresh=False,
    )
