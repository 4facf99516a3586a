"""Schedules: aliases, periods, cron expressions in the config timezone, jitter."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pusher.reading import Granularity
from pusher.schedules import jittered, parse_schedule

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 3, 28, 22, 7, 30, tzinfo=UTC)  # the night before Paris goes to summer time


@pytest.mark.parametrize(("text", "expected"), [
    ("@hourly", datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
    ("@daily", datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # midnight in Paris (UTC+1)
    ("every 15m", datetime(2026, 3, 28, 22, 15, tzinfo=UTC)),
    ("every 2h", datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
    ("every 30s", datetime(2026, 3, 28, 22, 8, tzinfo=UTC)),
    # Cron fields are Paris wall-clock time: 00:05 Paris is 23:05 UTC (still winter time).
    ("5 */6 * * *", datetime(2026, 3, 28, 23, 5, tzinfo=UTC)),
])
def test_next_due_time(text, expected):
    assert parse_schedule(text).next_after(T0, PARIS) == expected


def test_daily_fires_at_local_midnight_across_the_dst_change():
    schedule = parse_schedule("@daily")
    first = schedule.next_after(T0, PARIS)
    second = schedule.next_after(first, PARIS)
    assert (first, second) == (datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
                               datetime(2026, 3, 29, 22, 0, tzinfo=UTC))  # a 23-hour day


def test_default_schedule_follows_the_granularity():
    assert parse_schedule(None, Granularity.HOURLY).text == "@hourly"
    assert parse_schedule(None, Granularity.DAILY).text == "@daily"


@pytest.mark.parametrize(("text", "seconds"), [
    ("@hourly", 3600), ("every 15m", 900), ("*/10 * * * *", 600), ("@daily", 86400)])
def test_interval(text, seconds):
    assert parse_schedule(text).interval(UTC, T0) == seconds


@pytest.mark.parametrize("text", ["hourly", "@yearly-ish", "every m", "61 * * * *", "* * *"])
def test_bad_schedules_say_what_is_accepted(text):
    with pytest.raises(ValueError, match=r"schedule|alias|every"):
        parse_schedule(text)


def test_jitter_delays_within_bounds():
    due = datetime(2026, 1, 1, tzinfo=UTC)
    assert jittered(due, 60, 0.0) == due
    assert (jittered(due, 60, 0.999) - due).total_seconds() == pytest.approx(59.94)
