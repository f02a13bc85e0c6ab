"""Write alerts with bulk ``create`` and deterministic ids.

A ``create`` of an id that exists answers 409: the alert was written by an
earlier, overlapping execution. That is counted as a duplicate, never as an
error, and is what makes re-running a window harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from runner.elastic.client import TRANSIENT_STATUSES, RetryPolicy
from runner.errors import ExecutionError

logger = logging.getLogger(__name__)

CHUNK = 500

AlertDoc = tuple[str, dict[str, Any]]


@dataclass
class WriteResult:
    """How a batch of alerts fared."""

    created: int = 0
    duplicates: int = 0

    def add(self, other: WriteResult) -> None:
        """Add another batch's counts to these."""
        self.created += other.created
        self.duplicates += other.duplicates


def create_all(
    es: Elasticsearch,
    index: str,
    docs: Sequence[AlertDoc],
    retry: RetryPolicy,
) -> WriteResult:
    """Create every document, retrying the items refused for transient reasons.

    Raises:
        ExecutionError: when an item is refused for good (a mapping conflict,
            say) or still refused after the policy's attempts. Items created
            before that stay created; the next execution creates the rest and
            counts the others as duplicates.
    """
    result = WriteResult()
    for start in range(0, len(docs), CHUNK):
        result.add(_create_chunk(es, index, docs[start : start + CHUNK], retry))
    return result


def _create_chunk(
    es: Elasticsearch, index: str, docs: Sequence[AlertDoc], retry: RetryPolicy
) -> WriteResult:
    result = WriteResult()
    pending = list(docs)
    for attempt in range(1, retry.attempts + 1):
        response = retry.call(
            "bulk create",
            es.bulk,
            operations=_operations(index, pending),
            refresh=False,
            # Only what _tally reads: the item list stays in request order.
            filter_path="items.*.status,items.*.error",
        )
        again, refused = _tally(pending, response["items"], result)
        if refused:
            raise ExecutionError(
                f"{len(refused)} alert(s) refused by {index}: " + "; ".join(refused[:3])
            )
        if not again:
            return result
        logger.warning(
            "bulk create: %d alert(s) refused for now, attempt %d", len(again), attempt
        )
        retry.sleep(min(retry.max_wait_s, 0.5 * 2**attempt))
        pending = again
    raise ExecutionError(
        f"{len(pending)} alert(s) still refused by {index} "
        f"after {retry.attempts} attempts"
    )


def _operations(index: str, docs: Sequence[AlertDoc]) -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = []
    for doc_id, source in docs:
        operations.append({"create": {"_index": index, "_id": doc_id}})
        operations.append(source)
    return operations


def _tally(
    docs: Sequence[AlertDoc], items: Sequence[dict[str, Any]], result: WriteResult
) -> tuple[list[AlertDoc], list[str]]:
    """Count created and duplicate items; return those to retry and refusals."""
    again: list[AlertDoc] = []
    refused: list[str] = []
    for doc, item in zip(docs, items, strict=True):
        outcome = item["create"]
        status = outcome["status"]
        if status in (200, 201):
            result.created += 1
        elif status == 409:
            result.duplicates += 1
        elif status in TRANSIENT_STATUSES:
            again.append(doc)
        else:
            refused.append(f"{doc[0]}: {outcome.get('error')}")
    return again, refused
