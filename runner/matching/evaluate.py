"""From ordered events to the capped matches: the path the daemon and
``runner test-rule`` share once the events are in hand."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from runner.events import Event
from runner.matching.cap import TailCap
from runner.matching.plan import MatchPlan
from runner.matching.sequence import Match, SequenceMatcher


@dataclass(frozen=True)
class Evaluation:
    """What one pass over a window's events found.

    Attributes:
        matches: The kept matches, least recent first.
        events_scanned: Events fed to the matcher.
        sequences: Matches found before the cap.
        truncated: Matches the cap dropped (the least recent ones).
    """

    matches: list[Match]
    events_scanned: int
    sequences: int
    truncated: int


def evaluate(plan: MatchPlan, events: Iterable[Event], limit: int) -> Evaluation:
    """Stream ``events`` (in order) through the matcher and cap the result."""
    matcher = SequenceMatcher(plan)
    cap = TailCap(limit)
    feed = matcher.feed
    scanned = 0
    found = 0
    with collector_paused():
        for event in events:
            scanned += 1
            completed = feed(event)
            if completed:
                found += len(completed)
                cap.extend(completed)
    return Evaluation(cap.results(), scanned, found, cap.truncated)


class _Pause:
    """How many evaluations want the cyclic garbage collector off."""

    lock = threading.Lock()
    holders = 0
    was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Switch the cyclic garbage collector off while at least one caller runs.

    Pending sequences keep hundreds of thousands of events alive, each a dict
    of lists; every full collection walks all of them again, which measured
    up to 40% of an execution over a million hits. They hold no reference
    cycles, so reference counting frees them without the collector. Counted,
    because the daemon runs several rules in threads of one process.
    """
    with _Pause.lock:
        if _Pause.holders == 0:
            _Pause.was_enabled = gc.isenabled()
            gc.disable()
        _Pause.holders += 1
    try:
        yield
    finally:
        with _Pause.lock:
            _Pause.holders -= 1
            if _Pause.holders == 0 and _Pause.was_enabled:
                gc.enable()
