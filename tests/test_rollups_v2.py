"""2.x rollups as the exact HTTP requests influxdb-client sends (no 2.x server runs here)."""

from datetime import UTC, datetime

import pytest
from influx2_recorder import ORG_ID, Recorder

from pusher.config import parse_config
from pusher.errors import ConfigError
from pusher.rollups import ops
from pusher.rollups.render import flux_backfill, flux_task


def make_config(url, events="sum", daily_retention="0", measurements=None):
    measurements = measurements or {"events": {"count": events},
                                    "timings": {"count": "sum", "max": "max"}}
    return parse_config({
        "influx": {"url": url, "api": "v2", "org": "acme", "token": "s3cret-token",
                   "bucket": "pusher", "daily_bucket": "pusher_daily"},
        "rollups": {"timezone": "Europe/Paris", "hourly_retention": "30d",
                    "daily_retention": daily_retention, "measurements": measurements},
    }, {})


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


def task_body(config, name):
    return {"flux": flux_task(config.rollups.measurements[name], config.influx, config.rollups),
            "org": "acme", "status": "active", "description": "daily rollup rendered by pusher"}


def test_setup_creates_buckets_and_tasks_then_changes_nothing(recorder):
    config = make_config(recorder.url)
    assert ops.setup(config) == [
        "created bucket pusher (retention 30d)",
        "created bucket pusher_daily (retention forever)",
        "created task pusher_rollup_events",
        "created task pusher_rollup_timings",
    ]
    assert [(m, p, q) for m, p, q, _ in recorder.requests] == [
        ("GET", "/api/v2/buckets", {"name": ["pusher"], "org": ["acme"]}),
        ("GET", "/api/v2/orgs", {"org": ["acme"]}),
        ("POST", "/api/v2/buckets", {}),
        ("GET", "/api/v2/buckets", {"name": ["pusher_daily"], "org": ["acme"]}),
        ("GET", "/api/v2/orgs", {"org": ["acme"]}),
        ("POST", "/api/v2/buckets", {}),
        ("GET", "/api/v2/tasks", {"org": ["acme"], "limit": ["500"]}),
        ("POST", "/api/v2/tasks", {}),
        ("POST", "/api/v2/tasks", {}),
    ]
    assert [body for _, _, _, body in recorder.writes()] == [
        # influxdb-client adds the 1.x-compatibility "rp" of PostBucketRequest itself.
        {"name": "pusher", "orgID": ORG_ID, "rp": "0",
         "retentionRules": [{"type": "expire", "everySeconds": 30 * 86400}]},
        {"name": "pusher_daily", "orgID": ORG_ID, "rp": "0",
         "retentionRules": [{"type": "expire", "everySeconds": 0}]},
        task_body(config, "events"),
        task_body(config, "timings"),
    ]
    before = len(recorder.requests)
    assert ops.setup(config) == [
        "unchanged bucket pusher (retention 30d)",
        "unchanged bucket pusher_daily (retention forever)",
        "unchanged task pusher_rollup_events",
        "unchanged task pusher_rollup_timings",
    ]
    assert all(method == "GET" for method, *_ in recorder.requests[before:])


def test_setup_updates_a_changed_task_and_retention_and_removes_a_dropped_rollup(recorder):
    ops.setup(make_config(recorder.url))
    tasks = {t["name"]: t["id"] for t in recorder.tasks.values()}
    daily_id = next(b["id"] for b in recorder.buckets.values() if b["name"] == "pusher_daily")
    before = len(recorder.writes())
    changed = make_config(recorder.url, events="max", daily_retention="400d",
                          measurements={"events": {"count": "max"}})
    assert ops.setup(changed) == [
        "unchanged bucket pusher (retention 30d)",
        "updated bucket pusher_daily (retention 400d)",
        "updated task pusher_rollup_events",
        "removed task pusher_rollup_timings",
    ]
    assert recorder.writes()[before:] == [
        ("PATCH", f"/api/v2/buckets/{daily_id}", {},
         {"name": "pusher_daily",
          "retentionRules": [{"type": "expire", "everySeconds": 400 * 86400}]}),
        ("PATCH", f"/api/v2/tasks/{tasks['pusher_rollup_events']}", {},
         {"flux": task_body(changed, "events")["flux"]}),
        ("DELETE", f"/api/v2/tasks/{tasks['pusher_rollup_timings']}", {}, None),
    ]


def test_backfill_posts_the_pipeline_over_local_days(recorder):
    config = make_config(recorder.url)
    since = datetime(2026, 10, 24, 12, tzinfo=UTC)
    until = datetime(2026, 10, 26, 6, tzinfo=UTC)
    lines = ops.backfill(config, since, until)
    assert lines[1:] == ["backfilled events", "backfilled timings"]
    start, end = datetime(2026, 10, 23, 22, tzinfo=UTC), datetime(2026, 10, 26, 23, tzinfo=UTC)
    queries = [(p, q, b["query"]) for m, p, q, b in recorder.requests]
    assert queries == [
        ("/api/v2/query", {"org": ["acme"]},
         flux_backfill(config.rollups.measurements[name], config.influx, config.rollups,
                       start, end))
        for name in ("events", "timings")
    ]
    assert "range(start: 2026-10-23T22:00:00Z, stop: 2026-10-26T23:00:00Z)" in queries[0][2]
    # The token goes in the Authorization header, never into what pusher prints.
    assert "s3cret" not in "\n".join(lines)


CSV_HEAD = ("#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,long,"
            "string,string,string,string\r\n#group,false,false,true,true,false,false,true,true,"
            "true,true\r\n#default,_result,,,,,,,,,\r\n"
            ",result,table,_start,_stop,_time,_value,_field,_measurement,granularity,kind\r\n")


def csv(granularity, rows):
    body = "".join(f",,0,2026-09-30T22:00:00Z,2026-10-02T22:00:00Z,{t},{v},count,events,"
                   f"{granularity},signup\r\n" for t, v in rows)
    return CSV_HEAD + body + "\r\n"


def test_verify_reads_both_granularities_with_flux_and_lists_differences():
    hourly = [(f"2026-09-30T{h}:00:00Z", 2) for h in (22, 23)]
    hourly += [(f"2026-10-01T{h:02d}:00:00Z", 1) for h in range(0, 22)]  # 1 October (local)
    hourly += [("2026-10-01T22:00:00Z", 5)]  # 2 October
    daily = [("2026-09-30T22:00:00Z", 26), ("2026-10-01T22:00:00Z", 6)]

    def answer(query):
        return csv("daily", daily) if 'r.granularity == "daily"' in query else csv("hourly",
                                                                                   hourly)

    recorder = Recorder(csv_for=answer)
    try:
        config = make_config(recorder.url, measurements={"events": {"count": "sum"}})
        report = ops.verify(config, datetime(2026, 10, 1, tzinfo=UTC),
                            datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    finally:
        recorder.close()
    assert report.checked == 2
    assert [str(f) for f in report.findings] == [
        "differs  2026-10-02 events,kind=signup count: daily 6, hourly give 5"]
    queries = [b["query"] for _, _, _, b in recorder.requests]
    assert 'from(bucket: "pusher")' in queries[0] and 'from(bucket: "pusher_daily")' in queries[1]


def test_setup_needs_a_daily_bucket_of_its_own():
    config = parse_config({"influx": {"api": "v2", "org": "acme", "bucket": "pusher"}}, {})
    with pytest.raises(ConfigError) as caught:
        ops.setup(config)
    assert caught.value.key == "influx.daily_bucket"
