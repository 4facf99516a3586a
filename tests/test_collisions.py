"""Readings of one window on the same series, field and time (issue 11 §1).

The example of the issue runs end to end: an SQL query on a real PostgreSQL and SQLite, its
points in a real InfluxDB 1.x; then the point set's own rules, exact strings, no I/O.
"""

import json
import sqlite3
import uuid
from datetime import UTC, datetime

import pytest
from cli_helpers import run_pusher
from ops_helpers import write_config
from pipeline_helpers import Lines

from pusher.points.collisions import EXACT_POINTS, KeySets, PointSet
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Reading, Window
from pusher.runs.pipeline import Run, collect

WINDOW = Window.containing(datetime(2026, 3, 2, 10, 30, tzinfo=UTC), Granularity.HOURLY)
ORDERS = [("shop", 10), ("shop", 25), ("web", 3), ("shop", 7)]
QUERY = ("SELECT kind, amount FROM {table} "
         "WHERE created_at >= :start AND created_at < :end ORDER BY id")


def orders_source(source: tuple[str, str], on_collision: str | None) -> str:
    url, table = source
    mode = f'on_collision = "{on_collision}"' if on_collision else ""
    return f"""
[sources.orders]
type = "sql"
url = "{url}"
{mode}
[[sources.orders.queries]]
sql = "{QUERY.format(table=table)}"
measurement = "orders"
tags = ["kind"]
"""


@pytest.fixture
def postgres_orders(postgres):
    schema = f"orders_{uuid.uuid4().hex[:8]}"
    moment = WINDOW.start.replace(minute=15).isoformat()
    rows = ", ".join(f"({i}, '{kind}', {amount}, '{moment}')"
                     for i, (kind, amount) in enumerate(ORDERS))
    postgres.psql(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders (id int, kind text, "
                  "amount int, created_at timestamptz); "
                  f"INSERT INTO {schema}.orders VALUES {rows};")
    # A plain postgresql:// URL (issue 12: the default dialect must find a driver).
    return postgres.url, f"{schema}.orders"


@pytest.fixture
def sqlite_orders(tmp_path):
    with sqlite3.connect(tmp_path / "shop.sqlite") as db:
        db.execute("CREATE TABLE orders (id INTEGER, kind TEXT, amount INTEGER, created_at TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                       [(i, kind, amount, WINDOW.start.strftime("%Y-%m-%d %H:15:00"))
                        for i, (kind, amount) in enumerate(ORDERS)])
    db.close()
    return "sqlite:///shop.sqlite", "orders"  # relative to the config file (issue 12)


def collect_orders(tmp_path, url, influxdb1, db, mode):
    config = write_config(tmp_path, influxdb1.url, db, orders_source(url, mode))
    return run_pusher("collect", "orders", "--since", WINDOW.start.isoformat(), "--until",
                      WINDOW.end.isoformat(), config=config, cwd=tmp_path.parent)


def stored(influxdb1, db):
    rows = influxdb1.select('SELECT amount FROM "orders" GROUP BY kind', db=db)
    return {row["kind"]: row["amount"] for row in rows}


@pytest.mark.parametrize("database", ["postgres_orders", "sqlite_orders"])
def test_colliding_rows_are_refused_by_name_and_dead_lettered(database, request, tmp_path,
                                                              influxdb1, influx_db):
    url = request.getfixturevalue(database)
    done = collect_orders(tmp_path, url, influxdb1, influx_db, None)
    assert done.returncode == 1, done.stderr
    assert "- orders windows=1 readings=4 written=2 refused=2 collided=2 [partial]" in done.stderr
    assert stored(influxdb1, influx_db) == {"shop": 10, "web": 3}
    # One line says how many and why (tests/test_refusal_lines.py); the dead-letter file
    # names each reading.
    [refusals] = [line for line in done.stderr.splitlines() if " points refused: " in line]
    assert refusals.startswith(
        "pusher: WARNING: orders: 2 points refused: collides with an earlier reading of the "
        "same series and time (field 'amount'): add a tag column or aggregate (each is in ")
    dead = [json.loads(x) for x in (tmp_path / "state/dead-letter.jsonl").read_text()
            .splitlines()]
    assert [d["reason"].split(" (")[0] for d in dead] == \
        ["collides with an earlier reading of the same series and time"] * 2
    assert "'kind': 'shop'" in dead[0]["reading"]
    assert "'amount': 25" in dead[0]["reading"] and "'amount': 7" in dead[1]["reading"]


@pytest.mark.parametrize(("mode", "shop"), [("last", 7), ("sum", 42)])
def test_on_collision_last_or_sum_is_asked_for_explicitly(mode, shop, tmp_path, postgres_orders,
                                                          influxdb1, influx_db):
    done = collect_orders(tmp_path, postgres_orders, influxdb1, influx_db, mode)
    assert done.returncode == 0, done.stderr
    assert "- orders windows=1 readings=4 written=2 refused=0 collided=2 [done]" in done.stderr
    assert stored(influxdb1, influx_db) == {"shop": shop, "web": 3}
    assert not (tmp_path / "state/dead-letter.jsonl").exists()


def test_on_collision_must_be_one_of_the_three(tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:1", "d",
                          orders_source(("sqlite:///x.sqlite", "orders"), "first"))
    done = run_pusher("collect", "orders", config=config)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"pusher: error: {config}: sources.orders.on_collision: "
                                   "must be one of 'refuse', 'last', 'sum', not 'first'")


def run_source(readings, mode="refuse", windows=(WINDOW,)):
    sink = Lines()
    run = Run("s", lambda window: iter(readings(window)), {}, "hourly", Encoder("s"), sink,
              on_collision=mode)
    return collect(run, list(windows)), sink.lines


def test_fields_of_one_point_from_several_readings_are_not_collisions():
    # Two Prometheus queries writing two fields of one series: InfluxDB merges them.
    record, lines = run_source(lambda w: [Reading("http", {"count": 5}, {"job": "a"}),
                                          Reading("http", {"errors": 1}, {"job": "a"}),
                                          Reading("http", {"count": 6}, {"job": "b"})])
    assert (record.written, record.refused, record.collided) == (3, 0, 0)
    assert len(lines) == 3
    # ...but a third one repeating a field of the first one is.
    record, lines = run_source(lambda w: [
        Reading("http", {"count": 5}, {"job": "a"}), Reading("http", {"errors": 1}, {"job": "a"}),
        Reading("http", {"p99": 2.0, "count": 1}, {"job": "a"})])
    assert (record.written, record.refused, record.collided) == (2, 1, 1)
    assert [line.split(" ")[1] for line in lines] == ["count=5i", "errors=1i"]


def test_collisions_are_looked_for_within_a_window():
    later = Window.containing(WINDOW.end, Granularity.HOURLY)
    # The same reading in two windows is two points (each stamped with its window's start).
    record, _ = run_source(lambda w: [Reading("m", {"v": 1})], windows=(WINDOW, later))
    assert (record.written, record.collided) == (2, 0)
    # A reading with its own time (a GA day re-fetched by each window) is not a collision
    # between windows either: the set is cleared per window.
    fixed = WINDOW.start
    record, _ = run_source(lambda w: [Reading("m", {"v": 1}, time=fixed)],
                           windows=(WINDOW, later))
    assert (record.written, record.collided) == (2, 0)


def test_a_time_of_its_own_equal_to_the_windows_start_is_the_same_point():
    record, lines = run_source(lambda w: [Reading("m", {"v": 1}),
                                          Reading("m", {"v": 2}, time=w.start)])
    assert (record.written, record.refused, record.collided) == (1, 1, 1)
    assert lines == [f"m,granularity=hourly v=1i {int(WINDOW.start.timestamp())}"]


def test_sum_refuses_what_cannot_be_added():
    record, lines = run_source(lambda w: [Reading("m", {"v": "a"}), Reading("m", {"v": "b"})],
                               mode="sum")
    assert (record.written, record.refused, record.collided) == (1, 1, 1)
    assert lines == ['m,granularity=hourly v="a" ' + str(int(WINDOW.start.timestamp()))]


def test_a_window_bigger_than_the_exact_set_still_finds_collisions():
    n = EXACT_POINTS + 5000

    def readings(window):
        for i in range(n):
            yield Reading("big", {"v": i}, {"k": str(i)})
        yield Reading("big", {"v": -1}, {"k": "7"})        # from the dict's time
        yield Reading("big", {"v": -2}, {"k": str(n - 1)})  # from the compact table's
        yield Reading("big", {"w": 1}, {"k": str(n - 1)})   # another field: fine

    record, lines = run_source(readings)
    assert (record.readings, record.written, record.refused, record.collided) == \
        (n + 3, n + 1, 2, 2)
    assert lines[-1].startswith(f"big,granularity=hourly,k={n - 1} w=1i ")


def test_point_set_rules():
    points = PointSet()
    series, later = "m,granularity=hourly", "m,granularity=hourly,t=x"
    assert points.add(series, "100", frozenset({"x"})) is None
    assert points.add(series, "200", frozenset({"x"})) is None
    assert points.add(later, "100", frozenset({"x"})) is None
    assert points.add(series, "100", frozenset({"y"})) is None  # another field: merged
    assert points.add(series, "100", frozenset({"y", "z"})) == {"y"}
    assert points.add(series, "100", frozenset({"z"})) is None  # the refused one added none
    points.compact()
    assert len(points) == 3
    assert points.add(series, "100", frozenset({"x"})) == {"x"}
    assert points.add(series, "100", frozenset({"z"})) == {"z"}
    assert points.add(series, "300", frozenset({"q"})) is None
    assert points.add(series, "300", frozenset({"q"})) == {"q"}
    points.clear("100")
    assert points.add(series, "100", frozenset({"x"})) is None
    assert points.add(series, "100", frozenset({"x"})) == {"x"}


def test_merging_point_sets_keep_every_field_written():
    points = PointSet(merge=True)
    assert points.add("s", "1", frozenset({"a"})) is None
    assert points.add("s", "1", frozenset({"a", "b"})) == {"a"}
    points.compact()
    assert points.add("s", "1", frozenset({"b"})) == {"b"}
    assert points.add("s", "1", frozenset({"c"})) is None
    assert points.add("s", "1", frozenset({"c"})) == {"c"}


def test_more_field_sets_than_ids_are_kept_aside():
    points = PointSet()
    for i in range(300):
        assert points.add("m", str(i), frozenset({f"k{i}"})) is None
    points.compact()
    for i in (0, 299):
        assert points.add("m", str(i), frozenset({f"k{i}"})) == {f"k{i}"}
        assert points.add("m", str(i), frozenset({"other"})) is None
        assert points.add("m", str(i), frozenset({"other"})) == {"other"}


def test_readings_with_the_same_keys_share_one_key_set():
    encoder, keys_of = Encoder("s"), KeySets()

    def keys(fields):
        encoder.encode(Reading("m", fields), "hourly", 0)
        return keys_of(fields, encoder.fields_mask)

    first, second = keys({"a": 1, "b": 2}), keys({"b": 3, "a": 4})
    assert first == {"a", "b"} and first is second
    assert keys({"c": 1}) == {"c"} and keys({"a": 1, "b": 2}) is first
    for n in range(70):  # past the mask's bits, keys are still told apart
        assert keys({f"k{n}": 1, "a": 2}) == {f"k{n}", "a"}
