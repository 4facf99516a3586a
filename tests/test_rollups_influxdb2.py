"""Rollups on a real InfluxDB 2.7: setup on a fresh server, tokens, backfill and verify."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import run_pusher
from rollups_helpers import expected_daily, fresh_name, write_v2_config
from servers import free_port

from pusher.config import load_config, parse_config
from pusher.errors import ConfigError
from pusher.rollups import ops
from pusher.rollups.render import flux_task

TESTS = str(Path(__file__).resolve().parent)  # rollups_helpers:hourly, the test source
TASKS = ["pusher_rollup_events", "pusher_rollup_objects", "pusher_rollup_timings"]
FUNCTIONS = {"events": {"count": "sum"}, "objects": {"count": "last"},
             "timings": {"count": "sum", "max": "max", "mean": "mean"}}


def ours(influxdb2, bucket: str) -> dict[str, dict]:
    """The tasks that write into `bucket`_daily, by name (other tests share the org)."""
    return {name: task for name, tasks in influxdb2.tasks().items() for task in tasks
            if f'to(bucket: "{bucket}_daily"' in task["flux"]}


def retention(influxdb2, bucket: str) -> int:
    rules = influxdb2.buckets()[bucket]["retentionRules"]
    return sum(rule["everySeconds"] for rule in rules)


def test_setup_on_a_fresh_server_creates_everything_then_changes_nothing(influxdb2, tmp_path):
    bucket = fresh_name()  # no such bucket yet: 2.x answers 404 to the lookup
    config = write_v2_config(tmp_path / "pusher.toml", influxdb2.url, influxdb2.token, bucket)
    first = run_pusher("setup", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"created bucket {bucket} (retention 30d)",
        f"created bucket {bucket}_daily (retention forever)",
        *(f"created task {name}" for name in TASKS),
    ]
    assert (retention(influxdb2, bucket), retention(influxdb2, f"{bucket}_daily")) == \
        (30 * 86400, 0)
    loaded = load_config(config)
    tasks = ours(influxdb2, bucket)
    assert sorted(tasks) == TASKS
    for name, task in tasks.items():
        rollup = loaded.rollups.measurements[name.removeprefix("pusher_rollup_")]
        assert task["flux"] == flux_task(rollup, loaded.influx, loaded.rollups)
        assert (task["status"], task["every"], task["offset"]) == ("active", "1h", "5m")
    again = run_pusher("setup", config=config)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [line.replace("created", "unchanged")
                                         for line in first.stdout.splitlines()]
    assert sorted(ours(influxdb2, bucket)) == TASKS  # nothing created twice


def test_setup_updates_what_changed_and_removes_a_dropped_rollup(influxdb2, tmp_path):
    bucket = fresh_name()
    path = tmp_path / "pusher.toml"
    assert run_pusher("setup", config=write_v2_config(
        path, influxdb2.url, influxdb2.token, bucket)).returncode == 0
    before = ours(influxdb2, bucket)
    write_v2_config(path, influxdb2.url, influxdb2.token, bucket, hourly_retention="60d",
                    measurements='[rollups.measurements]\nevents = { count = "max" }\n'
                                 'objects = { count = "last" }\n')
    changed = run_pusher("setup", config=path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines() == [
        f"updated bucket {bucket} (retention 60d)",
        f"unchanged bucket {bucket}_daily (retention forever)",
        "updated task pusher_rollup_events",
        "unchanged task pusher_rollup_objects",
        "removed task pusher_rollup_timings",
    ]
    after = ours(influxdb2, bucket)
    assert sorted(after) == ["pusher_rollup_events", "pusher_rollup_objects"]
    assert after["pusher_rollup_events"]["id"] == before["pusher_rollup_events"]["id"]
    assert "fn: max" in after["pusher_rollup_events"]["flux"]
    assert retention(influxdb2, bucket) == 60 * 86400


def test_two_configs_in_one_org_leave_each_others_tasks_alone(influxdb2, tmp_path):
    first, second = fresh_name(), fresh_name()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_v2_config(tmp_path / "a" / "pusher.toml", influxdb2.url, influxdb2.token, first)
    other = write_v2_config(tmp_path / "b" / "pusher.toml", influxdb2.url, influxdb2.token,
                            second, measurements='[rollups.measurements]\n'
                                                 'events = { count = "sum" }\n')
    assert run_pusher("setup", config=one).returncode == 0
    result = run_pusher("setup", config=other)
    assert result.returncode == 0, result.stderr
    assert "removed" not in result.stdout
    assert sorted(ours(influxdb2, first)) == TASKS
    assert sorted(ours(influxdb2, second)) == ["pusher_rollup_events"]


@pytest.mark.parametrize("grants, missing", [
    # May read and write one bucket (more than collect needs), nothing else.
    ([("read", "buckets", "B"), ("write", "buckets", "B")], "read organization 'acme'"),
    # May also find the org, not create a bucket.
    ([("read", "buckets", "B"), ("write", "buckets", "B"), ("read", "orgs", None)],
     "create bucket B_daily"),
    # May create buckets, not tasks.
    ([("read", "buckets", None), ("write", "buckets", None), ("read", "orgs", None)],
     "create or change tasks"),
])
def test_setup_with_a_token_that_may_not_says_so_in_one_line(influxdb2, tmp_path, grants,
                                                             missing):
    bucket = fresh_name()
    influxdb2.create_bucket(bucket)
    grants = [(action, kind, bucket if name == "B" else name) for action, kind, name in grants]
    token = influxdb2.create_token(grants)
    config = write_v2_config(tmp_path / "pusher.toml", influxdb2.url, token, bucket)
    result = run_pusher("setup", config=config)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"pusher: error: the token may not {missing.replace('B', bucket)}")
    assert "`pusher setup` needs a token that may read and write buckets and tasks" in line
    assert token not in result.stdout + result.stderr


def test_setup_names_an_organization_that_does_not_exist(influxdb2, tmp_path):
    config = write_v2_config(tmp_path / "pusher.toml", influxdb2.url, influxdb2.token,
                             fresh_name())
    config.write_text(config.read_text().replace('org = "acme"', 'org = "acme-typo"'))
    result = run_pusher("setup", config=config)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "pusher: error: InfluxDB has no organization 'acme-typo' ([influx] org)"]


def test_setup_against_a_server_that_is_not_there_is_one_line(tmp_path):
    config = write_v2_config(tmp_path / "pusher.toml", f"http://127.0.0.1:{free_port()}",
                             "t0ken", fresh_name())
    result = run_pusher("setup", config=config)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "pusher: error: InfluxDB unreachable (read organization 'acme'): ConnectionRefused"]


def test_setup_with_rollups_needs_a_daily_bucket_of_its_own():
    # Without [rollups], setup creates the one bucket instead (tests/test_setup_simple.py).
    config = parse_config({"influx": {"api": "v2", "org": "acme", "bucket": "pusher"},
                           "rollups": {}}, {})
    with pytest.raises(ConfigError) as caught:
        ops.setup(config)
    assert caught.value.key == "influx.daily_bucket"


# --- backfill and verify ----------------------------------------------------------------------

SINCE, UNTIL = "2026-10-23T00:00Z", "2026-10-28T00:00Z"  # 25 October is 25 hours in Paris


def daily_points(influxdb2, bucket: str) -> dict[tuple[str, str, datetime, str], float]:
    rows = influxdb2.flux(f'from(bucket: "{bucket}_daily") |> range(start: 2026-01-01T00:00:00Z,'
                          ' stop: 2027-01-01T00:00:00Z)')
    return {(r["_measurement"], r.get("kind") or r["stage"],
             datetime.fromisoformat(r["_time"].replace("Z", "+00:00")), r["_field"]):
            float(r["_value"]) for r in rows}


def hours_between(since: str, until: str) -> list[int]:
    start, end = (int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())
                  for t in (since, until))
    return list(range(start, end, 3600))


def test_backfill_then_verify_over_the_25_hour_day(influxdb2, tmp_path):
    bucket = fresh_name()
    config = write_v2_config(tmp_path / "pusher.toml", influxdb2.url, influxdb2.token, bucket,
                             hourly_retention="0")  # fixed dates in the past: keep them
    assert run_pusher("setup", config=config).returncode == 0
    collected = run_pusher("collect", "main", "--since", SINCE, "--until", UNTIL, config=config,
                           env={"PYTHONPATH": TESTS})
    assert collected.returncode == 0, collected.stderr
    backfill = run_pusher("rollups", "backfill", "--since", "2026-10-24", "--until",
                          "2026-10-27", config=config)
    assert backfill.returncode == 0, backfill.stderr
    assert backfill.stdout.splitlines()[1:] == [f"backfilled {m}" for m in FUNCTIONS]
    # Local days 24, 25 (25 hours) and 26 October, each from its own hours only.
    wanted = {k: v for k, v in expected_daily(hours_between(SINCE, UNTIL), FUNCTIONS).items()
              if datetime(2026, 10, 23, 22, tzinfo=UTC) <= k[2] < datetime(2026, 10, 26, 23,
                                                                             tzinfo=UTC)}
    assert len({k[2] for k in wanted}) == 3
    got = daily_points(influxdb2, bucket)
    assert got.keys() == wanted.keys()
    assert all(abs(got[k] - wanted[k]) < 1e-9 for k in wanted), (got, wanted)
    verify = run_pusher("rollups", "verify", "--since", "2026-10-24", "--until", "2026-10-27",
                        config=config)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.splitlines()[-1] == \
        f"ok: {len(wanted)} daily value(s) checked, 0 missing, 0 differ"
    # A wrong daily value is named, with its local day.
    midnight = int(datetime(2026, 10, 24, 22, tzinfo=UTC).timestamp())
    influxdb2.write(f"{bucket}_daily",
                    f"events,granularity=daily,kind=signup count=1i {midnight}")
    wrong = run_pusher("rollups", "verify", "--since", "2026-10-24", "--until", "2026-10-27",
                       config=config)
    assert wrong.returncode == 1
    expected = wanted[("events", "signup", datetime(2026, 10, 24, 22, tzinfo=UTC), "count")]
    assert wrong.stdout.splitlines()[0] == \
        f"differs  2026-10-25 events,kind=signup count: daily 1, hourly give {expected:g}"
