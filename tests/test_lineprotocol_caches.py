"""The encoder's shortcuts (series cache, shared tags, shared time) never change a line; tabs."""

from datetime import UTC, datetime, timedelta

import pytest

from pusher import Reading
from pusher.errors import RefusedReading
from pusher.points.lineprotocol import Encoder, encode


def fresh(reading: Reading, default_time: int = 7) -> str:
    """The same reading through a brand-new encoder: no cache can have a say."""
    return encode(reading, default_time=default_time)


def test_a_shared_tags_dict_mutated_between_readings_is_seen():
    encoder, tags = Encoder(), {"job": "api"}
    readings = [Reading("m", {"v": 1.0}, tags)]
    lines = [encoder.encode(readings[0], "hourly", 7)]
    for value in ("api", "db", "db", "web"):
        tags["job"] = value
        lines.append(encoder.encode(Reading("m", {"v": 1.0}, tags), "hourly", 7))
    assert lines == [f"m,granularity=hourly,job={job} v=1.0 7"
                     for job in ("api", "api", "db", "db", "web")]


def test_a_shared_tags_dict_with_another_measurement_or_granularity():
    encoder, tags = Encoder(), {"job": "api"}
    readings = [Reading("m", {"v": 1}, tags), Reading("m", {"v": 1}, tags),
                Reading("n", {"v": 1}, tags), Reading("n", {"v": 1}, tags, granularity="daily"),
                Reading("n", {"v": 1}, tags, granularity="daily")]
    assert [encoder.encode(r, "hourly", 7) for r in readings] == [fresh(r) for r in readings]


def test_a_tag_added_to_a_shared_dict_is_seen():
    encoder, tags = Encoder(), {"job": "api"}
    first = encoder.encode(Reading("m", {"v": 1}, tags), "hourly", 7)
    encoder.encode(Reading("m", {"v": 1}, tags), "hourly", 7)
    tags["zone"] = "b"
    assert (first, encoder.encode(Reading("m", {"v": 1}, tags), "hourly", 7)) == (
        "m,granularity=hourly,job=api v=1i 7", "m,granularity=hourly,job=api,zone=b v=1i 7")


def test_a_bad_value_put_in_a_shared_dict_is_still_refused():
    encoder, tags = Encoder(), {"job": "api"}
    for _ in range(2):
        encoder.encode(Reading("m", {"v": 1}, tags), "hourly", 7)
    tags["job"] = "x\ny"
    with pytest.raises(RefusedReading, match="line break"):
        encoder.encode(Reading("m", {"v": 1}, tags), "hourly", 7)


def test_readings_without_tags_after_readings_with_them():
    encoder = Encoder()
    readings = [Reading("m", {"v": 1}), Reading("m", {"v": 1}, {"a": "b"}), Reading("m", {"v": 2}),
                Reading("n", {"v": 2}), Reading("n", {"v": 2}, {})]
    assert [encoder.encode(r, "hourly", 7) for r in readings] == [fresh(r) for r in readings]


def test_shared_and_changing_times_and_default_times():
    encoder, start = Encoder(), datetime(2026, 1, 1, tzinfo=UTC)
    moments = [start, start, start + timedelta(seconds=1), start, None, None]
    stamps = [encoder.encode(Reading("m", {"v": 1}, time=t), "hourly", d).rsplit(" ", 1)[1]
              for t, d in zip(moments, [0, 0, 0, 0, 5, 6], strict=True)]
    assert stamps == ["1767225600", "1767225600", "1767225601", "1767225600", "5", "6"]


def test_field_values_that_leave_the_fast_path():
    # bool is not int here, nan is not finite, a big int is out of range, a str is quoted.
    encoder = Encoder()
    assert encoder.encode(Reading("m", {"a": True, "b": 2, "c": "x"}), "hourly", 1) == (
        'm,granularity=hourly a=true,b=2i,c="x" 1')
    for bad in (float("nan"), float("-inf"), 2**63):
        with pytest.raises(RefusedReading):
            encoder.encode(Reading("m", {"a": bad}), "hourly", 1)


@pytest.mark.parametrize(("reading", "reason"), [
    (Reading("\tm", {"f": 1}), "measurement '\\tm' starts with a tab"),
    (Reading("m", {"\tf": 1}), "field key '\\tf' starts with a tab"),
    (Reading("m", {"f": 1, "\tg": 2}), "field key '\\tg' starts with a tab"),
])
def test_a_leading_tab_influxdb_would_drop_is_refused(reading: Reading, reason: str):
    # InfluxDB skips blanks at the start of a line and of the field set (see test_roundtrip).
    with pytest.raises(RefusedReading) as info:
        fresh(reading)
    assert reason in str(info.value)


def test_tabs_elsewhere_are_kept():
    reading = Reading("m\tx", {"f\t": "a\tb"}, {"\tk": "\tv"})
    assert fresh(reading) == 'm\tx,\tk=\tv,granularity=hourly f\t="a\tb" 7'
