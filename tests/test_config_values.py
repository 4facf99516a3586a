"""Config values that parse but cannot work are config errors at start-up (issue 11 §7), and
every source type's options are checked as strictly (issue 12 §1): one line naming the file
and the key, exit 2, through the real `pusher` command."""

from pathlib import Path

import pytest
from cli_helpers import run_pusher

from pusher.config import load_config
from pusher.sources import load_source, source_options

PLUGINS = str(Path(__file__).parent / "plugins")
BASE = """
[pusher]
state_dir = "state"
[influx]
url = "http://127.0.0.1:1"
api = "v1"
"""
PYTHON = """
[sources.x]
type = "python"
callable = "demo_readers:counts"
"""
PROMETHEUS = """
[sources.x]
type = "prometheus"
url = "http://127.0.0.1:9090"
[[sources.x.queries]]
query = "up"
measurement = "up"
"""
SQL = """
[sources.x]
type = "sql"
url = "sqlite:///site.sqlite"
[[sources.x.queries]]
sql = "SELECT 1 AS one"
measurement = "one"
"""
GA = """
[sources.x]
type = "google-analytics"
property = 123
metrics = ["sessions"]
dimensions = ["date"]
credentials = "anonymous"
"""


def check(tmp_path, text, command=("collect", "x")):
    path = tmp_path / "pusher.toml"
    path.write_text(text)
    done = run_pusher(*command, config=path, env={"PYTHONPATH": PLUGINS}, cwd=tmp_path)
    return path, done


@pytest.mark.parametrize(("table", "key", "problem"), [
    (BASE.replace('api = "v1"', "timeout = 0"), "influx.timeout", "must be greater than 0"),
    (BASE.replace('api = "v1"', "timeout = -1.5"), "influx.timeout", "must be greater than 0"),
    (BASE.replace('api = "v1"', "timeout = nan"), "influx.timeout", "must be a finite number"),
    (BASE.replace("http://127.0.0.1:1", "http://"), "influx.url", "names no host"),
    (BASE.replace("http://127.0.0.1:1", "http://h:99999"), "influx.url", "is not a usable URL"),
    (BASE.replace('api = "v1"', "retries = -1"), "influx.retries", "must be at least 0"),
    (BASE.replace('api = "v1"', 'database = ""'), "influx.database", "must not be empty"),
    (BASE.replace('api = "v1"', 'bucket = " "'), "influx.bucket", "must not be empty"),
    (BASE.replace('api = "v1"', 'token = 12345'), "influx.token", "must be a string, not int"),
    (BASE + "spool_max_mb = 0\n", "influx.spool_max_mb", "unknown key"),
    (BASE.replace('state_dir = "state"', "spool_max_mb = inf"), "pusher.spool_max_mb",
     "must be a finite number"),
    (BASE.replace('state_dir = "state"', 'state_dir = ""'), "pusher.state_dir",
     "must not be empty"),
    (BASE.replace('state_dir = "state"', "state_dir = 7"), "pusher.state_dir",
     "must be a string"),
    (BASE + PYTHON.replace("[sources.x]", '[sources."../../../escape"]'),
     "sources.../../../escape", "is not a usable source name"),
    (BASE + PYTHON + "timeout = 0\n", "sources.x.timeout", "must be greater than 0"),
    (BASE + PYTHON + "jitter = -5\n", "sources.x.jitter", "must be at least 0"),
    (BASE + PYTHON + "catchup_max = 0\n", "sources.x.catchup_max", "must be at least 1"),
    (BASE + PROMETHEUS.replace("http://127.0.0.1:9090", "http://"), "sources.x.url",
     "names no host"),
    (BASE + PROMETHEUS.replace('url = "http', 'headers = { X = 1 }\nurl = "http'),
     "sources.x.headers", "must be a table of strings"),
    (BASE + PROMETHEUS.replace('measurement = "up"', 'measurement = "up"\nfield = ""'),
     "sources.x.queries[0].field", "is required (a non-empty string)"),
    (BASE + PROMETHEUS.replace('measurement = "up"', 'measurement = "up"\ntags = { a = 1 }'),
     "sources.x.queries[0].tags", "must be a table of strings"),
    (BASE + PROMETHEUS.replace('query = "up"', 'query = "up"\nmesurement = "x"'),
     "sources.x.queries[0].mesurement", "unknown key (did you mean 'measurement'?)"),
    (BASE + PROMETHEUS.replace('url = "http', 'session = "x"\nurl = "http'),
     "sources.x.session", "is for tests, not a config option"),
    (BASE + SQL.replace("sqlite:///site.sqlite", "postgres://u@h/db"), "sources.x.url",
     "SQLAlchemy has no database 'postgres'"),
    (BASE + SQL.replace("sqlite:///site.sqlite", "mysql+pymysql://u@h/db"), "sources.x.url",
     "the database driver is not installed (No module named 'pymysql')"),
    (BASE + SQL.replace('measurement = "one"', 'meassurement = "one"'),
     "sources.x.queries[0].meassurement", "unknown key (did you mean 'measurement'?)"),
    (BASE + GA + 'endpoint = "http://"\n', "sources.x.endpoint", "names no host"),
    (BASE + "[rollups]\nhourly_retention = \"2d\"\nlookback = \"3d\"\n",
     "rollups.hourly_retention", "must be longer than rollups.lookback (3d)"),
    # issue 12 §1: typos of the keys every source has, for a type that takes **options
    (BASE + PYTHON + 'granularty = "daily"\n', "sources.x.granularty",
     "unknown key (did you mean 'granularity'?)"),
    (BASE + PYTHON + 'shedule = "@daily"\n', "sources.x.shedule",
     "unknown key (did you mean 'schedule'?)"),
    # ...and the python target's own signature and validate_options
    (BASE + PYTHON + "nn = 3\n", "sources.x.nn", "unknown key (did you mean 'n'?)"),
    (BASE + PYTHON.replace("demo_readers:counts", "checked_readers:limited") + "limit = 0\n",
     "sources.x.limit", "must be at least 1"),
    (BASE + PROMETHEUS.replace('url = "http', 'shedule = "@daily"\nurl = "http'),
     "sources.x.shedule", "unknown key (did you mean 'schedule'?)"),
])
def test_values_that_cannot_work_exit_2_naming_file_and_key(tmp_path, table, key, problem):
    path, done = check(tmp_path, table)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"pusher: error: {path}: {key}: {problem}"), line


def test_a_state_dir_that_is_a_file_is_a_config_error(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    path, done = check(tmp_path, BASE + PYTHON)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"pusher: error: {path}: pusher.state_dir: "
                                   f"{tmp_path / 'state'} is a file, not a directory")


def test_python_typos_fail_validate_and_sources_before_any_run(tmp_path):
    _path, done = check(tmp_path, BASE + PYTHON + 'granularty = "daily"\n', ("validate",))
    assert done.returncode == 2
    assert "sources.x.granularty: unknown key (did you mean 'granularity'?)" in done.stdout
    path, done = check(tmp_path, BASE + PYTHON + 'granularty = "daily"\n', ("sources",))
    assert done.returncode == 2
    assert ("(config error: sources.x.granularty: unknown key (did you mean "
            "'granularity'?))") in done.stdout
    assert done.stderr.strip() == (f"pusher: error: {path}: sources.x.granularty: unknown key "
                                   "(did you mean 'granularity'?)")


def test_a_misspelt_source_name_gets_a_suggestion(tmp_path):
    text = BASE + PYTHON.replace("[sources.x]", "[sources.prometheus]")
    for command in (("collect", "promethus"), ("backfill", "promethus", "--since", "1d"),
                    ("run", "promethus")):
        _path, done = check(tmp_path, text, command)
        assert done.returncode == 2
        assert done.stderr.strip().endswith(
            "sources: no source named 'promethus' (did you mean 'prometheus'?)"), done.stderr


def test_a_python_source_beside_the_config_is_found_without_pythonpath(tmp_path):
    (tmp_path / "my_metrics.py").write_text(
        "from pusher import Reading\n\ndef fn(window, n=2):\n"
        "    yield Reading('mine', {'n': n})\n")
    path = tmp_path / "conf" / "pusher.toml"
    path.parent.mkdir()
    (tmp_path / "conf" / "my_metrics.py").write_bytes((tmp_path / "my_metrics.py").read_bytes())
    path.write_text(BASE + PYTHON.replace("demo_readers:counts", "my_metrics:fn"))
    done = run_pusher("collect", "x", "--dry-run", config=path, cwd=tmp_path.parent)
    assert done.returncode == 0, done.stderr
    assert [line.split(" ")[1] for line in done.stdout.splitlines()] == ["n=2i", "n=2i"]


def test_a_python_module_not_found_says_where_pusher_looked(tmp_path):
    _path, done = check(tmp_path, BASE + PYTHON.replace("demo_readers:counts", "nowhere:fn"))
    assert done.returncode == 2
    assert (f"sources.x.callable: cannot import nowhere:fn: no module named 'nowhere' (looked "
            f"next to the config in {tmp_path} and on the Python path") in done.stderr


def test_relative_paths_in_options_start_at_the_config_file(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "sa.json").write_text("{}")
    path = tmp_path / "conf" / "pusher.toml"
    path.write_text(BASE + SQL + GA.replace("[sources.x]", "[sources.ga]").replace(
        '"anonymous"', '"sa.json"') + '[sources.crawler]\ntype = "worker-states"\n'
        'url = "sqlite:///crawler.sqlite"\n')
    config = load_config(path, {})
    folder = tmp_path / "conf"
    resolved = {name: source_options(load_source(spec.type), spec)
                for name, spec in config.sources.items()}
    assert resolved["x"]["url"] == f"sqlite:///{folder / 'site.sqlite'}"
    assert resolved["ga"]["credentials"] == str(folder / "sa.json")
    # A plugin's own path options, through its resolve_paths (the example crawler package).
    assert resolved["crawler"]["url"] == f"sqlite:///{folder / 'crawler.sqlite'}"
    assert config.state_dir == folder / "state"


def test_a_python_sources_function_resolves_its_paths_like_a_type(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "notes.txt").write_text("a\nb\nc\n")
    path = tmp_path / "conf" / "pusher.toml"
    path.write_text(BASE + PYTHON.replace("demo_readers:counts", "checked_readers:file_lines")
                    + 'path = "notes.txt"\n')
    done = run_pusher("collect", "x", "--dry-run", "--since", "2026-01-01T00:00Z", "--until",
                      "2026-01-01T01:00Z", config=path, env={"PYTHONPATH": PLUGINS},
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "file,granularity=hourly lines=3i 1767225600\n"
