"""Stream a window's events out of Elasticsearch in matching order.

One point-in-time over every index pattern of the rule, paged with
``search_after``: memory holds one page at a time, whatever the number of
hits. Values are read through the ``fields`` option, so they arrive typed by
the mapping (an ``ip`` normalised, a ``long`` as a number) rather than as sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from runner.ecs import event_from_hit
from runner.elastic.client import RetryPolicy
from runner.events import Event

logger = logging.getLogger(__name__)

PIT_KEEP_ALIVE = "2m"
DEFAULT_PAGE_SIZE = 5000


@dataclass
class FetchStats:
    """What one fetch saw: pages, hits, and documents it had to skip."""

    pages: int = 0
    hits: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class FetchRequest:
    """Everything that defines one window's fetch.

    Attributes:
        indices: The rule's index patterns.
        query: The prefilter; the window's range is added to it.
        fields: The field names the rule reads.
        start_ms: Window start, inclusive, epoch milliseconds.
        end_ms: Window end, inclusive, epoch milliseconds.
        timestamp_field: The field that orders events and bounds the window.
        tiebreaker_field: Orders events of the same millisecond.
        page_size: Hits per page.
    """

    indices: Sequence[str]
    query: Mapping[str, Any]
    fields: Sequence[str]
    start_ms: int
    end_ms: int
    timestamp_field: str = "@timestamp"
    tiebreaker_field: str = "event.sequence"
    page_size: int = DEFAULT_PAGE_SIZE

    def search_body(self) -> dict[str, Any]:
        """Return the search body of every page, ``search_after`` aside."""
        window = {
            "range": {
                self.timestamp_field: {
                    "gte": self.start_ms,
                    "lte": self.end_ms,
                    "format": "epoch_millis",
                }
            }
        }
        wanted = sorted({*self.fields, self.timestamp_field, self.tiebreaker_field})
        return {
            "query": {"bool": {"filter": [window, self.query]}},
            "sort": [
                {self.timestamp_field: {"order": "asc", "numeric_type": "date"}},
                {
                    self.tiebreaker_field: {
                        "order": "asc",
                        "missing": "_last",
                        "unmapped_type": "long",
                    }
                },
            ],
            "fields": wanted,
            "_source": False,
            "size": self.page_size,
            "track_total_hits": False,
        }


def stream_events(
    es: Elasticsearch,
    request: FetchRequest,
    retry: RetryPolicy,
    stats: FetchStats,
) -> Iterator[Event]:
    """Yield the window's events in :meth:`Event.order_key` order.

    The point-in-time is closed on every path, including a consumer that
    stops early and an error half-way.
    """
    opened = retry.call(
        "open point-in-time",
        es.open_point_in_time,
        index=",".join(request.indices),
        keep_alive=PIT_KEEP_ALIVE,
        ignore_unavailable=True,
    )
    pit_id: str = opened["id"]
    try:
        carry: list[Event] = []
        for hits in _pages(es, request, retry, pit_id, stats):
            ready, carry = _split_last_run(
                carry + _events(hits, request.tiebreaker_field, stats)
            )
            yield from ready
        carry.sort(key=Event.order_key)
        yield from carry
    finally:
        _close(es, pit_id)


def _pages(
    es: Elasticsearch,
    request: FetchRequest,
    retry: RetryPolicy,
    pit_id: str,
    stats: FetchStats,
) -> Iterator[list[dict[str, Any]]]:
    body = request.search_body()
    search_after: list[Any] | None = None
    while True:
        page_body = {**body, "pit": {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE}}
        if search_after is not None:
            page_body["search_after"] = search_after
        # A shard that fails must fail the execution, not drop its events:
        # the window is then retried whole on the next tick.
        page = retry.call(
            "search page",
            es.search,
            body=page_body,
            allow_partial_search_results=False,
        )
        pit_id = page.get("pit_id", pit_id)
        hits: list[dict[str, Any]] = page["hits"]["hits"]
        if not hits:
            return
        stats.pages += 1
        stats.hits += len(hits)
        yield hits
        if len(hits) < request.page_size:
            return
        search_after = hits[-1]["sort"]


def _events(
    hits: list[dict[str, Any]], tiebreaker_field: str, stats: FetchStats
) -> list[Event]:
    events = (_event(hit, tiebreaker_field, stats) for hit in hits)
    return [event for event in events if event]


def _split_last_run(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """Order a page, holding back its last run of equal sort values.

    Elasticsearch breaks ties between equal timestamp and tiebreaker by shard
    order; the matcher wants ``(_index, _id)``. Hits arrive sorted by the
    first two, so sorting by the full key only reorders within equal runs;
    the last run may continue on the next page, so it waits for it.
    """
    if not events:
        return [], []
    last = events[-1]
    split = len(events) - 1
    while split > 0 and _same_slot(events[split - 1], last):
        split -= 1
    ready = events[:split]
    ready.sort(key=Event.order_key)
    return ready, events[split:]


def _same_slot(a: Event, b: Event) -> bool:
    return a.timestamp == b.timestamp and a.tiebreaker == b.tiebreaker


def _event(
    hit: Mapping[str, Any], tiebreaker_field: str, stats: FetchStats
) -> Event | None:
    """Return the hit as an event, or count and skip a hit that has none."""
    try:
        return event_from_hit(hit, tiebreaker_field)
    except ValueError as exc:
        stats.skipped += 1
        logger.debug("skipped hit: %s", exc)
        return None


def _close(es: Elasticsearch, pit_id: str) -> None:
    try:
        es.close_point_in_time(id=pit_id)
    except Exception as exc:  # noqa: BLE001 - closing must not mask the outcome
        # The point-in-time expires by itself after its keep-alive.
        logger.warning("could not close point-in-time: %s", exc)
