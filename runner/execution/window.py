"""Which windows an execution covers: the regular one, catch-up and backfill.

A window is ``[end - lookback, end]``, both ends inclusive, with the rule's
lookback (``from = now-9m``: 9 minutes). Runs 5 minutes apart over 9-minute
windows overlap by 4 minutes on purpose, for late events; deterministic alert
ids make the overlap harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_CATCH_UP = 4


@dataclass(frozen=True, order=True)
class Window:
    """A span of event time, epoch milliseconds, both ends inclusive."""

    start_ms: int
    end_ms: int


def window_ending(end_ms: int, lookback_ms: int) -> Window:
    """Return the window of the given lookback that ends at ``end_ms``."""
    return Window(end_ms - lookback_ms, end_ms)


@dataclass(frozen=True)
class Plan:
    """The windows to run, oldest first, and what none of them covers.

    Attributes:
        windows: Catch-up windows, then the regular one.
        gap: ``(start, end)`` of the span left uncovered, or None.
    """

    windows: tuple[Window, ...]
    gap: tuple[int, int] | None


def plan_windows(
    now_ms: int,
    last_end_ms: int | None,
    interval_ms: int,
    lookback_ms: int,
    max_catch_up: int = DEFAULT_MAX_CATCH_UP,
) -> Plan:
    """Return the windows of one tick, catching up since the last checkpoint.

    The regular window ends now. When the last completed window ended before
    the regular window's start, extra windows ending ``interval`` apart before
    now cover the span back to it, at most ``max_catch_up`` of them (Kibana
    allows four intervals); what they still leave uncovered is the gap.
    """
    regular = window_ending(now_ms, lookback_ms)
    if last_end_ms is None or last_end_ms >= regular.start_ms:
        return Plan((regular,), None)
    uncovered = regular.start_ms - last_end_ms
    needed = -(-uncovered // interval_ms)
    extra = min(needed, max_catch_up)
    windows = [
        window_ending(now_ms - k * interval_ms, lookback_ms)
        for k in range(extra, 0, -1)
    ]
    earliest = windows[0].start_ms
    gap = (last_end_ms, earliest) if earliest > last_end_ms else None
    return Plan((*windows, regular), gap)


def backfill_windows(
    from_ms: int, to_ms: int, interval_ms: int, lookback_ms: int
) -> list[Window]:
    """Return the windows that cover ``[from_ms, to_ms]``, stepped by interval.

    Window ends fall at ``from + interval``, ``from + 2 interval`` … and the
    last one at ``to``; each reaches back by the rule's lookback, as a
    scheduled run ending there would.
    """
    if to_ms <= from_ms:
        raise ValueError("the backfill's end must come after its start")
    ends = list(range(from_ms + interval_ms, to_ms, interval_ms))
    ends.append(to_ms)
    return [window_ending(end, lookback_ms) for end in ends]
