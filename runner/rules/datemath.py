"""Durations, look-backs and points in time, as rules and the CLI write them.

Three notations meet here:

* a rule's ``interval`` (``5m``) and EQL-like durations: :func:`parse_duration`;
* a rule's ``from`` (``now-9m``), Kibana's look-back: :func:`parse_lookback`;
* the CLI's TIME, ISO 8601 or Elasticsearch date math (``now-2h``,
  ``now-1d/d``): :func:`parse_time`.

Every failure is a :class:`ValueError` whose message names the text.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

__all__ = ["parse_duration", "parse_lookback", "parse_time"]

_DURATION_UNITS_MS = {
    "ms": 1,
    "s": 1_000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")

# Elasticsearch date math units: `M` is months and `m` minutes, `h` and `H`
# are both hours.
# https://www.elastic.co/guide/en/elasticsearch/reference/current/common-options.html#date-math
_FIXED_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "H": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DATE_MATH_UNITS = "yMwdhHms"
_MATH_STEP = re.compile(rf"([+-])(\d+)([{_DATE_MATH_UNITS}])|/([{_DATE_MATH_UNITS}])")


def parse_duration(text: str) -> int:
    """Return a duration such as ``5m``, ``30s``, ``500ms`` or ``1d`` in ms.

    Args:
        text: A positive whole number followed by one of ``ms s m h d``.

    Raises:
        ValueError: The text is not such a duration, or it is zero.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a whole number and a unit "
            "(ms, s, m, h, d), as in '5m'"
        )
    milliseconds = int(match.group(1)) * _DURATION_UNITS_MS[match.group(2)]
    if milliseconds == 0:
        raise ValueError(f"invalid duration {text!r}: it must be positive")
    return milliseconds


def parse_lookback(from_: str, interval_ms: int) -> int:
    """Return how far a rule's window reaches back, in ms.

    Kibana searches ``[from, now]`` on every run, ``from`` being date math
    such as ``now-9m``; a look-back longer than the interval makes runs
    overlap so that late events are not missed.

    Args:
        from_: The rule's ``from``, ``now-`` followed by a duration.
        interval_ms: The rule's interval, which the look-back must cover.

    Raises:
        ValueError: ``from_`` is not ``now-<duration>``, or it looks back
            less than the interval, which would leave events between runs
            unsearched.
    """
    text = from_.strip()
    if not text.startswith("now-"):
        raise ValueError(
            f"invalid from {from_!r}: expected 'now-' and a duration, as in 'now-9m'"
        )
    try:
        lookback_ms = parse_duration(text[len("now-") :])
    except ValueError as exc:
        raise ValueError(f"invalid from {from_!r}: {exc}") from exc
    if lookback_ms < interval_ms:
        raise ValueError(
            f"from {from_!r} looks back less than the interval "
            f"({interval_ms} ms): events between two runs would never be searched"
        )
    return lookback_ms


def parse_time(text: str, now: datetime) -> datetime:
    """Return the UTC instant an ISO 8601 timestamp or date math names.

    Args:
        text: ``2026-12-01T10:00:00Z`` (a zone, ``Z`` or an offset, is
            required), or date math relative to ``now``: ``now``,
            ``now-2h``, ``now+1d``, ``now-1d/d`` (rounded down to the day).
        now: The current time, timezone-aware.

    Raises:
        ValueError: The text is neither, or names a time without a zone.
    """
    text = text.strip()
    if text.startswith("now"):
        return _date_math(text, now.astimezone(UTC))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(
            f"invalid time {text!r}: expected ISO 8601 such as "
            "'2026-12-01T10:00:00Z' or date math such as 'now-2h'"
        ) from exc
    if moment.tzinfo is None:
        raise ValueError(
            f"invalid time {text!r}: it has no time zone; add 'Z' for UTC "
            "or an offset such as '+01:00'"
        )
    return moment.astimezone(UTC)


def _date_math(text: str, now: datetime) -> datetime:
    """Apply the ``+N<unit>``, ``-N<unit>`` and ``/<unit>`` steps after ``now``."""
    moment = now
    position = len("now")
    while position < len(text):
        step = _MATH_STEP.match(text, position)
        if step is None:
            raise ValueError(
                f"invalid date math {text!r} at {text[position:]!r}: expected "
                f"+N<unit>, -N<unit> or /<unit>, with a unit among "
                f"{', '.join(_DATE_MATH_UNITS)}"
            )
        sign, amount, unit, rounding = step.groups()
        if rounding is not None:
            moment = _round_down(moment, rounding)
        else:
            moment = _shift(moment, int(amount) * (-1 if sign == "-" else 1), unit)
        position = step.end()
    return moment


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit == "y":
        return _add_months(moment, 12 * amount)
    if unit == "M":
        return _add_months(moment, amount)
    return moment + amount * _FIXED_UNITS[unit]


def _add_months(moment: datetime, months: int) -> datetime:
    """Move by calendar months, clamping the day as Elasticsearch does."""
    year, month_index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _round_down(moment: datetime, unit: str) -> datetime:
    """Round down to the start of the unit (weeks start on Monday, in UTC)."""
    if unit == "s":
        return moment.replace(microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    if unit in "hH":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    return day.replace(month=1, day=1)
