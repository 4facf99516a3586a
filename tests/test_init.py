"""`pusher init` (issue 12 §7): a starter config that passes `pusher validate` once the servers
exist, then setup and collect, against real InfluxDB 1.x and 2.x, Prometheus and PostgreSQL."""

import uuid

import sqlalchemy
from cli_helpers import run_pusher

from pusher.config import load_config


def fresh(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def in_folder(folder, *args, **env):
    """The real command run in `folder`, where ./pusher.toml is the default config."""
    return run_pusher(*args, cwd=folder, env=env)


def assert_ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_init_v1_then_setup_validate_and_collect_on_real_servers(tmp_path, influxdb1,
                                                                 prometheus, postgres):
    prometheus.wait_for_samples("up")
    schema = fresh("app")
    engine = sqlalchemy.create_engine(postgres.sqlalchemy_url)
    # "Once the servers exist": the app's users table, in a schema the URL's search_path names.
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE SCHEMA {schema}")
        db.exec_driver_sql(f"CREATE TABLE {schema}.users (created_at timestamptz)")
        db.exec_driver_sql(f"INSERT INTO {schema}.users VALUES (now()), (now())")
    engine.dispose()
    database = fresh("init")
    env = {"PROMETHEUS_URL": prometheus.url,
           "DATABASE_URL": f"{postgres.sqlalchemy_url}?options=-csearch_path%3D{schema}"}
    written = assert_ok(in_folder(tmp_path, "init", "python", "prometheus", "sql", "--api", "v1",
                                  "--influx-url", influxdb1.url, "--database", database))
    assert written.stdout.splitlines()[:2] == ["wrote pusher.toml", "wrote my_metrics.py"]
    assert "# " in (tmp_path / "pusher.toml").read_text()  # commented
    assert_ok(in_folder(tmp_path, "setup", **env))
    validated = assert_ok(in_folder(tmp_path, "validate", **env))
    lines = validated.stdout.splitlines()
    assert lines[2].startswith("ok   source disk (python): 1 row -> disk (fields free_bytes, "
                               "used_bytes; tags path)")
    assert lines[4].startswith("ok   source prometheus (prometheus) queries[0] targets_up: ")
    assert lines[6] == "ok   source database (sql) queries[0] signups: 1 row -> signups " \
                       "(fields count)"
    assert_ok(in_folder(tmp_path, "collect", "--all", **env))
    for measurement in ("disk", "targets_up", "signups"):
        assert influxdb1.select(f'SELECT * FROM "{measurement}"', db=database), measurement


def test_init_v2_then_setup_validate_and_collect(tmp_path, influxdb2):
    bucket = fresh("init")
    env = {"INFLUX_ORG": influxdb2.org, "INFLUX_TOKEN": influxdb2.token}
    assert_ok(in_folder(tmp_path, "init", "--influx-url", influxdb2.url, "--database", bucket))
    setup = assert_ok(in_folder(tmp_path, "setup", **env))
    assert setup.stdout == f"created bucket {bucket} (retention forever)\n"
    assert_ok(in_folder(tmp_path, "validate", **env))
    assert_ok(in_folder(tmp_path, "collect", "--all", **env))
    rows = influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: -2h) '
                          '|> filter(fn: (r) => r._measurement == "disk")')
    assert {r["_field"] for r in rows} == {"free_bytes", "used_bytes"}
    assert influxdb2.token not in (tmp_path / "pusher.toml").read_text()


def test_init_never_overwrites_without_force(tmp_path):
    (tmp_path / "my_metrics.py").write_text("# mine\n")
    refused = in_folder(tmp_path, "init")
    assert refused.returncode == 2
    assert refused.stderr == ("pusher: error: my_metrics.py exists: nothing written "
                              "(--force overwrites it)\n")
    assert not (tmp_path / "pusher.toml").exists()
    assert (tmp_path / "my_metrics.py").read_text() == "# mine\n"
    assert_ok(in_folder(tmp_path, "init", "--force"))
    assert "def measure" in (tmp_path / "my_metrics.py").read_text()
    (tmp_path / "pusher.toml").write_text("# mine\n")
    assert in_folder(tmp_path, "init", "sql").returncode == 2
    assert (tmp_path / "pusher.toml").read_text() == "# mine\n"


def test_every_starter_loads_as_a_config(tmp_path):
    for api in ("v1", "v2"):
        folder = tmp_path / api
        folder.mkdir()
        assert_ok(in_folder(folder, "-c", "conf/pusher.toml", "init", "python", "prometheus",
                            "sql", "google-analytics", "--api", api))
        config = load_config(folder / "conf" / "pusher.toml",
                             {"INFLUX_ORG": "acme", "INFLUX_TOKEN": "t"})
        assert list(config.sources) == ["disk", "prometheus", "database", "analytics"]
        assert (folder / "conf" / "my_metrics.py").exists()
        checked = in_folder(folder, "-c", "conf/pusher.toml", "sources", INFLUX_ORG="acme",
                            INFLUX_TOKEN="t")
        assert_ok(checked)


def test_a_bad_influx_url_is_a_usage_error(tmp_path):
    result = in_folder(tmp_path, "init", "--influx-url", "localhost:8086")
    assert result.returncode == 2 and result.stderr.startswith("pusher: error: --influx-url: ")
    assert not (tmp_path / "pusher.toml").exists()
