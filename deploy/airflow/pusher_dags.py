"""Airflow DAGs for pusher: one DAG per enabled source, each run collecting its data interval.

Drop this file in the DAGs folder of an Airflow environment where pusher is installed
(`pip install pusher[all]`) and point $PUSHER_CONFIG at the config (default: a
pusher.toml beside this file). Each source becomes DAG `pusher_<name>` with the
source's schedule as cron in the config's timezone, `catchup=True` and
`max_active_runs=1`; its one task runs

    pusher --config CONFIG collect NAME --since <data_interval_start> --until <data_interval_end>

so Airflow's catch-up, clear and backfill re-run exactly the windows of those
intervals, and since every point is stamped with its window start, a re-run
overwrites instead of duplicating. $PUSHER_DAGS_START (ISO date, default below) is
where catch-up begins.

The spec building (`dag_specs`) needs only the standard library and pusher; Airflow
is imported only by `build_dags`, so the specs are testable without Airflow.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pusher.deploy.schedules import enabled_sources, to_cron

DEFAULT_START = "2026-11-01"
# Airflow renders these per run: the interval [start, end) this run is responsible for.
SINCE = "{{ data_interval_start.isoformat() }}"
UNTIL = "{{ data_interval_end.isoformat() }}"


def default_config() -> Path:
    return Path(os.environ.get("PUSHER_CONFIG") or Path(__file__).with_name("pusher.toml"))


def dag_specs(config: Path, start_date: str = DEFAULT_START) -> list[dict[str, Any]]:
    """One plain dict per enabled source: dag_id, schedule, timezone, command, and so on."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    timezone = str(data.get("pusher", {}).get("timezone", "UTC"))
    specs = []
    for job in enabled_sources(data, str(config)):
        # The interval is named by Airflow itself, so no settling delay: a run starts
        # when its interval ends.
        cron = to_cron(job.schedule, job.granularity).cron
        command = (f"pusher --config {shlex.quote(str(config))} collect "
                   f"{shlex.quote(job.name)} --since '{SINCE}' --until '{UNTIL}'")
        specs.append({
            "dag_id": f"pusher_{job.name}",
            "schedule": cron,
            "timezone": timezone,
            "start_date": start_date,
            "catchup": True,
            "max_active_runs": 1,
            "retries": 2,
            "retry_delay": timedelta(minutes=5),
            "tags": ["pusher", job.granularity.value],
            "command": command,
        })
    return specs


def build_dags(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """The Airflow DAG objects for `specs`, by dag_id (Airflow 2.x and 3.x)."""
    import pendulum

    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow import DAG
    try:
        from airflow.providers.standard.operators.bash import BashOperator
    except ImportError:  # Airflow 2 without the standard provider
        from airflow.operators.bash import BashOperator
    from airflow.timetables.interval import CronDataIntervalTimetable

    dags = {}
    for spec in specs:
        start = pendulum.parse(spec["start_date"], tz=spec["timezone"])
        # Explicitly an interval timetable: Airflow 3 reads a bare cron string as a trigger
        # with no interval (data_interval_start == data_interval_end).
        timetable = CronDataIntervalTimetable(spec["schedule"], timezone=spec["timezone"])
        with DAG(dag_id=spec["dag_id"], schedule=timetable, start_date=start,
                 catchup=spec["catchup"], max_active_runs=spec["max_active_runs"],
                 tags=spec["tags"], default_args={"retries": spec["retries"],
                                                  "retry_delay": spec["retry_delay"]}) as dag:
            BashOperator(task_id="collect", bash_command=spec["command"])
        dags[spec["dag_id"]] = dag
    return dags


if find_spec("airflow") is not None:
    # Airflow collects DAGs from this module's globals.
    globals().update(build_dags(dag_specs(default_config(),
                                          os.environ.get("PUSHER_DAGS_START", DEFAULT_START))))
