"""Names a config declares (measurements, tag keys and values, field keys) are checked at
start-up by the encoder's own rule: a bad one names the file, the key and the reason, exit 2,
before anything is collected. Through the real `pusher` command."""

import sqlite3
from pathlib import Path

import pytest
from ops_helpers import pusher, write_config

from pusher.points.lineprotocol import name_problem

UNREACHABLE = "http://127.0.0.1:9"  # never asked: the config fails first


def prometheus_source(url: str, query: str = "") -> str:
    return f"""
[sources.web]
type = "prometheus"
url = "{url}"
[[sources.web.queries]]
query = "up"
{query or 'measurement = "scrape"'}
"""


def sql_source(url: str, query: str) -> str:
    return f"""
[sources.db]
type = "sql"
url = "{url}"
[[sources.db.queries]]
sql = "SELECT 'eu' AS region, 3 AS n, 2.5 AS duration"
{query}
"""


def ga_source(options: str) -> str:
    return f"""
[sources.ga]
type = "google-analytics"
property = "123456"
credentials = "anonymous"
endpoint = "{UNREACHABLE}"
{options}
"""


def python_source(options: str) -> str:
    return f'[sources.py]\ntype = "python"\ncallable = "ops_readers:declared"\n{options}\n'


# (case, sources TOML, full key, the encoder's reason for that name in that position)
BAD = [
    ("prometheus measurement starts with #",
     prometheus_source(UNREACHABLE, 'measurement = "#signups"'),
     "sources.web.queries[0].measurement", name_problem("measurement", "#signups")),
    ("prometheus measurement with an escape-like backslash",
     prometheus_source(UNREACHABLE, 'measurement = "a\\\\ b"'),
     "sources.web.queries[0].measurement", name_problem("measurement", "a\\ b")),
    ("prometheus field is reserved",
     prometheus_source(UNREACHABLE, 'measurement = "m"\nfield = "time"'),
     "sources.web.queries[0].field", "field key 'time' is reserved by InfluxDB"),
    ("prometheus field an InfluxQL symbol",
     prometheus_source(UNREACHABLE, 'measurement = "m"\nfield = "_name"'),
     "sources.web.queries[0].field", name_problem("field key", "_name")),
    ("prometheus static tag key granularity",
     prometheus_source(UNREACHABLE, 'measurement = "m"\ntags = {granularity = "x"}'),
     "sources.web.queries[0].tags.granularity", name_problem("tag key", "granularity")),
    ("prometheus static tag value ends with a backslash",
     prometheus_source(UNREACHABLE, 'measurement = "m"\ntags = {team = "ops\\\\"}'),
     "sources.web.queries[0].tags.team", "tag value 'ops\\\\' ends with a backslash"),
    ("prometheus name tag is reserved",
     prometheus_source(UNREACHABLE, 'measurement = "m"\nname_tag = "_field"'),
     "sources.web.queries[0].name_tag", "tag key '_field' is reserved by InfluxDB"),
    ("prometheus static tag key a Flux row column",
     prometheus_source(UNREACHABLE, 'measurement = "m"\ntags = {_time = "x"}'),
     "sources.web.queries[0].tags._time", name_problem("tag key", "_time")),
    ("sql measurement an InfluxQL system source",
     sql_source("sqlite:///site.db", 'measurement = "_series"'),
     "sources.db.queries[0].measurement", name_problem("measurement", "_series")),
    ("sql measurement starts with a tab",
     sql_source("sqlite:///site.db", 'measurement = "\\tm"'),
     "sources.db.queries[0].measurement", "measurement '\\tm' starts with a tab"),
    ("sql tag column granularity",
     sql_source("sqlite:///site.db", 'measurement = "m"\ntags = ["granularity"]'),
     "sources.db.queries[0].tags[0]", name_problem("tag key", "granularity")),
    ("sql field column reserved",
     sql_source("sqlite:///site.db", 'measurement = "m"\nfields = ["n", "_measurement"]'),
     "sources.db.queries[0].fields[1]", "field key '_measurement' is reserved by InfluxDB"),
    ("sql field column with a line break",
     sql_source("sqlite:///site.db", 'measurement = "m"\nfields = ["n\\nx"]'),
     "sources.db.queries[0].fields[0]", "field key 'n\\nx' contains a line break"),
    ("sql group_by column reserved",
     sql_source("sqlite:///site.db",
                'measurement = "m"\naggregate = {column = "duration", group_by = ["time"]}'),
     "sources.db.queries[0].aggregate.group_by[0]", "tag key 'time' is reserved by InfluxDB"),
    ("google-analytics metric reserved",
     ga_source('metrics = ["sessions", "_field"]\ndimensions = ["date"]'),
     "sources.ga.metrics[1]", "field key '_field' is reserved by InfluxDB"),
    ("google-analytics dimension reserved",
     ga_source('metrics = ["sessions"]\ndimensions = ["date", "time"]'),
     "sources.ga.dimensions[1]", "tag key 'time' is reserved by InfluxDB"),
    ("google-analytics measurement with an escape-like backslash",
     ga_source('measurement = "a\\\\,b"\nmetrics = ["sessions"]\ndimensions = ["date"]'),
     "sources.ga.measurement", name_problem("measurement", "a\\,b")),
    ("python callable declares a bad measurement",
     python_source('measurement = "#signups"'),
     "sources.py.callable", name_problem("measurement", "#signups")),
    ("python callable declares a reserved field",
     python_source('field = "time"'),
     "sources.py.callable", "field key 'time' is reserved by InfluxDB"),
    ("rollups field reserved",
     prometheus_source(UNREACHABLE) + '[rollups.measurements.scrape]\ntime = "sum"\n',
     "rollups.measurements.scrape.time", "field key 'time' is reserved by InfluxDB"),
    ("rollups field with a trailing line break",
     prometheus_source(UNREACHABLE) + '[rollups.measurements.scrape]\n"count\\n" = "sum"\n',
     "rollups.measurements.scrape.count\n", "not a usable field name"),
]


def written(tmp_path: Path) -> list[Path]:
    """Files under the state folder other than locks (collect takes the spool's first)."""
    return [p for p in (tmp_path / "state").rglob("*")
            if p.is_file() and not p.name.endswith(".lock")]


@pytest.mark.parametrize(("sources", "key", "reason"), [case[1:] for case in BAD],
                         ids=[case[0] for case in BAD])
def test_a_bad_declared_name_is_a_config_error_before_anything_runs(tmp_path, sources, key,
                                                                     reason):
    assert reason  # the rule refuses the name: the config check must say the same
    config = write_config(tmp_path, UNREACHABLE, "db", sources)
    result = pusher("collect", "--all", config=config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"pusher: error: {config}: {key}: {reason}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 + key.count("\n") + reason.count("\n")
    assert written(tmp_path) == []  # no spool batch, no dead letter, no run history


@pytest.mark.parametrize("command", [("collect", "--all"), ("collect", "--all", "--dry-run"),
                                     ("backfill", "web", "--since", "2026-01-01"), ("run",),
                                     ("sources",)])
def test_every_command_that_loads_the_config_refuses_it(tmp_path, prometheus, command):
    config = write_config(tmp_path, UNREACHABLE, "db", prometheus_source(
        prometheus.url, 'measurement = "m"\nfield = "_field"'))
    result = pusher(*command, config=config, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f"{config}: sources.web.queries[0].field: field key '_field' is reserved by "
            "InfluxDB") in result.stderr.splitlines()[-1]
    assert written(tmp_path) == []


def test_validate_names_the_key_and_exits_2(tmp_path, prometheus):
    config = write_config(tmp_path, UNREACHABLE, "db", prometheus_source(
        prometheus.url, 'measurement = "m"\ntags = {"_measurement" = "x"}'))
    result = pusher("validate", config=config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f"FAIL source web (prometheus): {config}: sources.web.queries[0].tags._measurement: "
            "tag key '_measurement' is reserved by InfluxDB") in result.stdout.splitlines()


def test_unusual_names_the_encoder_takes_still_load_and_validate(tmp_path, prometheus,
                                                                 influxdb1, influx_db):
    """Escaped characters, a backslash where InfluxDB keeps it, an empty static tag value
    (no tag), non-ASCII: all carried by line protocol, so the config loads."""
    prometheus.wait_for_samples("up")
    database = tmp_path / "site.db"
    sqlite3.connect(database).close()
    sources = prometheus_source(
        prometheus.url, 'measurement = "web scrape,eu"\nfield = "up=1"\n'
                        'tags = {"team\\\\ x" = "a\\\\ b", empty = ""}\nname_tag = "métrique"'
    ) + sql_source(f"sqlite:///{database}", 'measurement = "db"\ntags = ["region"]\n'
                                             'fields = ["n"]')
    config = write_config(tmp_path, influxdb1.url, influx_db, sources)
    result = pusher("validate", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   source web (prometheus) queries[0] web scrape,eu: 1 row -> web scrape,eu " \
        "(fields up=1; tags instance, job, métrique, team\\ x)" in result.stdout.splitlines()
    assert influxdb1.select("SHOW MEASUREMENTS", db=influx_db) == []


def test_a_good_google_analytics_and_python_config_still_loads(tmp_path):
    sources = ga_source('metrics = ["sessions", "customEvent:plays"]\n'
                        'dimensions = ["date", "deviceCategory"]') + python_source(
        'measurement = "plays, daily"\nfield = "n=1"')
    result = pusher("sources", config=write_config(tmp_path, UNREACHABLE, "db", sources))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "config error" not in result.stdout


def test_each_declared_position_is_checked_by_the_encoders_rule():
    """The positions the sources declare are the rule's (a typo would check nothing)."""
    from pusher.points.lineprotocol import NAME_POSITIONS

    assert name_problem("tag value", "time") is None
    assert [name_problem(p, "time") is None for p in NAME_POSITIONS] == [True, False, True,
                                                                         False]
    with pytest.raises(ValueError, match="'tag-key' is not one of"):
        name_problem("tag-key", "_time")


@pytest.mark.parametrize(("callable_name", "reason"), [
    ("undeclarable", "cannot list the names it writes: RuntimeError: no connection at start-up"),
    ("misdeclared", "declares '_time' at an unknown position: position 'tag-key' is not one"),
])
def test_a_plugin_whose_names_cannot_be_checked_is_a_config_error(tmp_path, callable_name,
                                                                  reason):
    """docs/plugins.md: `measurements`/`names` run at every load; one that raises, or that
    declares a position the rule does not know, is exit 2 in one line, not a traceback."""
    sources = f'[sources.py]\ntype = "python"\ncallable = "ops_readers:{callable_name}"\n'
    config = write_config(tmp_path, UNREACHABLE, "db", sources)
    result = pusher("collect", "--all", config=config)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"pusher: error: {config}: sources.py: {reason}"), \
        result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert written(tmp_path) == []
