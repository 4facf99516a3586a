"""Exact strings for the encoder; the round trip through a real InfluxDB is in test_roundtrip."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pusher import Reading
from pusher.errors import RefusedReading
from pusher.points.lineprotocol import Encoder, encode, to_timestamp


def line(reading: Reading, **kwargs) -> str:
    return encode(reading, **kwargs)


def test_simple_point_gets_granularity_tag_and_default_time():
    assert line(Reading("events", {"count": 3}, {"kind": "signup"}), default_time=1700000000) == (
        "events,granularity=hourly,kind=signup count=3i 1700000000"
    )


def test_tags_sorted_by_key_and_granularity_from_reading():
    reading = Reading("m", {"v": 1.5}, {"zeta": "1", "alpha": "2"}, granularity="daily")
    assert line(reading) == "m,alpha=2,granularity=daily,zeta=1 v=1.5 0"


def test_escaping_of_every_part():
    reading = Reading('my m,e as"', {'f k=,"': 'say "hi" \\ ok'}, {"t k=,": "v a,=l"})
    assert line(reading) == (
        'my\\ m\\,e\\ as",granularity=hourly,t\\ k\\=\\,=v\\ a\\,\\=l '
        'f\\ k\\=\\,"="say \\"hi\\" \\\\ ok" 0'
    )


def test_backslash_inside_names_is_literal():
    assert line(Reading("a\\b", {"f": 1}, {"t": "x\\y"})) == "a\\b,granularity=hourly,t=x\\y f=1i 0"


def test_unicode_is_kept():
    assert line(Reading("données", {"été": "naïve ✓"}, {"ville": "Zürich"})) == (
        'données,granularity=hourly,ville=Zürich été="naïve ✓" 0'
    )


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "0i"),
        (-(2**63), "-9223372036854775808i"),
        (2**63 - 1, "9223372036854775807i"),
        (True, "true"),
        (False, "false"),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (-2.5e-300, "-2.5e-300"),
        (1 / 3, "0.3333333333333333"),
        ("", '""'),
    ],
)
def test_field_values(value: object, encoded: str):
    assert line(Reading("m", {"f": value})) == f"m,granularity=hourly f={encoded} 0"


def test_empty_tag_values_are_dropped():
    assert line(Reading("m", {"f": 1}, {"a": "", "b": "x"})) == "m,b=x,granularity=hourly f=1i 0"


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (Reading("m", {"f": float("nan")}), "field 'f' is nan"),
        (Reading("m", {"f": float("inf")}), "field 'f' is inf"),
        (Reading("m", {"f": 2**63}), "outside the int64 range"),
        (Reading("m", {"f": -(2**63) - 1}), "outside the int64 range"),
        (Reading("m", {}), "no fields"),
        (Reading("", {"f": 1}), "measurement is empty"),
        (Reading("a\nb", {"f": 1}), "line break"),
        (Reading("m", {"f": 1}, {"t": "x\ny"}), "tag value 'x\\ny' contains a line break"),
        (Reading("m", {"f": "multi\nline"}), "field 'f' contains a line break"),
        (Reading("m", {"f": 1}, {"t": "ends\\"}), "ends with a backslash"),
        (Reading("#m", {"f": 1}), "starts with '#'"),
        (Reading("m", {"time": 1}), "field key 'time' is reserved"),
        (Reading("m", {"f": 1}, {"time": "x"}), "tag key 'time' is reserved"),
        (Reading("m", {"f": 1}, {"granularity": "x"}), "set by pusher"),
        (Reading("m", {"f": None}), "type NoneType"),
        (Reading("m", {"f": 1}, {"t": 5}), "non-string value 5"),  # type: ignore[dict-item]
        (Reading("m", {"f": "x" * 70000}), "longer than"),
        # Wrong shapes a plugin may yield: refused with their reason, never a TypeError.
        (Reading("m", [1]), "fields [1] are not a mapping"),  # type: ignore[arg-type]
        (Reading("m", {"f": 1}, [("k", "v")]),  # type: ignore[arg-type]
         "tags [('k', 'v')] are not a mapping"),
        (Reading("m", {"f": 1}, {"k": ["v"]}), "non-string value"),  # type: ignore[dict-item]
        (Reading("m", {"f": 1}, time="2026-03-02"),  # type: ignore[arg-type]
         "time '2026-03-02' is not a datetime"),
        (Reading("m", {"f": 1}, granularity=7), "granularity 7 is not a string"),  # type: ignore[arg-type]
    ],
)
def test_unrepresentable_readings_are_refused_with_reason(reading: Reading, reason: str):
    with pytest.raises(RefusedReading, match=None) as info:
        line(reading)
    assert reason in str(info.value)


def test_own_time_wins_over_window_start_in_each_precision():
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    reading = Reading("m", {"f": 1}, time=moment)
    stamps = {
        p: Encoder(p).encode(reading, "hourly", 0).rsplit(" ", 1)[1]
        for p in ("s", "ms", "us", "ns")
    }
    assert stamps == {
        "s": "1767323045",
        "ms": "1767323045678",
        "us": "1767323045678901",
        "ns": "1767323045678901000",
    }


def test_timestamps_are_exact_for_aware_and_naive_times():
    paris = timezone(timedelta(hours=1))
    assert to_timestamp(datetime(2026, 1, 1, 1, tzinfo=paris), "s") == 1767225600
    assert to_timestamp(datetime(2026, 1, 1), "s") == 1767225600
    assert to_timestamp(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), "ms") == -1000


def test_series_cache_does_not_mix_tag_sets():
    encoder = Encoder()
    first = encoder.encode(Reading("m", {"f": 1}, {"t": "a"}), "hourly", 1)
    second = encoder.encode(Reading("m", {"f": 1}, {"t": "b"}), "hourly", 1)
    third = encoder.encode(Reading("m", {"f": 1}, {"t": "a"}), "daily", 1)
    assert (first, second, third) == (
        "m,granularity=hourly,t=a f=1i 1",
        "m,granularity=hourly,t=b f=1i 1",
        "m,granularity=daily,t=a f=1i 1",
    )


def test_refused_series_is_not_cached_as_valid():
    encoder = Encoder()
    bad = Reading("m", {"f": 1}, {"t": "x\n"})
    for _ in range(2):
        with pytest.raises(RefusedReading):
            encoder.encode(bad, "hourly", 0)


def test_unknown_precision_is_an_error():
    with pytest.raises(ValueError, match="unknown precision"):
        Encoder("h")
