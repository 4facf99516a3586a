"""User-given names reach InfluxQL and Flux text exactly, or the config refuses them.

Database, retention policy, bucket, source and measurement names go through the real
commands (setup, validate, collect, backfill, status --from-influx, rollups backfill and
verify) on real InfluxDB 1.x and 2.x: the points land under those names and are read back.
A name InfluxDB itself refuses is refused at config load (exit 2, file, key and reason),
and the servers are the oracle of that rule. pusher/points/quoting.py holds the quoting.
"""

import itertools
import json
import uuid
from pathlib import Path

import pytest
import requests
from ops_helpers import pusher
from server_influxdb2 import OPERATOR_TOKEN

from pusher import Reading
from pusher.errors import RefusedReading
from pusher.points.lineprotocol import Encoder
from pusher.points.quoting import (
    flux_string,
    influxql_ident,
    influxql_string,
    v1_name_problem,
    v2_bucket_problem,
)

READER = '''
from pusher import Reading


def readings(window, measurement):
    yield Reading(measurement, {"count": 1, "max": int(window.start.timestamp()) % 97},
                  {"kind": "a"})
'''
# A source name with every character a source name may have that InfluxQL or Flux reads
# specially: quotes, a comma, `${` (Flux interpolation), unicode. (No \\: the config
# refuses it in a source name, which also names files.)
SOURCE = 'web "shop" it\'s ${x}, é'
# "true" and "show" are InfluxQL keywords: bare, they end the statement's parse.
MEASUREMENTS = ("true", "show")
SUFFIX = {"true": "", "show": " show"}  # source name -> measurement


def toml(text: str) -> str:
    """A TOML basic string value that is `text` after pusher's ${VAR} substitution ($$ is
    $; keys are not substituted)."""
    return json.dumps(text.replace("$", "$$"), ensure_ascii=False)


def write_config(tmp_path: Path, influx: str) -> Path:
    (tmp_path / "hostile_reader.py").write_text(READER)
    sources = "".join(f"""
[sources.{json.dumps(SOURCE + SUFFIX[m], ensure_ascii=False)}]
type = "python"
callable = "hostile_reader:readings"
measurement = "{m}"
""" for m in MEASUREMENTS)
    rollups = "".join(f'\n[rollups.measurements.{m}]\ncount = "sum"\nmax = "max"\n'
                      for m in MEASUREMENTS)
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "state"
timezone = "UTC"

[influx]
{influx}
retries = 0
{sources}
[rollups]
timezone = "Europe/Paris"
every = "1h"
{rollups}""")
    return path


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def collect_and_verify(config: Path) -> str:
    """setup, validate, two days of points, rollups backfill and verify, a collect (its run
    records); status from InfluxDB."""
    ok(pusher("setup", config=config))
    # InfluxDB prints back what was installed: a second setup finds it all as rendered.
    again = ok(pusher("setup", config=config))
    assert "created" not in again and "updated" not in again, again
    ok(pusher("validate", config=config))
    for suffix in SUFFIX.values():
        ok(pusher("backfill", SOURCE + suffix, "--since", "2d", config=config))
    ok(pusher("rollups", "backfill", "--since", "2d", config=config))
    verified = ok(pusher("rollups", "verify", "--since", "2d", config=config))
    assert verified.splitlines()[-1].startswith("ok: ") and " 0 daily" not in verified, verified
    ok(pusher("collect", "--all", config=config))
    return ok(pusher("status", "--from-influx", config=config))


def test_v1_hostile_database_policies_sources_and_measurements_arrive_exactly(
        tmp_path, influxdb1):
    database = f'pusher "db" it\'s, é ${{x}} {uuid.uuid4().hex[:6]}'
    hourly, daily = 'hour "ly", it\'s', "dai'ly ${x} é"
    config = write_config(tmp_path, f'url = "{influxdb1.url}"\napi = "v1"\n'
                                    f"database = {toml(database)}\n"
                                    f"retention_policy = {toml(hourly)}\n"
                                    f"daily_retention_policy = {toml(daily)}")
    status = collect_and_verify(config)
    databases = influxdb1.select("SHOW DATABASES", db="_internal")
    assert database in {row["name"] for row in databases}
    policies = {row["name"] for row in influxdb1.select(
        f"SHOW RETENTION POLICIES ON {influxql_ident(database)}", db=database)}
    assert {hourly, daily} <= policies
    for measurement in MEASUREMENTS:
        rows = influxdb1.select(f"SELECT count, max FROM {influxql_ident(hourly)}."
                                f"{influxql_ident(measurement)}", db=database)
        assert len(rows) >= 24, (measurement, rows)
    sources = {row["source"] for row in influxdb1.select(
        f'SELECT * FROM {influxql_ident(hourly)}.pusher_runs GROUP BY "source"', db=database)}
    assert sources == {SOURCE, SOURCE + " show"}
    # status --from-influx read each source's last run and watermark back by its name.
    for line in status.splitlines()[1:3]:
        assert line.startswith(SOURCE) and " done " in line and not line.rstrip().endswith(
            " - -"), status


def test_v2_hostile_buckets_sources_and_measurements_arrive_exactly(tmp_path, influxdb2):
    bucket = f"b\\ it's ${{x}}, é {uuid.uuid4().hex[:6]}"
    daily = bucket + " daily\\"
    config = write_config(tmp_path, f'url = "{influxdb2.url}"\napi = "v2"\norg = "acme"\n'
                                    f'token = "{OPERATOR_TOKEN}"\nbucket = {toml(bucket)}\n'
                                    f"daily_bucket = {toml(daily)}")
    status = collect_and_verify(config)
    assert {bucket, daily} <= set(influxdb2.buckets())
    tasks = influxdb2.tasks()
    assert {f"pusher_rollup_{m}" for m in MEASUREMENTS} <= set(tasks)
    runs = influxdb2.flux(f"from(bucket: {flux_string(bucket)}) |> range(start: -30d)"
                          ' |> filter(fn: (r) => r._measurement == "pusher_runs")'
                          ' |> keep(columns: ["source"]) |> group() |> distinct(column: "source")')
    assert {row["_value"] for row in runs} == {SOURCE, SOURCE + " show"}
    for line in status.splitlines()[1:3]:
        assert line.startswith(SOURCE) and " done " in line and not line.rstrip().endswith(
            " - -"), status


@pytest.mark.parametrize(("key", "name", "why"), [
    ("database", "a\\b", "must not contain / or \\"),
    ("database", "a/b", "must not contain / or \\"),
    ("database", "..", "must be a name"),
    ("database", "tab\there", "control character"),
    ("retention_policy", "a/b", "must not contain / or \\"),
    ("daily_retention_policy", "line\nbreak", "control character"),
    ("bucket", 'a"b', "quotation marks"),
    ("bucket", "_monitoring", "must not start with _"),
    ("daily_bucket", 'daily "b"', "quotation marks"),
])
def test_a_name_influxdb_refuses_is_refused_at_config_load(tmp_path, key, name, why):
    config = tmp_path / "pusher.toml"
    config.write_text(f'[influx]\n{key} = {toml(name)}\n')
    for command in (("validate",), ("setup",), ("collect", "--all")):
        done = pusher(*command, config=config)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and str(config) in done.stderr, done.stderr
        assert f"influx.{key}" in done.stderr and why in done.stderr, done.stderr


# Short names over the characters InfluxQL, Flux, line protocol or a file system read
# specially: every name of one or two of them.
SPECIALS = ['"', "'", "\\", "/", " ", ",", ".", "$", "{", "\n", "\t", "é", "_"]
SHORT_NAMES = ["".join(p) for n in (1, 2) for p in itertools.product(SPECIALS, repeat=n)]


def test_every_short_special_database_and_policy_name_is_created_exactly_or_refused(
        influxdb1):
    """The 1.x oracle: CREATE DATABASE with the name quoted by influxql_ident either makes
    exactly that database (and v1_name_problem said nothing) or is refused (and it said why)."""
    tag = uuid.uuid4().hex[:6]
    for name in SHORT_NAMES:
        database = tag + name
        answer = influxdb1.query(f"CREATE DATABASE {influxql_ident(database)}", check=False)
        made = "error" not in json.dumps(answer)
        assert made == (v1_name_problem(database) is None), (database, answer)
        if made:
            policy = name + tag
            influxdb1.query(f"CREATE RETENTION POLICY {influxql_ident(policy)} ON "
                            f"{influxql_ident(database)} DURATION 1d REPLICATION 1")
            listed = influxdb1.select(f"SHOW RETENTION POLICIES ON {influxql_ident(database)}",
                                      db=database)
            assert policy in {row["name"] for row in listed}, (policy, listed)
    names = {row["name"] for row in influxdb1.select("SHOW DATABASES", db="_internal")}
    assert {tag + n for n in SHORT_NAMES if v1_name_problem(tag + n) is None} <= names


def test_every_short_special_text_is_read_back_exactly_from_influxql_and_flux(
        influxdb1, influx_db, influxdb2):
    """String literals: each name as a tag value, selected back by it in InfluxQL; each name
    as a Flux string, returned as it is by one array.from."""
    encoder, lines, stored = Encoder("s"), [], {}
    for i, name in enumerate(SHORT_NAMES):
        try:
            lines.append(encoder.encode(Reading("m", {"v": i}, {"t": name}), "hourly", 1))
            stored[i] = name
        except RefusedReading:
            pass  # a tag value line protocol cannot carry (test_roundtrip.py shows which)
    answer = requests.post(f"{influxdb1.url}/write", params={"db": influx_db},
                           data="\n".join(lines).encode())
    assert answer.status_code == 204, answer.text
    assert len(stored) > len(SHORT_NAMES) / 2
    for i, name in stored.items():
        rows = influxdb1.select(f"SELECT v FROM m WHERE t = {influxql_string(name)}",
                                db=influx_db)
        assert [row["v"] for row in rows] == [i], (name, rows)
    rows = ", ".join(f"{{i: {i}, s: {flux_string(name)}}}" for i, name in enumerate(SHORT_NAMES))
    got = influxdb2.flux(f'import "array"\narray.from(rows: [{rows}])')
    # The CSV answer writes a newline inside a value as CRLF (RFC 4180): read it back as \n.
    assert {int(row["i"]): row["s"].replace("\r\n", "\n") for row in got} == dict(
        enumerate(SHORT_NAMES))


def test_bucket_rule_matches_influxdb2(influxdb2):
    tag = uuid.uuid4().hex[:6]
    for name in ['"', 'a"', "_", "_a", "a_", "a\\", "${", "é", "a b"]:
        try:
            influxdb2.create_bucket(name + tag if name.startswith("_") else tag + name)
            made = True
        except Exception:  # the fixture raises on any refusal; v2_bucket_problem says why
            made = False
        bucket = name + tag if name.startswith("_") else tag + name
        assert made == (v2_bucket_problem(bucket) is None), bucket



def hostile_buckets_with_a_run(influxdb2) -> str:
    """A hostile bucket and its daily one on the real 2.x, with one run of source `a "b"`."""
    bucket = f"b\\ it's ${{x}} {uuid.uuid4().hex[:6]}"
    for name in (bucket, bucket + " daily"):
        influxdb2.create_bucket(name)
    influxdb2.write(bucket, 'pusher_runs,source=a\\ "b" status="done",ok=1i,interval=3600.0')
    return bucket


def test_alert_rules_name_a_hostile_bucket_exactly(influxdb2):
    """The alert rules write the config's buckets into their Flux (Grafana substitutes no
    variable there): the stale-source rule runs on the real 2.x against those buckets."""
    from pusher.dashboards import Catalog
    from pusher.dashboards.alerts import alerting

    bucket = hostile_buckets_with_a_run(influxdb2)
    rules = alerting(Catalog(bucket=bucket, daily_bucket=bucket + " daily"))["groups"][0]
    stale = next(r for r in rules["rules"] if r["uid"] == "pusher-source-stale")
    rows = influxdb2.flux(stale["data"][0]["model"]["query"])
    assert [row["source"] for row in rows] == ['a "b"'], rows


def test_dashboard_bucket_variables_name_a_hostile_bucket_exactly(influxdb2):
    """Grafana pastes a constant variable's text as it is into `"${bucket}"`: the rendered
    value is the bucket as written inside a Flux string, so the health panel reads it."""
    from flux_helpers import with_grafana_v

    from pusher.dashboards import BOARDS, Catalog

    bucket = hostile_buckets_with_a_run(influxdb2)
    board = BOARDS["pipeline-health.json"](Catalog(bucket=bucket, daily_bucket=bucket + " daily"))
    values = {f"${{{v['name']}}}": v["current"]["value"] for v in board["templating"]["list"]}
    table = next(t["query"] for p in board["panels"] for t in p["targets"]
                 if "pivot(rowKey: [\"source\"]" in t["query"])
    for name, value in values.items():
        table = table.replace(name, value)
    rows = influxdb2.flux(with_grafana_v(table))
    assert [row["source"] for row in rows] == ['a "b"'], rows


def test_init_writes_a_hostile_database_name_that_setup_and_collect_use_exactly(
        tmp_path, influxdb1):
    database = f'init "db" it\'s ${{HOME}} é {uuid.uuid4().hex[:6]}'
    ok(pusher("init", "--api", "v1", "--influx-url", influxdb1.url, "--database", database,
              config=tmp_path / "pusher.toml"))
    ok(pusher("setup", config=tmp_path / "pusher.toml"))
    ok(pusher("collect", "--all", config=tmp_path / "pusher.toml"))
    assert influxdb1.select("SELECT * FROM disk", db=database)


@pytest.mark.parametrize(("api", "name"), [("v1", "a/b"), ("v1", "a\\b"), ("v2", 'a"b'),
                                           ("v2", "_b")])
def test_init_refuses_a_name_influxdb_refuses(tmp_path, api, name):
    done = pusher("init", "--api", api, "--database", name, config=tmp_path / "pusher.toml")
    assert done.returncode == 2 and done.stderr.startswith("pusher: error: --database: "), \
        done.stderr
    assert not (tmp_path / "pusher.toml").exists()
