"""Grafana dashboard JSON (schema 39) as plain dicts: panels, variables, dashboards. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pusher.dashboards.catalog import Catalog
from pusher.points.quoting import flux_string

Json = dict[str, Any]

DATASOURCE_UID = "pusher-influxdb"
DATASOURCE: Json = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
LEGEND_CALCS = ["min", "max", "mean", "lastNotNull", "sum"]
SERIES_NAME = "${__field.labels.series}"  # every query names its series in a `series` column


def target(query: str, ref: str) -> Json:
    return {"refId": ref, "datasource": DATASOURCE, "query": query}


def targets(queries: Sequence[str]) -> list[Json]:
    return [target(q, chr(ord("A") + i)) for i, q in enumerate(queries)]


def right_axis(pattern: str, unit: str | None = None) -> Json:
    """An override moving the series whose name matches `pattern` to a right-hand axis."""
    properties: list[Json] = [{"id": "custom.axisPlacement", "value": "right"}]
    if unit:
        properties.append({"id": "unit", "value": unit})
    return {"matcher": {"id": "byRegexp", "options": pattern}, "properties": properties}


def timeseries(title: str, queries: Sequence[str], unit: str = "short",
               calcs: Sequence[str] = LEGEND_CALCS, overrides: Sequence[Json] = (),
               description: str = "", bars: bool = False) -> Json:
    """A time series panel with a legend table of `calcs`."""
    custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
              "fillOpacity": 60 if bars else 10, "showPoints": "auto", "spanNulls": True,
              "axisPlacement": "auto"}
    return {
        "type": "timeseries", "title": title, "description": description,
        "datasource": DATASOURCE, "targets": targets(queries),
        "fieldConfig": {"defaults": {"unit": unit, "displayName": SERIES_NAME,
                                     "color": {"mode": "palette-classic"}, "custom": custom},
                        "overrides": list(overrides)},
        "options": {"legend": {"showLegend": True, "displayMode": "table",
                               "placement": "bottom", "calcs": list(calcs)},
                    "tooltip": {"mode": "multi", "sort": "none"}},
    }


def stat(title: str, queries: Sequence[str], unit: str = "short", description: str = "") -> Json:
    """One number per query (the last value of each series)."""
    return {
        "type": "stat", "title": title, "description": description,
        "datasource": DATASOURCE, "targets": targets(queries),
        "fieldConfig": {"defaults": {"unit": unit, "displayName": SERIES_NAME,
                                     "color": {"mode": "thresholds"},
                                     "thresholds": {"mode": "absolute", "steps": [
                                         {"color": "blue", "value": None}]}},
                        "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "textMode": "value_and_name", "colorMode": "value", "graphMode": "none",
                    "justifyMode": "auto", "orientation": "auto"},
    }


def steps(*pairs: tuple[str, float | None]) -> Json:
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in pairs]}


def layout(rows: Sequence[Sequence[tuple[Json, int, int]]]) -> list[Json]:
    """Place panels: rows of (panel, width, height) on Grafana's 24-column grid; number them."""
    panels: list[Json] = []
    y = 0
    for row in rows:
        x = 0
        for panel, width, height in row:
            panels.append({"id": len(panels) + 1,
                           "gridPos": {"h": height, "w": width, "x": x, "y": y}, **panel})
            x += width
        y += max(height for _, _, height in row)
    return panels


def custom_variable(name: str, values: Sequence[str], label: str, current: str) -> Json:
    options = [{"selected": v == current, "text": v, "value": v} for v in values]
    return {"type": "custom", "name": name, "label": label, "query": ",".join(values),
            "current": {"selected": True, "text": current, "value": current},
            "options": options, "multi": False, "includeAll": False, "hide": 0,
            "skipUrlSync": False}


def constant(name: str, value: str, description: str) -> Json:
    """A hidden variable (Dashboard settings > Variables) so a user can rename buckets."""
    return {"type": "constant", "name": name, "description": description, "query": value,
            "current": {"selected": True, "text": value, "value": value},
            "options": [{"selected": True, "text": value, "value": value}], "hide": 2,
            "skipUrlSync": False}


def variables(catalog: Catalog, granularity: str | None = "hourly") -> list[Json]:
    """The granularity picker (starting at `granularity`; None: no picker) and the buckets
    (the config's; a user can change them in Grafana)."""
    found = [custom_variable("granularity", ["hourly", "daily"], "Granularity", granularity)] \
        if granularity else []
    # Grafana pastes a variable's text as it is into `"${bucket}"`: the value is the bucket
    # name as written inside a Flux string (a\\b for a\b), so the query names it exactly.
    return [
        *found,
        constant("bucket", in_flux_string(catalog.bucket),
                 "InfluxDB bucket of the hourly points ([influx] bucket)"),
        constant("daily_bucket", in_flux_string(catalog.daily_bucket),
                 "InfluxDB bucket of the daily points ([influx] daily_bucket)"),
    ]


def in_flux_string(text: str) -> str:
    """`text` as it stands between the quotes of a Flux string literal."""
    return flux_string(text)[1:-1]


def dashboard(uid: str, title: str, panels: list[Json], description: str, catalog: Catalog,
              granularity: str | None = "hourly", time_from: str = "now-7d") -> Json:
    """A whole dashboard; uid and title stay fixed so links and provisioning stay stable."""
    return {
        "uid": uid, "title": title, "description": description, "tags": ["pusher"],
        "editable": True, "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1,
        "time": {"from": time_from, "to": "now"}, "timezone": "browser", "refresh": "5m",
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": []}, "links": [],
        "templating": {"list": variables(catalog, granularity)}, "panels": panels,
    }
