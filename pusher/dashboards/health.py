"""The pipeline health dashboard: pusher's own pusher_runs points."""

from __future__ import annotations

from pusher.dashboards import flux
from pusher.dashboards.catalog import Catalog
from pusher.dashboards.grafana import (
    DATASOURCE,
    Json,
    dashboard,
    layout,
    steps,
    target,
    timeseries,
)

TABLE_NUMBERS = ["watermark", "lag", "written", "refused", "spooled"]
# age / schedule interval at which a source counts as stale (issue: "twice its schedule").
STALE_RATIO = 2.0
STATUS_MAPPINGS = [{"type": "value", "options": {
    str(code): {"text": status, "color": color, "index": code}
    for (status, code), color in zip(flux.STATUS_CODES.items(), ("green", "orange", "red"),
                                     strict=True)}}]


def _column(name: str, display: str, properties: list[Json]) -> Json:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "displayName", "value": display}, *properties]}


def _colored(mode: str = "color-background") -> Json:
    return {"id": "custom.cellOptions", "value": {"type": mode}}


def sources_table() -> Json:
    """Per source: last status, age of the last success, staleness, last run's numbers."""
    overrides = [
        _column("source", "Source", []),
        _column("status", "Last status", [{"id": "mappings", "value": STATUS_MAPPINGS},
                                          _colored()]),
        _column("age", "Last success", [{"id": "unit", "value": "s"}, {"id": "decimals",
                                                                       "value": 0}]),
        _column("stale", "Age / schedule", [
            {"id": "unit", "value": "x"}, {"id": "decimals", "value": 2}, _colored(),
            {"id": "thresholds", "value": steps(("green", None), ("orange", 1.5),
                                                ("red", STALE_RATIO))}]),
        _column("watermark", "Complete up to", [{"id": "unit", "value": "dateTimeAsIso"}]),
        _column("lag", "Lag", [{"id": "unit", "value": "s"}, {"id": "decimals", "value": 0}]),
        _column("written", "Written (last run)", []),
        _column("refused", "Refused (last run)", [
            _colored(), {"id": "thresholds", "value": steps(("green", None), ("red", 1))}]),
        _column("spooled", "Spooled", [
            _colored(), {"id": "thresholds", "value": steps(("green", None), ("orange", 1))}]),
    ]
    return {
        "type": "table", "title": "Sources",
        "description": f"Last {flux.RUNS_LOOKBACK[1:]} of pusher_runs. Red when the last "
                       f"success is older than {STALE_RATIO:g} times the source's schedule, "
                       "when the last run failed, or when it had points refused.",
        "datasource": DATASOURCE,
        "targets": [target(flux.health_table(TABLE_NUMBERS, epochs=["watermark"]), "A")],
        "fieldConfig": {"defaults": {"custom": {"align": "auto", "cellOptions": {
            "type": "auto"}}, "color": {"mode": "thresholds"},
            "thresholds": steps(("green", None))}, "overrides": overrides},
        # Flux does not promise the order of the columns of a record: fix it here.
        "transformations": [{"id": "organize", "options": {"indexByName": {
            name: i for i, name in enumerate(["source", "status", "age", "stale",
                                              *TABLE_NUMBERS])}}}],
        "options": {"showHeader": True, "cellHeight": "sm",
                    "sortBy": [{"displayName": "Age / schedule", "desc": True}]},
    }


def pipeline_health(catalog: Catalog) -> Json:
    zone = catalog.timezone
    written = timeseries("Points written", [flux.per_source("written", "sum", zone=zone)],
                         bars=True)
    refused = timeseries("Points refused", [flux.per_source("refused", "sum", zone=zone)],
                         bars=True, description="Refused by InfluxDB: in the dead-letter file.")
    spooled = timeseries("Spool backlog", [flux.per_source("spooled", "last", zone=zone)],
                         calcs=["max", "lastNotNull"],
                         description="Points waiting in the spool after each run.")
    lag = timeseries("Lag behind now", [flux.per_source("lag", "max", zone=zone)], unit="s",
                     calcs=["max", "lastNotNull"],
                     description="From a run's end back to its last completely written "
                                 "window.")
    duration = timeseries("Run duration", [flux.per_source("duration", "max", zone=zone)],
                          unit="s", calcs=["max", "mean", "lastNotNull"])
    return dashboard("pusher-health", "Pipeline health", layout([
        [(sources_table(), 24, 8)], [(written, 12, 8), (refused, 12, 8)],
        [(spooled, 8, 8), (lag, 8, 8), (duration, 8, 8)],
    ]), "pusher's own runs: status, staleness, points written and refused, spool backlog.",
        catalog, granularity=None, time_from="now-2d")
