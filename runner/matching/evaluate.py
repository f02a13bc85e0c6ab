"""From ordered events to the capped matches: the path the daemon and
``runner test-rule`` share once the events are in hand."""

from __future__ import annotations

from collections.abc import Iterable
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
    for event in events:
        scanned += 1
        completed = feed(event)
        if completed:
            found += len(completed)
            cap.extend(completed)
    return Evaluation(cap.results(), scanned, found, cap.truncated)
