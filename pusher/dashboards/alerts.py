"""Grafana unified alerting rules (file provisioning, apiVersion 1) on pusher_runs, in Flux."""

from __future__ import annotations

from pusher.dashboards import flux
from pusher.dashboards.catalog import Catalog
from pusher.dashboards.grafana import DATASOURCE_UID, Json
from pusher.dashboards.health import STALE_RATIO
from pusher.points.quoting import flux_string

FOLDER = "pusher"
GROUP = "pusher"

FAILING = flux.runs() + """runs
    |> filter(fn: (r) => r._field == "status")
    |> group(columns: ["source"])
    |> last()
    |> map(fn: (r) => ({_time: r._time, source: r.source, _value: if r._value == "failed" then 1.0 else 0.0}))
"""  # noqa: E501

STALE = flux.last_runs([]) + """    |> filter(fn: (r) => exists r.interval and r.interval > 0.0)
    |> map(fn: (r) => ({_time: now(), source: r.source, _value: if exists r.last_success then (nowSeconds - r.last_success) / r.interval else 1000000.0}))
    |> group(columns: ["source"])
"""  # noqa: E501

REFUSED = flux.runs() + """runs
    |> filter(fn: (r) => r._field == "refused")
    |> toFloat()
    |> group(columns: ["source"])
    |> sum()
    |> map(fn: (r) => ({_time: now(), source: r.source, _value: r._value}))
"""


def _query(flux_text: str, seconds: int, catalog: Catalog) -> Json:
    # Grafana substitutes dashboard variables only in dashboards: rules name the buckets.
    buckets = {flux.HOURLY_BUCKET: catalog.bucket, flux.DAILY_BUCKET: catalog.daily_bucket}
    for name, value in buckets.items():
        flux_text = flux_text.replace(name, flux_string(value))
    return {"refId": "A", "relativeTimeRange": {"from": seconds, "to": 0},
            "datasourceUid": DATASOURCE_UID,
            "model": {"refId": "A", "query": flux_text, "intervalMs": 60000,
                      "maxDataPoints": 43200}}


def _expression(ref: str, model: Json) -> Json:
    return {"refId": ref, "datasourceUid": "__expr__",
            "model": {"refId": ref, "datasource": {"type": "__expr__", "uid": "__expr__"},
                      **model}}


def rule(uid: str, title: str, query: str, seconds: int, above: float, summary: str,
         catalog: Catalog, severity: str = "warning") -> Json:
    """Query A -> reduce B (last per source) -> threshold C (B > above): fires per source."""
    return {
        "uid": uid, "title": title, "condition": "C",
        "data": [
            _query(query, seconds, catalog),
            _expression("B", {"type": "reduce", "expression": "A", "reducer": "last",
                              "settings": {"mode": "dropNN"}}),
            _expression("C", {"type": "threshold", "expression": "B", "conditions": [
                {"evaluator": {"type": "gt", "params": [above]}}]}),
        ],
        "noDataState": "OK", "execErrState": "Error", "for": "0s", "isPaused": False,
        "annotations": {"summary": summary},
        "labels": {"team": "pusher", "severity": severity},
    }


def alerting(catalog: Catalog) -> Json:
    """The alerting provisioning document: one rule group, one folder."""
    return {"apiVersion": 1, "groups": [{
        "orgId": 1, "name": GROUP, "folder": FOLDER, "interval": "5m", "rules": [
            rule("pusher-source-failing", "pusher source failing", FAILING, 2 * 86400, 0.0,
                 "The last run of {{ $labels.source }} failed.", catalog, "critical"),
            rule("pusher-source-stale", "pusher source stale", STALE, 30 * 86400,
                 STALE_RATIO, f"{{{{ $labels.source }}}} has had no successful run for more "
                 f"than {STALE_RATIO:g} times its schedule.", catalog),
            rule("pusher-points-refused", "pusher points refused", REFUSED, 3 * 3600, 0.0,
                 "InfluxDB refused points of {{ $labels.source }} in the last 3 hours: see "
                 "the dead-letter file.", catalog),
        ]}]}
