from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pusher.reading import Granularity, Window, default_windows, floor_to, windows_between

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_hourly_window_contains_moment():
    window = Window.containing(utc(2026, 11, 3, 14, 59, 59), Granularity.HOURLY)
    assert window == Window(utc(2026, 11, 3, 14), utc(2026, 11, 3, 15), Granularity.HOURLY)


def test_naive_moment_is_utc():
    window = Window.containing(datetime(2026, 11, 3, 14, 30), Granularity.HOURLY)
    assert window.start == utc(2026, 11, 3, 14)


def test_daily_window_uses_local_midnight():
    # 23:30 UTC on Nov 3 is already Nov 4 in Paris (UTC+1 in winter).
    window = Window.containing(utc(2026, 11, 3, 23, 30), Granularity.DAILY, PARIS)
    assert window.start == utc(2026, 11, 3, 23)
    assert window.end == utc(2026, 11, 4, 23)


def test_daily_window_across_dst_change_lasts_23_or_25_hours():
    spring = Window.containing(utc(2026, 3, 29, 12), Granularity.DAILY, PARIS)
    autumn = Window.containing(utc(2026, 10, 25, 12), Granularity.DAILY, PARIS)
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert autumn.start == utc(2026, 10, 24, 22)


def test_previous_and_next_are_adjacent():
    window = Window.containing(utc(2026, 3, 29, 12), Granularity.DAILY, PARIS)
    assert window.previous(PARIS).end == window.start
    assert window.next(PARIS).start == window.end


def test_windows_between_covers_range_oldest_first():
    windows = list(windows_between(utc(2026, 1, 1, 22, 30), utc(2026, 1, 2, 1), Granularity.HOURLY))
    assert [w.start.hour for w in windows] == [22, 23, 0]


def test_windows_between_empty_when_since_equals_until():
    assert list(windows_between(utc(2026, 1, 1, 5), utc(2026, 1, 1, 5), Granularity.HOURLY)) == []


def test_default_windows_are_previous_and_current():
    previous, current = default_windows(utc(2026, 5, 1, 10, 5), Granularity.HOURLY)
    assert previous.start == utc(2026, 5, 1, 9)
    assert current.start == utc(2026, 5, 1, 10)


def test_floor_to_daily_in_utc():
    assert floor_to(utc(2026, 5, 1, 10, 5), Granularity.DAILY) == utc(2026, 5, 1)


def test_unknown_granularity_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown granularity 'weekly'"):
        Granularity.parse("weekly")


def test_until_alone_starts_at_the_previous_local_day():
    from pusher.config import parse_config
    from pusher.runs.collect import windows_for

    config = parse_config({"pusher": {"timezone": "Europe/Paris"},
                           "sources": {"s": {"type": "python", "granularity": "daily"}}}, {})
    now = utc(2026, 11, 3, 12)
    [yesterday, today] = windows_for(config.sources["s"], config, now, None, now)
    assert yesterday.start == utc(2026, 11, 1, 23) and today.start == utc(2026, 11, 2, 23)
