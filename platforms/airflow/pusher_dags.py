"""Airflow DAGs for pusher: one DAG per enabled source, each run collecting its data interval.

Drop this file in the DAGs folder of an Airflow environment where pusher is installed
(`pip install pusher[all]` on the DAG processor and the workers) and point $PUSHER_CONFIG
at the config (default: a pusher.toml beside this file). Each source becomes DAG
`pusher_<name>` (a name Airflow refuses as an id is sanitised, with a stable suffix); its
one task runs, with the worker's own Python,

    python -m pusher --config CONFIG collect NAME \
        --since <data_interval_start> --until <data_interval_end>

InfluxDB's URL and credentials come from the Airflow Connection `influxdb_default` (when
defined), a source's from the Connection named by `[airflow.sources.NAME] conn_id`;
both are fetched when the task runs. Exit 1 (a source or InfluxDB unreachable) is retried;
a config error fails at once. Catch-up is pusher's own by default (each scheduled run also
collects the windows missed since the source's watermark); `[airflow] catchup = true`
hands it to Airflow from `start_date`. All settings: `[airflow]` in pusher.toml
(pusher.deploy.airflow), docs/deployment.md.

A source that cannot be a DAG becomes an unscheduled DAG whose task fails with the
problem, so it never hides the others; a config that cannot be read at all is one import
error naming the file.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

from pusher.deploy.airflow import dag_specs


def default_config() -> Path:
    return Path(os.environ.get("PUSHER_CONFIG") or Path(__file__).with_name("pusher.toml"))


if find_spec("airflow") is not None:
    from pusher.deploy.airflow_dags import build_dags

    # Airflow collects DAGs from this module's globals.
    globals().update(build_dags(dag_specs(default_config(),
                                          os.environ.get("PUSHER_DAGS_START"))))
