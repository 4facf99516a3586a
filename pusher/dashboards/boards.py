"""The business dashboards: quality of service, acquisition, objects."""

from __future__ import annotations

from pusher.dashboards import flux
from pusher.dashboards.catalog import Catalog
from pusher.dashboards.grafana import Json, dashboard, layout, right_axis, stat, timeseries

WORKER_STATES = ["active", "idle", "total"]
STAGES = ["browser", "checks", "thumbs", "total"]
QUEUE_DELAY = "queue_delay"
OBJECT_KINDS = ["users", "profiles", "api_keys"]
DAILY_ONLY = {"bucket": flux.DAILY_BUCKET,
              "granularity": '|> filter(fn: (r) => r.granularity == "daily")'}
HOURLY_ONLY = {"bucket": flux.HOURLY_BUCKET,
               "granularity": '|> filter(fn: (r) => r.granularity == "hourly")'}


def quality_of_service(catalog: Catalog) -> Json:
    zone = catalog.timezone  # the local day of the daily points
    workers = timeseries(
        "Crawler workers", [flux.series("workers", WORKER_STATES, "last", zone=zone)],
        description="Worker states (gauges) at the end of each window.")
    means = timeseries(
        "Stage timings (mean)",
        [flux.ratio("timings", "sum", "count", "r.stage",
                    where=flux.tag_test("stage", [*STAGES, QUEUE_DELAY]), zone=zone)],
        unit="s", calcs=["min", "max", "mean", "lastNotNull"],
        overrides=[right_axis(f".*{QUEUE_DELAY}.*", "s")],
        description="Mean seconds per stage (sum / count, exact at both granularities); "
                    "the queue delay on the right-hand axis.")
    p90 = timeseries(
        "Stage timings p90 (hourly points)",
        [flux.series("timings", ["p90"], "max", by="r.stage",
                     where=flux.tag_test("stage", [*STAGES, QUEUE_DELAY]), zone=zone,
                     **HOURLY_ONLY)],
        unit="s", calcs=["min", "max", "mean", "lastNotNull"],
        overrides=[right_axis(f".*{QUEUE_DELAY}.*", "s")],
        description="Percentiles exist for hourly points only: a daily percentile cannot be "
                    "rebuilt from hourly ones. Max of the hourly p90 per panel interval.")
    events = timeseries("Events", [flux.series("events", ["count"], "sum", by="r.kind",
                                               zone=zone)],
                        bars=True, description="Events per kind in each window.")
    return dashboard("pusher-qos", "Quality of service", layout([
        [(workers, 24, 10)], [(means, 24, 10)], [(p90, 12, 9), (events, 12, 9)],
    ]), "Crawler workers, screenshot stage timings and events (pusher, example config).",
        catalog)


def acquisition(catalog: Catalog) -> Json:
    zone = catalog.timezone
    traffic = timeseries(
        "Sessions and hits (Google Analytics, daily)",
        [flux.series("analytics", ["sessions"], "sum", by='"sessions"', zone=zone,
                     **DAILY_ONLY),
         flux.series("analytics", ["screenPageViews"], "sum", by='"hits"', zone=zone,
                     **DAILY_ONLY)],
        bars=True, description="GA4 sessions and page views; daily points only.")
    signups = timeseries(
        "New users and activation rate",
        [flux.series("signups", ["new_users"], "sum", by='"new users"', zone=zone),
         flux.series("signups", ["activated"], "sum", by='"activated"', zone=zone),
         flux.ratio("signups", "activated", "new_users", '"activation rate"', scale=100.0,
                    zone=zone)],
        overrides=[right_axis(".*activation rate.*", "percent")],
        description="Users created per window, how many of them are activated, and "
                    "activated / new users in percent (right-hand axis).")
    totals = stat("Totals over the range", [
        flux.total("analytics", "sessions", "sessions", **DAILY_ONLY),
        flux.total("analytics", "screenPageViews", "hits", **DAILY_ONLY),
        flux.total("analytics", "newUsers", "new users (GA)", **DAILY_ONLY),
        flux.total("signups", "new_users", "signups"),
        flux.total("signups", "activated", "activated"),
    ])
    users = timeseries("Users", [flux.series("objects", ["count"], "last", by='"users"',
                                             where=flux.tag_test("kind", ["users"]), zone=zone)],
                       calcs=["min", "max", "lastNotNull"], description="Users in existence.")
    return dashboard("pusher-acquisition", "Acquisition", layout([
        [(totals, 24, 5)], [(traffic, 12, 10), (signups, 12, 10)], [(users, 24, 8)],
    ]), "Traffic (Google Analytics), signups, activation and user counts.", catalog,
        granularity="daily", time_from="now-30d")


def objects(catalog: Catalog) -> Json:
    zone = catalog.timezone
    counts = timeseries(
        "Objects", [flux.series("objects", ["count"], "last", by="r.kind",
                                where=flux.tag_test("kind", OBJECT_KINDS), zone=zone)],
        calcs=["min", "max", "lastNotNull"], description="Objects in existence per kind.")
    current = stat("Now", [flux.series("objects", ["count"], "last", by="r.kind",
                                       where=flux.tag_test("kind", OBJECT_KINDS), zone=zone)])
    return dashboard("pusher-objects", "Objects", layout([
        [(current, 24, 5)], [(counts, 24, 12)],
    ]), "Users, profiles and API keys over time.", catalog, time_from="now-30d")
