"""InfluxSink's writer threads: spooled in order before post, ack after, two posts in flight
once InfluxDB answered, `ordered` batches after the ones before them, counts and failures."""

import threading
from pathlib import Path

from servers import InfluxDB1, free_port

from pusher.config import InfluxConfig
from pusher.writers.batches import Deliverer, ServerHealth
from pusher.writers.delivery import Delivery, RetryPolicy
from pusher.writers.influx_v1 import InfluxV1Writer
from pusher.writers.sinks import InfluxSink
from pusher.writers.spool import DeadLetter, Spool, SpoolFull

BOUND = 30  # seconds a post may wait for another one before the test gives up on it


class Watching:
    """The real v1 writer, noting each body, the spooled file holding it and what overlapped."""

    def __init__(self, writer: InfluxV1Writer, spool_dir: Path):
        self.writer, self.spool_dir = writer, spool_dir
        self.bodies: list[bytes] = []
        self.spooled_as: list[str | None] = []  # the batch file holding the body when posted
        self.events: list[tuple[str, bytes]] = []  # ("start" | "end", body) in order
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        self.two_in_flight = threading.Event()
        self.hold: dict[bytes, threading.Event] = {}  # a body posted only once its event is set

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        held = []  # another thread may ack (remove) its batch's file while we look
        for path in self.spool_dir.glob("*.lp"):
            try:
                held.append((path.name, path.read_bytes()))
            except FileNotFoundError:
                continue
        with self.lock:
            self.bodies.append(body)
            self.spooled_as.append(next((n for n, data in held if data.endswith(body)), None))
            self.events.append(("start", body))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.in_flight == 2:
                self.two_in_flight.set()
        try:
            if body in self.hold:
                self.hold[body].wait(BOUND)
            self.writer.post(body, granularity)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.events.append(("end", body))

    def close(self) -> None:
        self.writer.close()


def make_sink(tmp_path: Path, url: str, db: str, batch_size: int, max_bytes: int = 2**30
              ) -> tuple[InfluxSink, Watching, Spool]:
    spool = Spool(tmp_path / "spool", max_bytes)
    writer = Watching(InfluxV1Writer(InfluxConfig(url=url, api="v1", database=db)), spool.directory)
    delivery = Delivery(writer, RetryPolicy(retries=0, sleep=lambda _: None))  # type: ignore[arg-type]
    deliverer = Deliverer(spool, delivery, DeadLetter(tmp_path / "dead.jsonl"), ServerHealth())
    return InfluxSink("src", deliverer, batch_size), writer, spool


def lines(count: int, start: int = 0) -> list[str]:
    return [f"m,granularity=hourly,host=h{i % 7} v={i}i {1_700_000_000 + i}"
            for i in range(start, start + count)]


def body(batch: list[str]) -> bytes:
    return ("\n".join(batch) + "\n").encode()


def test_many_batches_are_spooled_in_order_before_they_are_posted_and_acked(
        tmp_path, influxdb1: InfluxDB1, influx_db):
    sink, writer, spool = make_sink(tmp_path, influxdb1.url, influx_db, batch_size=50)
    sent = lines(1003)
    for line in sent:
        sink.add(line, "hourly")
    counts = sink.close()
    assert (counts.written, counts.spooled, counts.refused, counts.errors) == (1003, 0, 0, [])
    assert len(writer.bodies) == 21 and None not in writer.spooled_as
    # The spool's names sort in the order the batches were made: a replay keeps it.
    by_name = sorted(zip(writer.spooled_as, writer.bodies, strict=True))
    assert b"".join(posted for _, posted in by_name).decode().split("\n")[:-1] == sent
    assert spool.count_lines() == 0
    rows = influxdb1.select("SELECT count(v) FROM m", db=influx_db)
    assert rows[0]["count"] == 1003


def test_two_batches_are_in_flight_at_once_once_influxdb_answered(tmp_path, influxdb1,
                                                                  influx_db):
    sink, writer, _spool = make_sink(tmp_path, influxdb1.url, influx_db, batch_size=10)
    first, second, third = lines(10), lines(10, 10), lines(10, 20)
    for line in first:
        sink.add(line, "hourly")
    while not sink.health.acked:  # the first batch is answered by one thread alone
        threading.Event().wait(0.01)
    # The second and third batches' posts each wait until the other one is posted beside
    # it: with a single poster the first of them would wait in vain.
    writer.hold[body(second)] = writer.hold[body(third)] = writer.two_in_flight
    for line in second + third:
        sink.add(line, "hourly")
    counts = sink.close()
    assert counts.written == 30
    assert writer.most_in_flight == 2
    ends = [writer.events.index(("end", body(batch))) for batch in (second, third)]
    starts = [writer.events.index(("start", body(batch))) for batch in (second, third)]
    assert max(starts) < min(ends)


def test_an_ordered_batch_waits_for_every_batch_before_it(tmp_path, influxdb1, influx_db):
    sink, writer, _spool = make_sink(tmp_path, influxdb1.url, influx_db, batch_size=10)
    batches = [lines(10, 10 * n) for n in range(6)]
    for line in batches[0]:
        sink.add(line, "hourly")
    while not sink.health.acked:
        threading.Event().wait(0.01)
    # Batch 3 is held until batch 4 (ordered: it replaces a line of batch 3) is made.
    made = threading.Event()
    writer.hold[body(batches[3])] = made
    for batch in batches[1:4]:
        for line in batch:
            sink.add(line, "hourly")
    sink.pending("hourly").ordered = True
    for line in batches[4]:
        sink.add(line, "hourly")
    made.set()
    for line in batches[5]:
        sink.add(line, "hourly")
    counts = sink.close()
    assert counts.written == 60
    started = writer.events.index(("start", body(batches[4])))
    assert all(writer.events.index(("end", body(batch))) < started for batch in batches[:4])


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
