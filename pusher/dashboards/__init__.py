"""Grafana dashboards and alert rules as plain data, rendered to grafana/ by
`pusher dashboards render`. Pure: building them does no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable

from pusher.dashboards.alerts import alerting
from pusher.dashboards.boards import acquisition, objects, quality_of_service
from pusher.dashboards.grafana import DATASOURCE_UID, Json
from pusher.dashboards.health import pipeline_health

__all__ = ["ALERTING_FILE", "BOARDS", "DATASOURCE_UID", "rendered_files"]

# File name (under grafana/dashboards/) -> builder.
BOARDS: dict[str, Callable[[], Json]] = {
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


def rendered_files() -> dict[str, str]:
    """Path relative to grafana/ -> text, for every rendered file."""
    files = {f"dashboards/{name}": dashboard_json(build()) for name, build in BOARDS.items()}
    files[ALERTING_FILE] = alerting_yaml(alerting())
    return files
