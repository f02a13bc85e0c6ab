"""Tests of durations, look-backs and CLI times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runner.rules.datemath import parse_duration, parse_lookback, parse_time

NOW = datetime(2026, 12, 1, 10, 30, 15, 250_000, tzinfo=UTC)
FIVE_MINUTES = 300_000


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        (" 60m ", 3_600_000),
    ],
)
def test_parse_duration_units(text: str, milliseconds: int) -> None:
    """Durations in ms, s, m, h and d convert to milliseconds."""
    assert parse_duration(text) == milliseconds


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "1.5m", "-5m", "5w", "5M"])
def test_parse_duration_rejects_malformed(text: str) -> None:
    """Anything but a whole number and a known unit is a ValueError."""
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_rejects_zero() -> None:
    """A zero duration is refused."""
    with pytest.raises(ValueError, match="positive"):
        parse_duration("0s")


@pytest.mark.parametrize(
    ("from_", "milliseconds"),
    [("now-9m", 540_000), ("now-1h", 3_600_000), ("now-540s", 540_000)],
)
def test_parse_lookback_reads_kibana_from(from_: str, milliseconds: int) -> None:
    """`now-<duration>` is a look-back of that duration."""
    assert parse_lookback(from_, FIVE_MINUTES) == milliseconds


def test_parse_lookback_equal_to_interval_is_accepted() -> None:
    """A look-back exactly as long as the interval leaves no gap."""
    assert parse_lookback("now-5m", FIVE_MINUTES) == FIVE_MINUTES


def test_parse_lookback_shorter_than_interval_is_refused() -> None:
    """A look-back shorter than the interval would skip events: refused."""
    with pytest.raises(ValueError, match="less than the interval"):
        parse_lookback("now-1m", FIVE_MINUTES)


@pytest.mark.parametrize("from_", ["9m", "now+9m", "now-", "now-9x", "2026-01-01"])
def test_parse_lookback_rejects_other_forms(from_: str) -> None:
    """Only `now-<duration>` is a look-back."""
    with pytest.raises(ValueError, match="invalid from"):
        parse_lookback(from_, FIVE_MINUTES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        (
            "2026-12-01T10:00:00.123Z",
            datetime(2026, 12, 1, 10, 0, 0, 123_000, tzinfo=UTC),
        ),
        ("2026-12-01T12:00:00+02:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T05:30:00-04:30", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_time_iso_8601(text: str, expected: datetime) -> None:
    """ISO 8601 with Z or an offset becomes the same instant in UTC."""
    parsed = parse_time(text, NOW)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_time_iso_without_zone_is_refused() -> None:
    """A time without Z or offset is ambiguous: refused."""
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-12-01T10:00:00", NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-2h", NOW - timedelta(hours=2)),
        ("now-90m", NOW - timedelta(minutes=90)),
        ("now+1d", NOW + timedelta(days=1)),
        ("now-30s", NOW - timedelta(seconds=30)),
        ("now-1w", NOW - timedelta(weeks=1)),
        ("now-1d/d", datetime(2026, 11, 30, tzinfo=UTC)),
        ("now/h", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("now/w", datetime(2026, 11, 30, tzinfo=UTC)),
        ("now-1M", datetime(2026, 11, 1, 10, 30, 15, 250_000, tzinfo=UTC)),
        ("now/y", datetime(2026, 1, 1, tzinfo=UTC)),
        ("now-1d/d+2h", datetime(2026, 11, 30, 2, tzinfo=UTC)),
    ],
)
def test_parse_time_date_math(text: str, expected: datetime) -> None:
    """Date math shifts and rounds relative to now, in UTC."""
    assert parse_time(text, NOW) == expected


def test_parse_time_month_shift_clamps_the_day() -> None:
    """Moving a month from the 31st lands on the month's last day."""
    now = datetime(2026, 3, 31, tzinfo=UTC)
    assert parse_time("now-1M", now) == datetime(2026, 2, 28, tzinfo=UTC)


def test_parse_time_now_in_another_zone_is_returned_in_utc() -> None:
    """The result is UTC whatever zone `now` is given in."""
    now = NOW.astimezone(timezone(timedelta(hours=5)))
    assert parse_time("now-1h", now) == NOW - timedelta(hours=1)
    assert parse_time("now-1h", now).tzinfo is UTC


@pytest.mark.parametrize("text", ["now-", "now-2", "now-2x", "now*2h", "yesterday"])
def test_parse_time_rejects_malformed(text: str) -> None:
    """Malformed date math or text is a ValueError naming it."""
    with pytest.raises(ValueError, match="invalid"):
        parse_time(text, NOW)
