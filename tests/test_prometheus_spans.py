"""Which windows share one Prometheus range query (pure planning, exact values)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pusher.reading import Granularity, Window, windows_between
from pusher.sources.prometheus_spans import MAX_STEPS, plan_spans

BERLIN = ZoneInfo("Europe/Berlin")
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def shape(spans):
    return [(len(s.windows), s.seconds) for s in spans]


def test_hours_are_one_span_with_the_hour_as_step_and_range():
    windows = list(windows_between(datetime(2024, 3, 25, tzinfo=UTC),
                                   datetime(2024, 3, 26, tzinfo=UTC), Granularity.HOURLY))
    [span] = plan_spans(windows, LATER)
    assert shape([span]) == [(24, 3600)]
    assert span.first_end == datetime(2024, 3, 25, 1, tzinfo=UTC).timestamp()
    assert span.last_end == datetime(2024, 3, 26, tzinfo=UTC).timestamp()


def test_a_dst_day_is_a_span_of_its_own():
    # Berlin's 2024-03-31 lasts 23 hours and 2024-10-27 25 hours.
    spring = list(windows_between(datetime(2024, 3, 28, tzinfo=BERLIN),
                                  datetime(2024, 4, 3, tzinfo=BERLIN), Granularity.DAILY,
                                  BERLIN))
    assert shape(plan_spans(spring, LATER)) == [(3, 86_400), (1, 82_800), (2, 86_400)]
    autumn = list(windows_between(datetime(2024, 10, 26, tzinfo=BERLIN),
                                  datetime(2024, 10, 29, tzinfo=BERLIN), Granularity.DAILY,
                                  BERLIN))
    assert shape(plan_spans(autumn, LATER)) == [(1, 86_400), (1, 90_000), (1, 86_400)]


def test_spans_hold_at_most_11000_windows():
    start = datetime(2020, 1, 1, tzinfo=UTC)
    windows = list(windows_between(start, start + timedelta(hours=25_000), Granularity.HOURLY))
    assert MAX_STEPS == 11_000
    assert shape(plan_spans(windows, LATER)) == [(11_000, 3600), (11_000, 3600), (3_000, 3600)]
    assert shape(plan_spans(windows, LATER, max_steps=10_000)) == [
        (10_000, 3600), (10_000, 3600), (5_000, 3600)]


def test_the_current_window_is_read_up_to_now_alone():
    now = datetime(2024, 3, 25, 5, 20, 30, tzinfo=UTC)
    windows = list(windows_between(now - timedelta(hours=3), now, Granularity.HOURLY))
    *complete, current = plan_spans(windows, now)
    assert shape(complete) == [(3, 3600)]
    assert shape([current]) == [(1, 1230)] and current.first_end == now.timestamp()


def test_a_gap_between_windows_starts_a_new_span():
    hours = list(windows_between(datetime(2024, 1, 1, tzinfo=UTC),
                                 datetime(2024, 1, 1, 6, tzinfo=UTC), Granularity.HOURLY))
    assert shape(plan_spans(hours[:2] + hours[3:], LATER)) == [(2, 3600), (3, 3600)]


def test_halves_and_alone_keep_each_window_at_its_end():
    windows = list(windows_between(datetime(2024, 1, 1, tzinfo=UTC),
                                   datetime(2024, 1, 1, 5, tzinfo=UTC), Granularity.HOURLY))
    [span] = plan_spans(windows, LATER)
    first, second = span.halves()
    alone = span.alone()
    ends = [w.end.timestamp() for w in windows]
    assert [first.first_end, second.first_end] == [ends[0], ends[2]]
    assert (len(first.windows), len(second.windows)) == (2, 3)
    assert [s.first_end for s in alone] == ends and all(len(s.windows) == 1 for s in alone)
    assert [span.step_of(end) for end in ends] == [0, 1, 2, 3, 4]


def test_a_lone_window_is_asked_as_today():
    window = Window.containing(datetime(2024, 1, 1, 7, tzinfo=UTC), Granularity.HOURLY)
    [span] = plan_spans([window], LATER)
    assert (span.first_end, span.last_end, span.seconds) == (
        window.end.timestamp(), window.end.timestamp(), 3600)


def test_samples_are_placed_at_their_windows_or_the_answer_is_refused_whole():
    from pusher.errors import SourceError
    from pusher.sources.prometheus import Query, QueryAnswer

    windows = list(windows_between(datetime(2024, 1, 1, tzinfo=UTC),
                                   datetime(2024, 1, 1, 3, tzinfo=UTC), Granularity.HOURLY))
    [span] = plan_spans(windows, LATER)
    spec = {"query": "x", "measurement": "m", "tags": {"env": "t"}}
    ends = [w.end.timestamp() for w in windows]
    samples = [({"__name__": "x", "a": "1"}, [[ends[0], "1.5"], [ends[2], "NaN"]]),
               ({"a": "2"}, [[ends[2], "+Inf"]])]

    def placed(query):
        answer = QueryAnswer([[] for _ in windows], [[] for _ in windows], [], {})
        answer._bucket(query, samples, span, 0)
        return answer

    # By default NaN and infinities are no value: left out, counted for their window.
    skipping = placed(Query.parse(0, spec))
    assert skipping.series == [[0], [], []] and skipping.skipped == {2: 2}
    # nan = "refuse" keeps them, for the encoder to refuse by name.
    answer = placed(Query.parse(0, spec, skip_nan=False))
    assert answer.series == [[0], [], [0, 1]] and answer.skipped == {}
    assert answer.values[0] == [1.5] and answer.values[2][1] == float("inf")
    assert answer.tags == [{"env": "t", "metric": "x", "a": "1"}, {"env": "t", "a": "2"}]
    query = Query.parse(0, spec)
    for bad, reason in (([[ends[2] + 3600, "1"]], "not one of the steps asked for"),
                        ([[ends[0], "1"], [ends[1], "many"]], "'many', not a number")):
        broken = QueryAnswer([[] for _ in windows], [[] for _ in windows], [], {})
        with pytest.raises(SourceError, match=reason):
            broken._bucket(query, [({"a": "1"}, bad)], span, 0)
        assert broken.series == [[], [], []] and broken.values == [[], [], []]
