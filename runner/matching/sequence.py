"""The streaming sequence matcher: one small state machine per join key.

Events go in one at a time, in :meth:`runner.events.Event.order_key` order
(timestamp, tiebreaker, index, id); the caller guarantees that order, the
matcher does not check it. Completed sequences come out of :meth:`feed`.

The semantics are Elasticsearch's (``SequenceMatcher`` in x-pack EQL):

* At most one sequence per join key waits at each stage. A stage-0 event
  opens one; a newer sequence reaching stage ``n`` replaces the one already
  waiting there for the same key (the most recent wins).
* An event accepted by stage ``n > 0`` takes the sequence waiting at stage
  ``n - 1`` for its key, if the event is at most ``maxspan`` after that
  sequence's first event. Stages are tried from last to first, so one event
  advances a sequence by at most one stage, yet it may at the same time
  advance another sequence and open a new one.
* An event accepted by ``until`` drops every sequence waiting for its key and
  takes no part in the stages: Elasticsearch rejects a sequence when an until
  event lies between its last event and the next one, both ends included.

Memory holds only waiting sequences. Each stage keeps them in a dict in order
of arrival at the stage (a replaced entry is deleted and inserted again). With
a maxspan, a sweep every eighth of it drops expired sequences from the front
of each dict, stopping at the first live one: amortised O(1) per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from runner.events import Event
from runner.matching.plan import (
    JoinKey,
    KeyFunction,
    MatchPlan,
    Predicate,
    StagePlan,
)

Pending: TypeAlias = tuple[Event, ...]
"""The events of a waiting sequence, first event first."""

_Waiting: TypeAlias = dict[JoinKey, Pending]
_Step: TypeAlias = tuple[_Waiting | None, Predicate, KeyFunction, _Waiting | None]

# Stands for "no maxspan" and "no sweep due": larger than any epoch-ms span,
# and an int, so the hot comparisons stay int against int.
_FOREVER = 1 << 62

# Sweeps run every maxspan / _SWEEPS_PER_SPAN of event time: an expired
# sequence outlives its maxspan by at most that much.
_SWEEPS_PER_SPAN = 8


@dataclass(frozen=True, slots=True)
class Match:
    """A completed sequence, or one event accepted by an event query.

    Attributes:
        events: The matched events, one per stage, in stage order.
        key: The join key the events share; ``()`` for an event query.
    """

    events: tuple[Event, ...]
    key: JoinKey


@dataclass(slots=True)
class MatcherStats:
    """Counters of what happened to sequences, for logs and run statistics.

    Attributes:
        completed: Sequences emitted by :meth:`SequenceMatcher.feed`.
        replaced: Waiting sequences superseded by a more recent one.
        evicted: Waiting sequences dropped because maxspan had passed, either
            by a sweep or when an event came for them too late.
        until_dropped: Waiting sequences dropped by an ``until`` event.
    """

    completed: int = 0
    replaced: int = 0
    evicted: int = 0
    until_dropped: int = 0


class SequenceMatcher:
    """Feed events in order; get back the sequences each one completes.

    Args:
        plan: The compiled query. ``runs=N`` stages are unrolled.

    Attributes:
        stats: What happened to sequences so far.
    """

    __slots__ = (
        "_maxspan",
        "_next_sweep",
        "_single",
        "_steps",
        "_sweep_every",
        "_until",
        "_waiting",
        "stats",
    )

    def __init__(self, plan: MatchPlan) -> None:
        stages = plan.expanded_stages()
        self.stats = MatcherStats()
        self._until = plan.until
        self._single: Predicate | None = (
            stages[0].predicate if plan.is_event_query else None
        )
        # waiting[n] holds the sequences that matched stages 0..n, by key; the
        # last stage needs no entry because reaching it completes a sequence.
        self._waiting: tuple[_Waiting, ...] = tuple({} for _ in stages[:-1])
        self._steps = _build_steps(stages, self._waiting)

        maxspan = plan.maxspan_ms
        self._maxspan = _FOREVER if maxspan is None else maxspan
        self._sweep_every = max(1, self._maxspan // _SWEEPS_PER_SPAN)
        self._next_sweep = _FOREVER if maxspan is None else -_FOREVER

    @property
    def pending_count(self) -> int:
        """Return how many sequences are waiting for their next stage."""
        return sum(len(waiting) for waiting in self._waiting)

    def feed(self, event: Event) -> list[Match]:
        """Advance the state machines with ``event``.

        Args:
            event: The next event; not before any event fed earlier.

        Returns:
            The sequences this event completes; more than one only when the
            event belongs to several stages of different sequences.
        """
        single = self._single
        if single is not None:
            return [Match((event,), ())] if single(event) else []

        timestamp = event.timestamp
        if timestamp >= self._next_sweep:
            self._sweep(timestamp)
        until = self._until
        if until is not None and until.predicate(event):
            until_key = until.key(event)
            if until_key is not None:
                self._drop(until_key)
                return []

        completed: list[Match] = []
        maxspan = self._maxspan
        for previous, predicate, key_of, waiting in self._steps:
            if not predicate(event):
                continue
            key = key_of(event)
            if key is None:
                continue

            if previous is None:
                sequence: Pending = (event,)
            else:
                taken = previous.pop(key, None)
                if taken is None:
                    continue
                if timestamp - taken[0].timestamp > maxspan:
                    self.stats.evicted += 1
                    continue
                sequence = (*taken, event)

            if waiting is None:
                completed.append(Match(sequence, key))
                self.stats.completed += 1
            elif waiting.pop(key, None) is None:
                waiting[key] = sequence
            else:
                # Deleted and inserted again, so the dict stays in arrival order.
                waiting[key] = sequence
                self.stats.replaced += 1
        return completed

    def _sweep(self, now: int) -> None:
        """Drop the waiting sequences whose maxspan has passed at ``now``.

        Each stage's dict is read from its front, in order of arrival at the
        stage, up to the first live sequence. At stage 0 arrival is the first
        event, so the sweep is exact; at later stages an expired sequence may
        wait behind a live one for at most one more maxspan. Taking it later
        still checks maxspan, so lateness costs memory, never a wrong match.
        """
        horizon = now - self._maxspan
        for waiting in self._waiting:
            expired = []
            for key, sequence in waiting.items():
                if sequence[0].timestamp >= horizon:
                    break
                expired.append(key)
            for key in expired:
                del waiting[key]
            self.stats.evicted += len(expired)
        self._next_sweep = now + self._sweep_every

    def _drop(self, key: JoinKey) -> None:
        """Drop every sequence waiting for ``key``, at every stage."""
        for waiting in self._waiting:
            if waiting.pop(key, None) is not None:
                self.stats.until_dropped += 1


def _build_steps(
    stages: tuple[StagePlan, ...], waiting: tuple[_Waiting, ...]
) -> tuple[_Step, ...]:
    """Return ``(previous, predicate, key, waiting)`` per stage, last stage first.

    ``previous`` is where the stage takes sequences from (None at stage 0);
    ``waiting`` is where it leaves them (None at the last stage, which
    completes them).
    """
    steps: list[_Step] = []
    last = len(stages) - 1
    for index, stage in enumerate(stages):
        previous = waiting[index - 1] if index > 0 else None
        own = waiting[index] if index < last else None
        steps.append((previous, stage.predicate, stage.key, own))
    steps.reverse()
    return tuple(steps)
