"""Dashboard windows on a real InfluxDB 2.7: each daily value stays on its local day.

Grafana's window period grows with the time range (1 m to 1 w for the ranges a dashboard
shows). `aggregateWindow` aligns windows on UTC unless given a location: in Europe/Paris,
from 2 h windows on, each daily value (stored at local midnight) was drawn in the evening
of the day before. The queries run exactly as Grafana sends them, over a year's daily
points (both DST changes) and hourly points around both DST days.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flux_helpers import GRAFANA_PERIODS, as_grafana_sends, go_duration

from pusher.dashboards import BOARDS, Catalog

PARIS = ZoneInfo("Europe/Paris")
START, STOP = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(2026, 3, 1), date(2026, 11, 30)  # 29 March and 25 October inside
HOURS = [(datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
         (datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC))]


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)


def days() -> list[date]:
    return [FIRST_DAY + timedelta(days=n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]


def hours() -> list[datetime]:
    found = []
    for start, stop in HOURS:
        count = int((stop - start) / timedelta(hours=1))
        found += [start + timedelta(hours=n) for n in range(count)]
    return found


@pytest.fixture(scope="module")
def buckets(influxdb2):
    """An hourly and a daily bucket: a daily point per local day (value: day of year), an
    hourly point per hour around both DST days (value 1)."""
    hourly = f"days_{datetime.now(UTC):%H%M%S%f}"
    daily = hourly + "_daily"
    for name in (hourly, daily):
        influxdb2.create_bucket(name)
    influxdb2.write(daily, "\n".join(
        f"events,granularity=daily,kind=signup count={d.timetuple().tm_yday}i "
        f"{int(midnight(d).timestamp())}" for d in days()))
    influxdb2.write(hourly, "\n".join(
        f"events,granularity=hourly,kind=signup count=1i {int(h.timestamp())}" for h in hours()))
    return {"bucket": hourly, "daily_bucket": daily}


def events_query() -> str:
    board = BOARDS["quality-of-service.json"](Catalog())
    (panel,) = [p for p in board["panels"] if p["title"] == "Events"]
    return str(panel["targets"][0]["query"])


def run(influxdb2, buckets, granularity: str, period: int, query: str | None = None
        ) -> list[tuple[datetime, float]]:
    sent = as_grafana_sends(query or events_query(), {**buckets, "granularity": granularity},
                            START, STOP, period)
    rows = influxdb2.flux(sent)
    assert {r["series"] for r in rows} == {"signup"}
    return sorted((datetime.fromisoformat(r["_time"].replace("Z", "+00:00")),
                   float(r["_value"])) for r in rows)


@pytest.mark.parametrize("period", GRAFANA_PERIODS, ids=go_duration)
def test_daily_values_stay_on_their_local_day(influxdb2, buckets, period):
    got = run(influxdb2, buckets, "daily", period)
    if period < 7 * 86400:  # each daily value alone, at its own local midnight
        assert got == [(midnight(d), float(d.timetuple().tm_yday)) for d in days()]
        return
    # Weeks: each window starts at a local midnight and sums the days it holds.
    starts = [t for t, _ in got]
    assert all(t.astimezone(PARIS).time().isoformat() == "00:00:00" for t in starts)
    for (start, value), end in zip(got, [*starts[1:], midnight(LAST_DAY) + timedelta(days=1)],
                                   strict=True):
        held = [d for d in days() if start <= midnight(d) < end]
        assert value == sum(d.timetuple().tm_yday for d in held)
        assert len(held) <= 7
    assert sum(v for _, v in got) == sum(d.timetuple().tm_yday for d in days())


@pytest.mark.parametrize("period", GRAFANA_PERIODS, ids=go_duration)
def test_hourly_values_keep_their_hour_and_make_local_days(influxdb2, buckets, period):
    got = run(influxdb2, buckets, "hourly", period)
    assert sum(v for _, v in got) == len(hours())  # nothing lost, nothing counted twice
    if period <= 3600:  # each hour alone: also both hours 02:00 of 25 October
        assert got == [(h, 1.0) for h in hours()]
    elif period < 86400:  # UTC-aligned windows of whole hours
        assert all(int(t.timestamp()) % period == 0 for t, _ in got)
    elif period == 86400:  # local days of 23, 24 and 25 hours
        local = {}
        for h in hours():
            day = h.astimezone(PARIS).date()
            local[midnight(day)] = local.get(midnight(day), 0) + 1
        assert got == sorted(local.items())
        assert local[midnight(date(2026, 3, 29))] == 23
        assert local[midnight(date(2026, 10, 25))] == 25
    else:
        assert all(t.astimezone(PARIS).time().isoformat() == "00:00:00" for t, _ in got)


def test_utc_windows_would_draw_each_daily_value_on_the_day_before(influxdb2, buckets):
    # What the issue measured: the panel as it was (Grafana's period, UTC windows), at 3 h.
    before = events_query().replace("(every: every,", "(every: v.windowPeriod,").replace(
        "location: zone", "location: timezone.utc")
    got = run(influxdb2, buckets, "daily", 3 * 3600, query=before)
    drawn = [t.astimezone(PARIS) for t, _ in got]
    assert [(t.date() + timedelta(days=1), t.hour in (22, 23)) for t in drawn] == \
        [(d, True) for d in days()]


def test_every_windowed_query_aligns_its_windows_the_same_way():
    queries = [t["query"] for build in BOARDS.values() for p in build(Catalog())["panels"]
               for t in p["targets"] if "aggregateWindow" in t["query"]]
    assert len(queries) >= 15
    for query in queries:
        assert query.startswith('import "timezone"\n'), query
        assert 'timezone.location(name: "Europe/Paris")' in query
        assert query.count("aggregateWindow(every: every,") == 1
        assert "location: zone)" in query
