"""The shared path from ordered events to capped matches."""

from __future__ import annotations

import gc
import threading

from runner.events import Event
from runner.matching.evaluate import collector_paused, evaluate
from runner.matching.plan import MatchPlan, StagePlan


def _event(ms: int, kind: str) -> Event:
    return Event("i", f"{kind}-{ms}", ms, None, {"kind": [kind], "key": ["k"]})


def _stage(kind: str) -> StagePlan:
    return StagePlan(
        predicate=lambda e: e.values("kind") == [kind],
        key=lambda e: tuple(e.values("key")),
    )


def test_evaluate_counts_scanned_found_and_truncated() -> None:
    """evaluate() reports every event scanned, every sequence found before the
    cap, and how many the cap dropped, keeping the latest."""
    plan = MatchPlan((_stage("a"), _stage("b")), maxspan_ms=10)
    events = []
    for n in range(5):
        events += [_event(n * 100, "a"), _event(n * 100 + 1, "b")]

    result = evaluate(plan, events, limit=2)

    assert result.events_scanned == 10
    assert result.sequences == 5
    assert result.truncated == 3
    assert [m.events[0].timestamp for m in result.matches] == [300, 400]


def test_collector_paused_restores_collector_after_last_holder() -> None:
    """The collector stays off while any holder runs and comes back after the
    last one, also when holders overlap in threads."""
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    other = threading.Thread(target=hold)
    other.start()
    inside.wait(5)
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    release.set()
    other.join(5)
    assert gc.isenabled()


def test_collector_paused_keeps_a_disabled_collector_disabled() -> None:
    """A collector that was already off stays off afterwards."""
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
