"""Keep the ``max_signals`` most recent sequences and count the rest.

Kibana asks Elasticsearch for a rule's sequences with ``size: max_signals``
and keeps the most recent ones (the EQL ``tail`` of the result). The runner
finds every sequence client-side, so it caps them the same way here and
reports how many it dropped.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Any, TypeAlias

from runner.matching.sequence import Match

DEFAULT_LIMIT = 100
"""Kibana's ``max_signals`` when a rule does not set one."""

_Recency: TypeAlias = tuple[tuple[Any, ...], tuple[Any, ...], int]


def recency(match: Match) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Return the sort key of ``match``: its first, then its last event's order."""
    return (match.events[0].order_key(), match.events[-1].order_key())


class TailCap:
    """A bounded heap of the most recent matches.

    Most recent means the largest order key of the sequence's first event,
    ties broken by its last event's order key, then by arrival. Each
    :meth:`add` costs O(log limit).

    Args:
        limit: How many matches to keep; at least 1.

    Attributes:
        truncated: How many matches were dropped so far.
    """

    __slots__ = ("_arrivals", "_heap", "limit", "truncated")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.truncated = 0
        # A min-heap: its root is the least recent kept match, the one a more
        # recent arrival pushes out. The arrival counter keeps ties comparable
        # without ever comparing two Match objects.
        self._heap: list[tuple[_Recency, Match]] = []
        self._arrivals = itertools.count()

    def add(self, match: Match) -> None:
        """Offer ``match``; keep it if it is among the ``limit`` most recent."""
        first, last = recency(match)
        entry = ((first, last, next(self._arrivals)), match)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
            return

        self.truncated += 1
        if entry[0] > self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)

    def extend(self, matches: Iterable[Match]) -> None:
        """Offer every match of ``matches``, as :meth:`add` does."""
        for match in matches:
            self.add(match)

    def results(self) -> list[Match]:
        """Return the kept matches, least recent first."""
        return [match for _, match in sorted(self._heap)]
