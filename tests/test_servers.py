"""The server fixtures start real servers that accept and return real data."""

import subprocess
import uuid

import pytest
import requests
from servers import InfluxDB1, PostgreSQL, Prometheus, QueryError


def test_influxdb1_stores_a_written_line(influxdb1: InfluxDB1, influx_db: str) -> None:
    resp = requests.post(
        f"{influxdb1.url}/write",
        params={"db": influx_db, "precision": "s"},
        data="orders,granularity=hourly,shop=fr count=42i 1700000000\n",
        timeout=10,
    )
    assert resp.status_code == 204, resp.text

    rows = influxdb1.select('SELECT "count" FROM orders GROUP BY *', db=influx_db)

    assert rows == [{"time": 1700000000, "count": 42, "granularity": "hourly", "shop": "fr"}]


def test_influxdb1_rejects_a_bad_line_with_the_reason(influxdb1: InfluxDB1, influx_db: str) -> None:
    resp = requests.post(
        f"{influxdb1.url}/write", params={"db": influx_db}, data="orders count=", timeout=10
    )

    assert resp.status_code == 400
    assert "missing field value" in resp.json()["error"]


def test_influxdb1_query_errors_raise(influxdb1: InfluxDB1, influx_db: str) -> None:
    with pytest.raises(QueryError, match="not found"):
        influxdb1.query("SELECT * FROM nothing", db="no_such_database")


def test_influxdb1_keeps_port_and_data_across_restart(influxdb1: InfluxDB1, influx_db: str) -> None:
    write = requests.post(f"{influxdb1.url}/write", params={"db": influx_db}, data="probe value=1")
    assert write.status_code == 204, write.text
    port, pid = influxdb1.port, influxdb1.pid

    influxdb1.restart()

    assert (influxdb1.port, influxdb1.running) == (port, True)
    assert influxdb1.pid != pid
    assert [row["value"] for row in influxdb1.select("SELECT * FROM probe", influx_db)] == [1]


def test_prometheus_scrapes_itself(prometheus: Prometheus) -> None:
    samples = prometheus.wait_for_samples('up{job="prometheus"}')

    assert [s["metric"]["instance"] for s in samples] == [f"127.0.0.1:{prometheus.port}"]
    assert samples[0]["value"][1] == "1"


def test_postgres_accepts_the_test_role_over_tcp(postgres: PostgreSQL) -> None:
    postgres.psql("CREATE TABLE IF NOT EXISTS probe (n int); INSERT INTO probe VALUES (41)")

    assert postgres.psql("SELECT n + 1 FROM probe").split() == ["42"]
    assert postgres.sqlalchemy_url == (
        f"postgresql+psycopg2://pusher:pusher@127.0.0.1:{postgres.port}/pusher"
    )


def test_postgres_checks_the_password(postgres: PostgreSQL) -> None:
    wrong = postgres.dsn.replace(":pusher@", ":wrong@")
    done = subprocess.run(
        [str(postgres.bindir / "psql"), "-X", "-d", wrong, "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode != 0
    assert "password authentication failed" in done.stderr


def test_influxdb2_stores_a_written_line_and_answers_flux(influxdb2, influx_bucket) -> None:
    influxdb2.write(influx_bucket, "orders,granularity=hourly,shop=fr count=42i 1700000000\n")

    rows = influxdb2.flux(
        f'from(bucket: "{influx_bucket}") |> range(start: 2023-01-01T00:00:00Z)'
        ' |> filter(fn: (r) => r._measurement == "orders")'
    )

    assert [(r["_field"], r["_value"], r["shop"], r["_time"]) for r in rows] == [
        ("count", "42", "fr", "2023-11-14T22:13:20Z")
    ]


def test_influxdb2_refuses_a_bad_line_with_the_reason(influxdb2, influx_bucket) -> None:
    resp = requests.post(
        f"{influxdb2.url}/api/v2/write",
        params={"org": influxdb2.org, "bucket": influx_bucket},
        headers={"Authorization": f"Token {influxdb2.token}"},
        data="orders count=",
        timeout=10,
    )

    assert resp.status_code == 400
    assert "missing field value" in resp.json()["message"]


def test_influxdb2_answers_404_to_a_bucket_lookup_that_finds_none(influxdb2) -> None:
    assert influxdb2.bucket_id(f"absent_{uuid.uuid4().hex[:8]}") is None


def test_influxdb2_token_with_write_only_cannot_read(influxdb2, influx_bucket) -> None:
    token = influxdb2.create_token([("write", "buckets", influx_bucket)])
    influxdb2.api("POST", "/api/v2/write", token=token, data=b"probe value=1 1700000000",
                  params={"org": influxdb2.org, "bucket": influx_bucket, "precision": "s"})

    with pytest.raises(QueryError, match="HTTP 404"):
        influxdb2.api("POST", "/api/v2/query", token=token, params={"org": influxdb2.org},
                      json={"query": f'from(bucket: "{influx_bucket}") |> range(start: 0)'})
