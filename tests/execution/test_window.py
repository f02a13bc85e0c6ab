"""Windows of a tick, catch-up after a pause, and backfill stepping."""

from __future__ import annotations

import pytest

from runner.execution.window import (
    Window,
    backfill_windows,
    plan_windows,
    window_ending,
)

MIN = 60_000
INTERVAL = 5 * MIN
LOOKBACK = 9 * MIN
NOW = 1_000 * MIN


def test_window_ending_reaches_back_by_lookback() -> None:
    """A window ending at T covers [T - lookback, T]."""
    assert window_ending(NOW, LOOKBACK) == Window(NOW - LOOKBACK, NOW)


def test_plan_windows_first_run_is_regular_window_only() -> None:
    """Without a checkpoint, one tick runs the regular window alone."""
    plan = plan_windows(NOW, None, INTERVAL, LOOKBACK)
    assert plan.windows == (Window(NOW - LOOKBACK, NOW),)
    assert plan.gap is None


def test_plan_windows_on_schedule_needs_no_catch_up() -> None:
    """A checkpoint one interval ago lies inside the regular window."""
    plan = plan_windows(NOW, NOW - INTERVAL, INTERVAL, LOOKBACK)
    assert plan.windows == (Window(NOW - LOOKBACK, NOW),)
    assert plan.gap is None


def test_plan_windows_checkpoint_exactly_at_window_start_is_covered() -> None:
    """A checkpoint at the regular window's start leaves nothing uncovered."""
    plan = plan_windows(NOW, NOW - LOOKBACK, INTERVAL, LOOKBACK)
    assert len(plan.windows) == 1
    assert plan.gap is None


def test_plan_windows_one_ms_past_window_start_adds_one_window() -> None:
    """One millisecond uncovered before the regular window needs a catch-up."""
    plan = plan_windows(NOW, NOW - LOOKBACK - 1, INTERVAL, LOOKBACK)
    assert plan.windows == (
        window_ending(NOW - INTERVAL, LOOKBACK),
        window_ending(NOW, LOOKBACK),
    )
    assert plan.gap is None


def test_plan_windows_short_outage_is_caught_up_without_gap() -> None:
    """Twenty minutes down: extra windows reach back to the checkpoint."""
    last = NOW - 20 * MIN
    plan = plan_windows(NOW, last, INTERVAL, LOOKBACK)
    assert plan.windows[0].start_ms <= last
    assert plan.windows[-1] == window_ending(NOW, LOOKBACK)
    assert plan.gap is None
    ends = [w.end_ms for w in plan.windows]
    assert ends == sorted(ends)


def test_plan_windows_long_outage_is_capped_and_records_gap() -> None:
    """Two hours down: four catch-up windows, the rest recorded as a gap."""
    last = NOW - 120 * MIN
    plan = plan_windows(NOW, last, INTERVAL, LOOKBACK)
    assert len(plan.windows) == 5
    earliest = NOW - 4 * INTERVAL - LOOKBACK
    assert plan.windows[0] == Window(earliest, NOW - 4 * INTERVAL)
    assert plan.gap == (last, earliest)


def test_backfill_windows_step_by_interval_and_end_at_to() -> None:
    """Backfill ends fall every interval after from, the last one at to."""
    windows = backfill_windows(0, 12 * MIN, INTERVAL, LOOKBACK)
    assert [w.end_ms for w in windows] == [5 * MIN, 10 * MIN, 12 * MIN]
    assert all(w.end_ms - w.start_ms == LOOKBACK for w in windows)


def test_backfill_windows_refuse_empty_range() -> None:
    """A backfill whose end is not after its start is refused."""
    with pytest.raises(ValueError, match="after its start"):
        backfill_windows(10, 10, INTERVAL, LOOKBACK)
