"""The max_signals cap: keep the most recent sequences, count the rest."""

from __future__ import annotations

import random

import pytest

from runner.events import Event
from runner.matching.cap import TailCap
from runner.matching.sequence import Match


def match(start_ms: int, end_ms: int | None = None, *, name: str = "") -> Match:
    """Build a two-event match starting at ``start_ms``."""
    end = start_ms + 10 if end_ms is None else end_ms
    first = Event("logs", f"s{start_ms}{name}", start_ms, None, {})
    last = Event("logs", f"n{end}{name}", end, None, {})
    return Match((first, last), ("k",))


def starts(matches: list[Match]) -> list[int]:
    """Return the first-event timestamp of each match."""
    return [m.events[0].timestamp for m in matches]


def test_cap_keeps_latest_hundred_of_hundred_fifty() -> None:
    """Of 150 matches fed in random order, the 100 latest are kept, ascending."""
    offered = [match(n * 1000) for n in range(150)]
    random.Random(7).shuffle(offered)
    cap = TailCap(100)
    cap.extend(offered)
    assert starts(cap.results()) == [n * 1000 for n in range(50, 150)]
    assert cap.truncated == 50


def test_cap_fewer_than_limit_keeps_all() -> None:
    """Below the limit every match is kept, ascending, and nothing truncated."""
    cap = TailCap()
    for start in (30, 10, 20):
        cap.add(match(start))
    assert starts(cap.results()) == [10, 20, 30]
    assert cap.truncated == 0


def test_cap_default_limit_is_hundred() -> None:
    """The default limit is Kibana's max_signals default, 100."""
    assert TailCap().limit == 100


def test_cap_ties_on_first_event_broken_by_last_event() -> None:
    """Matches sharing a first-event time rank by their last event."""
    cap = TailCap(1)
    cap.add(match(0, 50, name="late"))
    cap.add(match(0, 20, name="early"))
    assert [m.events[-1].timestamp for m in cap.results()] == [50]
    assert cap.truncated == 1


def test_cap_first_event_outranks_last_event() -> None:
    """A later first event wins even when its last event is earlier."""
    cap = TailCap(1)
    cap.add(match(0, 90))
    cap.add(match(5, 6))
    assert starts(cap.results()) == [5]


def test_cap_identical_recency_keeps_later_arrival() -> None:
    """Two matches of equal recency never compare Match objects."""
    cap = TailCap(1)
    cap.add(match(0))
    cap.add(match(0))
    assert len(cap.results()) == 1
    assert cap.truncated == 1


def test_cap_rejects_limit_below_one() -> None:
    """A limit of 0 is refused."""
    with pytest.raises(ValueError, match="limit"):
        TailCap(0)
