"""`pusher setup` for the simplest config (no [rollups]), and collect into a missing target
saying "run `pusher setup`" (issue 12 §3), on real InfluxDB 1.x and 2.x."""

import uuid

from ops_helpers import count, grid_source, pusher, write_config, write_v2_config

SETUP_HINT = "run `pusher setup`"


def fresh_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_v1_setup_without_rollups_creates_the_database_then_collect_writes(tmp_path,
                                                                          influxdb1):
    db = fresh_name("simple")
    config = write_config(tmp_path, influxdb1.url, db, grid_source())
    first = pusher("setup", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"created database {db}\n"
    again = pusher("setup", config=config)
    assert again.stdout == f"unchanged database {db}\n"
    collected = pusher("collect", "grid", config=config)
    assert collected.returncode == 0, collected.stderr
    assert count(influxdb1, db) > 0


def test_v1_setup_without_rollups_creates_the_named_policies_and_leaves_existing_ones(
        tmp_path, influxdb1):
    db = fresh_name("policies")
    influxdb1.create_database(db)
    influxdb1.query(f'CREATE RETENTION POLICY "daily" ON "{db}" DURATION 30d REPLICATION 1')
    config = write_config(tmp_path, influxdb1.url, db, grid_source(),
                          extra='retention_policy = "hourly"\ndaily_retention_policy = "daily"')
    result = pusher("setup", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"unchanged database {db}", "created retention policy hourly (duration INF)",
        "unchanged retention policy daily"]
    policies = {row["name"]: row["duration"] for row in influxdb1.select(
        f'SHOW RETENTION POLICIES ON "{db}"', db=db)}
    assert policies["hourly"] == "0s" and policies["daily"] == "720h0m0s"


def test_v1_collect_into_a_missing_database_says_run_setup(tmp_path, influxdb1):
    db = fresh_name("missing")
    config = write_config(tmp_path, influxdb1.url, db, grid_source())
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 1
    summary = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    assert len(summary) == 1 and summary[0].count(SETUP_HINT) == 1, result.stderr
    assert f'database not found: "{db}"' in summary[0]
    status = pusher("status", config=config)
    assert status.returncode == 0
    assert SETUP_HINT in status.stdout


def test_v2_setup_without_rollups_creates_the_buckets_then_collect_writes(tmp_path, influxdb2):
    bucket = fresh_name("simple")
    daily = grid_source("days", extra='granularity = "daily"')
    config = write_v2_config(tmp_path, influxdb2.url, bucket, influxdb2.token,
                             grid_source() + daily, extra=f'daily_bucket = "{bucket}_daily"')
    first = pusher("setup", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"created bucket {bucket} (retention forever)",
                                         f"created bucket {bucket}_daily (retention forever)"]
    assert pusher("setup", config=config).stdout.splitlines() == [
        f"unchanged bucket {bucket}", f"unchanged bucket {bucket}_daily"]
    collected = pusher("collect", "--all", config=config)
    assert collected.returncode == 0, collected.stderr
    rows = influxdb2.flux(f'from(bucket: "{bucket}_daily") |> range(start: -30d) '
                          '|> filter(fn: (r) => r._measurement == "grid")')
    assert rows and {r["granularity"] for r in rows} == {"daily"}


def test_v2_collect_into_a_missing_bucket_says_run_setup(tmp_path, influxdb2):
    config = write_v2_config(tmp_path, influxdb2.url, fresh_name("missing"), influxdb2.token,
                             grid_source())
    result = pusher("collect", "grid", config=config)
    assert result.returncode == 1
    summary = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    assert len(summary) == 1 and SETUP_HINT in summary[0], result.stderr
    assert SETUP_HINT in pusher("status", config=config).stdout
