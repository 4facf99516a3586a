"""InfluxSink's writer thread: same order, spool before post, ack after, counts and failures."""

from pathlib import Path

from servers import InfluxDB1, free_port

from pusher.batches import Deliverer, ServerHealth
from pusher.config import InfluxConfig
from pusher.sinks import InfluxSink
from pusher.spool import DeadLetter, Spool, SpoolFull
from pusher.writers.delivery import Delivery, RetryPolicy
from pusher.writers.influx_v1 import InfluxV1Writer


class Watching:
    """The real v1 writer, noting each body and what the spool held when it was posted."""

    def __init__(self, writer: InfluxV1Writer, spool_dir: Path):
        self.writer, self.spool_dir = writer, spool_dir
        self.bodies: list[bytes] = []
        self.spooled_at_post: list[bool] = []

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        self.bodies.append(body)
        held = [p.read_bytes() for p in self.spool_dir.glob("*.lp")]
        self.spooled_at_post.append(any(held_batch.endswith(body) for held_batch in held))
        self.writer.post(body, granularity)

    def close(self) -> None:
        self.writer.close()


def make_sink(tmp_path: Path, url: str, db: str, batch_size: int, max_bytes: int = 2**30
              ) -> tuple[InfluxSink, Watching, Spool]:
    spool = Spool(tmp_path / "spool", max_bytes)
    writer = Watching(InfluxV1Writer(InfluxConfig(url=url, api="v1", database=db)), spool.directory)
    delivery = Delivery(writer, RetryPolicy(retries=0, sleep=lambda _: None))  # type: ignore[arg-type]
    deliverer = Deliverer(spool, delivery, DeadLetter(tmp_path / "dead.jsonl"), ServerHealth())
    return InfluxSink("src", deliverer, batch_size), writer, spool


def lines(count: int) -> list[str]:
    return [f"m,granularity=hourly,host=h{i % 7} v={i}i {1_700_000_000 + i}" for i in range(count)]


def test_many_batches_arrive_in_order_spooled_first_and_acked(tmp_path, influxdb1: InfluxDB1,
                                                               influx_db):
    sink, writer, spool = make_sink(tmp_path, influxdb1.url, influx_db, batch_size=50)
    sent = lines(1003)
    for line in sent:
        sink.add(line, "hourly")
    counts = sink.close()
    assert (counts.written, counts.spooled, counts.refused, counts.errors) == (1003, 0, 0, [])
    assert b"".join(writer.bodies).decode().splitlines() == sent  # 21 batches, in order
    assert len(writer.bodies) == 21 and all(writer.spooled_at_post)
    assert spool.count_lines() == 0
    rows = influxdb1.select("SELECT count(v) FROM m", db=influx_db)
    assert rows[0]["count"] == 1003


def test_a_dead_server_leaves_every_batch_in_the_spool_after_one_attempt(tmp_path):
    sink, writer, spool = make_sink(tmp_path, f"http://127.0.0.1:{free_port()}", "db",
                                    batch_size=10)
    for line in lines(95):
        sink.add(line, "hourly")
    counts = sink.close()
    assert (counts.written, counts.spooled, len(counts.errors)) == (0, 95, 1)
    assert len(writer.bodies) == 1  # then the server counts as down: spool only
    assert spool.count_lines() == 95


def test_a_full_spool_in_the_writer_thread_is_raised_once(tmp_path):
    sink, _writer, spool = make_sink(tmp_path, f"http://127.0.0.1:{free_port()}", "db",
                                     batch_size=10, max_bytes=1500)
    raised = []
    try:
        for line in lines(200):
            sink.add(line, "hourly")
    except SpoolFull as exc:
        raised.append(exc)
    try:
        sink.close()
    except SpoolFull as exc:
        raised.append(exc)
    assert len(raised) == 1
    assert 0 < spool.count_lines() < 200
    assert sink.close().errors  # closing again neither raises nor hangs
