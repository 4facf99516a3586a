"""Retry-After, 429/503 and 413 injected by a proxy in front of the real InfluxDB 1.x."""

import pytest
from fault_proxy import fault_proxy
from ops_helpers import count

from pusher.config import InfluxConfig
from pusher.writers.batches import Deliverer, ServerHealth
from pusher.writers.delivery import Delivery, RetryPolicy
from pusher.writers.influx_v1 import InfluxV1Writer
from pusher.writers.sinks import flush_spool
from pusher.writers.spool import DeadLetter, Spool, requeue_refused


@pytest.fixture
def proxy(influxdb1):
    with fault_proxy(influxdb1.url) as running:
        yield running


def delivery_through(proxy, db: str, waits: list[float], retries: int = 5) -> Delivery:
    writer = InfluxV1Writer(InfluxConfig(url=proxy.url, api="v1", database=db))
    return Delivery(writer, RetryPolicy(retries=retries, max_wait=60, sleep=waits.append))


def lines(n: int, start: int = 0) -> list[str]:
    return [f"grid,granularity=hourly,k=k{i:04d} v={i}i 1767225600" for i in range(start,
                                                                               start + n)]


def test_429_and_503_wait_as_long_as_retry_after_says(proxy, influxdb1, influx_db):
    proxy.faults = [(429, {"Retry-After": "7"}), (503, {"Retry-After": "3"}),
                    (503, {"Retry-After": "120"})]
    waits: list[float] = []
    outcome = delivery_through(proxy, influx_db, waits).send(lines(10))
    assert waits == [7.0, 3.0, 60.0]  # the last one capped at max_wait
    assert outcome.written == 10 and not outcome.refused
    assert [status for status, _ in proxy.seen] == [429, 503, 503, 204]
    assert count(influxdb1, influx_db) == 10


def test_an_http_date_retry_after_is_understood(proxy, influx_db):
    proxy.faults = [(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})]
    waits: list[float] = []
    delivery_through(proxy, influx_db, waits).send(lines(1))
    assert waits == [0.0]  # a date in the past: retry at once


def test_413_splits_the_batch_until_it_fits(proxy, influxdb1, influx_db):
    proxy.max_body = 2000
    batch = lines(200)  # ~50 bytes a line: 10 kB
    waits: list[float] = []
    outcome = delivery_through(proxy, influx_db, waits).send(batch)
    assert outcome.written == 200 and waits == []
    statuses = [status for status, _ in proxy.seen]
    assert statuses.count(413) >= 3 and statuses.count(204) >= 5
    assert all(size <= 2000 for status, size in proxy.seen if status == 204)
    assert count(influxdb1, influx_db) == 200


def test_retries_exhausted_leave_the_batch_spooled_until_a_flush(tmp_path, proxy, influxdb1,
                                                                 influx_db):
    spool, dead = Spool(tmp_path / "spool"), DeadLetter(tmp_path / "dead.jsonl")
    spool.put("grid", lines(5))
    proxy.faults = [(503, {"Retry-After": "1"})] * 3
    waits: list[float] = []
    delivery = delivery_through(proxy, influx_db, waits, retries=2)
    counts = flush_spool(Deliverer(spool, delivery, dead, ServerHealth()))
    assert counts.spooled == 5 and counts.written == 0 and counts.errors
    assert waits == [1.0, 1.0] and spool.count_lines() == 5
    counts = flush_spool(Deliverer(spool, delivery, dead, ServerHealth()))
    assert counts.written == 5 and spool.count_lines() == 0
    assert count(influxdb1, influx_db) == 5


def test_a_refused_line_goes_to_the_dead_letter_with_the_reason(tmp_path, proxy, influxdb1,
                                                                influx_db):
    spool, dead = Spool(tmp_path / "spool"), DeadLetter(tmp_path / "dead.jsonl")
    spool.put("grid", [*lines(3), "grid,granularity=hourly v=oops 1767225600", *lines(3, 3)])
    delivery = delivery_through(proxy, influx_db, [])
    counts = flush_spool(Deliverer(spool, delivery, dead, ServerHealth()))
    assert (counts.written, counts.refused) == (6, 1)
    [record] = dead.records()
    assert record["line"].endswith("v=oops 1767225600") and "400" in record["reason"]
    assert count(influxdb1, influx_db) == 6


def test_retry_puts_refused_lines_back_once_their_cause_is_fixed(tmp_path, proxy, influxdb1,
                                                                 influx_db):
    spool, dead = Spool(tmp_path / "spool"), DeadLetter(tmp_path / "dead.jsonl")
    spool.put("grid", lines(1), "hourly")
    proxy.faults = [(400, {})]  # e.g. a field type conflict, since fixed by hand
    delivery = delivery_through(proxy, influx_db, [])
    assert flush_spool(Deliverer(spool, delivery, dead, ServerHealth())).refused == 1
    assert requeue_refused(spool, dead) == 1
    assert list(dead.records()) == []
    assert flush_spool(Deliverer(spool, delivery, dead, ServerHealth())).written == 1
    assert count(influxdb1, influx_db) == 1
