"""Grafana dashboards and alert rules as plain data, rendered to grafana/ by
`pusher dashboards render` for a config's buckets, time zone and measurements (catalog.py).
Pure: building them does no I/O.

May import pusher.rollups (Flux strings), pusher.sources (what a type writes),
pusher.config and pusher.points (the pusher_runs schema); never the runs (pusher/runs/:
an independence contract).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from pusher.dashboards import flux
from pusher.dashboards.alerts import alerting
from pusher.dashboards.boards import acquisition, objects, quality_of_service
from pusher.dashboards.catalog import Catalog
from pusher.dashboards.grafana import DATASOURCE_UID, Json
from pusher.dashboards.health import pipeline_health

__all__ = ["ALERTING_FILE", "BOARDS", "DATASOURCE_UID", "Catalog", "Rendered", "render"]

# File name (under grafana/dashboards/) -> builder.
BOARDS: dict[str, Callable[[Catalog], Json]] = {
    "quality-of-service.json": quality_of_service,
    "acquisition.json": acquisition,
    "objects.json": objects,
    "pipeline-health.json": pipeline_health,
}
ALERTING_FILE = "provisioning/alerting/pusher.yaml"
HEADER = "# Rendered by `pusher dashboards render`; edit pusher/dashboards/, not this file.\n"


def dashboard_json(board: Json) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def alerting_yaml(document: Json) -> str:
    """YAML with multi-line Flux as literal blocks, readable in review."""
    import yaml  # the `k8s`/`all` extra; only rendering needs it

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return HEADER + yaml.dump(document, Dumper=Dumper, sort_keys=False, width=100,
                              allow_unicode=True)


@dataclass
class Rendered:
    files: dict[str, str] = field(default_factory=dict)  # path under grafana/ -> text
    left_out: list[str] = field(default_factory=list)  # what the config lacks, one line each


def render(catalog: Catalog | None = None) -> Rendered:
    """Every dashboard and the alert rules for `catalog` (default: the example config's)."""
    catalog = catalog or Catalog()
    rendered = Rendered()
    for name, build in BOARDS.items():
        board = build(catalog)
        board["panels"] = available(board["panels"], catalog, name, rendered.left_out)
        rendered.files[f"dashboards/{name}"] = dashboard_json(board)
    rendered.files[ALERTING_FILE] = alerting_yaml(alerting(catalog))
    return rendered


def available(panels: list[Json], catalog: Catalog, board: str, notes: list[str]
              ) -> list[Json]:
    """The panels, without the queries of measurements or fields the catalog lacks (and
    without a panel left with none); a note for each."""
    kept = []
    for panel in panels:
        targets: list[Json] = []
        reasons: list[str] = []
        for target in panel["targets"]:
            why = catalog.missing(*flux.reads(target["query"]))
            if why is None:
                targets.append(target | {"refId": chr(ord("A") + len(targets))})
            elif why not in reasons:
                reasons.append(why)
        if reasons:
            what = "left out" if not targets else "without some queries"
            notes.append(f"{board}: panel {panel['title']!r} {what}: {'; '.join(reasons)}")
        if targets:
            kept.append(panel | {"targets": targets})
    return kept
