"""The v1 and v2 writers and the delivery logic against real servers."""

import pytest
from servers import free_port

from pusher.config import InfluxConfig
from pusher.errors import WriteError
from pusher.writers import ServerAnswer, Unreachable, make_writer
from pusher.writers.delivery import Delivery, RetryPolicy, parse_retry_after
from pusher.writers.influx_v1 import InfluxV1Writer
from pusher.writers.influx_v2 import InfluxV2Writer


def v1(influxdb1, db: str, **kwargs) -> InfluxV1Writer:
    return InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=db, **kwargs))


def count(influxdb1, db: str, measurement: str = "m", rp: str | None = None) -> int:
    source = f'"{rp}"."{measurement}"' if rp else f'"{measurement}"'
    rows = influxdb1.select(f"SELECT count(*) FROM {source}", db=db)
    return int(next(v for k, v in rows[0].items() if k.startswith("count"))) if rows else 0


def test_v1_writer_posts_lines(influxdb1, influx_db):
    v1(influxdb1, influx_db).post(b"m,granularity=hourly f=1i 1700000000\n")
    assert influxdb1.select('SELECT f FROM "m"', db=influx_db) == [{"time": 1700000000, "f": 1}]


def test_v1_writer_gzip_and_precision_ms(influxdb1, influx_db):
    writer = v1(influxdb1, influx_db, gzip=True, precision="ms")
    writer.post(b"m f=2i 1700000000123\n")
    assert influxdb1.select('SELECT f FROM "m"', db=influx_db, epoch="ms") == [
        {"time": 1700000000123, "f": 2}
    ]


def test_v1_daily_points_go_to_the_daily_retention_policy(influxdb1, influx_db):
    influxdb1.query(f'CREATE RETENTION POLICY "daily" ON "{influx_db}" DURATION INF REPLICATION 1')
    writer = v1(influxdb1, influx_db, daily_retention_policy="daily")
    writer.post(b"m,granularity=daily f=1i 1700000000\n", "daily")
    writer.post(b"m,granularity=hourly f=1i 1700000000\n", "hourly")
    assert count(influxdb1, influx_db, rp="daily") == 1
    assert count(influxdb1, influx_db, rp="autogen") == 1


def test_v1_bad_line_is_a_server_answer_with_reason(influxdb1, influx_db):
    with pytest.raises(ServerAnswer) as answer:
        v1(influxdb1, influx_db).post(b"m f= 1\n")
    assert answer.value.status == 400
    assert "unable to parse" in answer.value.message


def test_v1_missing_database_is_404(influxdb1):
    with pytest.raises(ServerAnswer) as answer:
        v1(influxdb1, "no_such_db").post(b"m f=1i 1\n")
    assert answer.value.status == 404


def test_unreachable_server():
    writer = InfluxV1Writer(InfluxConfig(url=f"http://127.0.0.1:{free_port()}", api="v1"))
    with pytest.raises(Unreachable):
        writer.post(b"m f=1i 1\n")


def v2(influxdb2, bucket: str, **kwargs) -> InfluxV2Writer:
    writer = make_writer(InfluxConfig(url=influxdb2.url, api="v2", org="acme", bucket=bucket,
                                      token=influxdb2.token, **kwargs))
    assert isinstance(writer, InfluxV2Writer)
    return writer


def stored(influxdb2, bucket: str) -> list[tuple[str, str, str, str]]:
    rows = influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: 0)')
    return sorted((r["_time"], r["_measurement"], r["_field"], r["_value"]) for r in rows)


def test_v2_writer_gzip_precision_and_the_daily_bucket(influxdb2, influx_bucket):
    daily = influx_bucket + "_daily"
    influxdb2.create_bucket(daily)
    writer = v2(influxdb2, influx_bucket, gzip=True, precision="ms", daily_bucket=daily)
    writer.post(b"v2test,granularity=hourly,kind=a count=5i 1700000000123\n")
    writer.post(b"v2test,granularity=daily,kind=a count=7i 1700000000000\n", "daily")
    writer.close()
    assert stored(influxdb2, influx_bucket) == [
        ("2023-11-14T22:13:20.123Z", "v2test", "count", "5")]
    assert stored(influxdb2, daily) == [("2023-11-14T22:13:20Z", "v2test", "count", "7")]


def test_v2_bad_line_and_missing_bucket_are_server_answers_with_reason(influxdb2,
                                                                      influx_bucket):
    # The real 2.x is a validity oracle: it refuses what it cannot parse, with the reason.
    with pytest.raises(ServerAnswer) as bad:
        v2(influxdb2, influx_bucket).post(b"m f=1i 1\nm f= 2\n")
    assert bad.value.status == 400 and "unable to parse" in bad.value.message
    with pytest.raises(ServerAnswer) as missing:
        v2(influxdb2, "no_such_bucket").post(b"m f=1i 1\n")
    assert (missing.value.status, missing.value.message) == \
        (404, 'bucket "no_such_bucket" not found')


def test_v2_delivery_isolates_refused_lines_and_writes_the_rest(influxdb2, influx_bucket):
    writer = v2(influxdb2, influx_bucket)
    writer.post(b"m f=1i 1\n")
    lines = [f"m,n={i} f={i}i 1" for i in range(10)]
    lines[3] = 'm,n=3 f="text" 1'
    outcome = Delivery(writer).send(lines)
    assert outcome.written == 9
    (line, reason), = outcome.refused or []
    assert line == lines[3] and "field type conflict" in reason
    assert len(stored(influxdb2, influx_bucket)) == 10  # the first point and the nine good ones


def test_v2_writer_unreachable():
    influx = InfluxConfig(url=f"http://127.0.0.1:{free_port()}", api="v2", org="o", timeout=2)
    with pytest.raises(Unreachable):
        make_writer(influx).post(b"m f=1i 1\n")


def test_delivery_isolates_refused_lines_and_writes_the_rest(influxdb1, influx_db):
    # A field type conflict is refused by the server, not by the encoder.
    writer = v1(influxdb1, influx_db)
    writer.post(b"m f=1i 1\n")
    lines = [f"m,n={i} f={i}i 1" for i in range(10)]
    lines[3] = 'm,n=3 f="text" 1'
    lines[7] = "m,n=7 f=true 1"
    outcome = Delivery(writer).send(lines)
    assert outcome.written == 8
    refused = dict(outcome.refused or [])
    assert set(refused) == {lines[3], lines[7]}
    assert all("field type conflict" in reason for reason in refused.values())
    assert count(influxdb1, influx_db) == 9  # the first point and the eight good ones


def test_delivery_gives_up_after_retries_when_unreachable():
    waits: list[float] = []
    writer = InfluxV1Writer(InfluxConfig(url=f"http://127.0.0.1:{free_port()}", api="v1"))
    delivery = Delivery(writer, RetryPolicy(retries=3, backoff=0.5, sleep=waits.append))
    with pytest.raises(WriteError, match="unreachable"):
        delivery.send(["m f=1i 1"])
    assert len(waits) == 3
    assert waits[0] <= 0.5 and waits[2] >= 1.0  # exponential, with jitter below the cap


def test_delivery_does_not_retry_auth_or_missing_database(influxdb1):
    waits: list[float] = []
    delivery = Delivery(v1(influxdb1, "no_such_db"), RetryPolicy(sleep=waits.append))
    with pytest.raises(WriteError, match="404"):
        delivery.send(["m f=1i 1"])
    assert waits == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("", None), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
