"""The Airflow side of pusher's DAGs: DAG objects from DagSpecs, and the task that runs pusher.

Imported only where Airflow is installed (the DAG file checks first). The task runs
`python -m pusher collect` with the interpreter that runs the task, for exactly the run's
data interval; it fetches the Airflow Connections when it runs and passes their values in
$PUSHER_OVERRIDES, so no secret is in the DAG, its rendered templates or the logs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

from pusher.deploy.airflow import DagSpec
from pusher.deploy.airflow_connections import influx_values, secrets_of, source_values
from pusher.deploy.overrides import OVERRIDES_VAR

log = logging.getLogger(__name__)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # pusher's exit codes (pusher.commands)
STOP_GRACE = 10.0  # seconds between asking pusher to stop and killing it


def build_dags(specs: list[DagSpec]) -> dict[str, Any]:
    """The DAG objects by dag_id; a source that cannot be a DAG gets one that says why."""
    dags = {}
    for spec in specs:
        try:
            dags[spec.dag_id] = _broken_dag(spec) if spec.error else _dag(spec)
        except Exception as exc:  # Airflow refused it: the other sources still load
            dags[spec.dag_id] = _broken_dag(spec, f"{type(exc).__name__}: {exc}")
    return dags


def _dag(spec: DagSpec) -> Any:
    import pendulum
    from airflow.timetables.interval import CronDataIntervalTimetable

    DAG, PythonOperator = _airflow()
    settings = spec.settings
    # Explicitly an interval timetable: Airflow 3 reads a bare cron string as a trigger
    # with no interval (data_interval_start == data_interval_end).
    timetable = CronDataIntervalTimetable(spec.schedule, timezone=spec.timezone)
    with DAG(dag_id=spec.dag_id, schedule=timetable,
             start_date=pendulum.parse(settings.start_date, tz=spec.timezone),
             catchup=settings.catchup, max_active_runs=spec.max_active_runs,
             description=f"pusher collect {spec.source} ({spec.config})",
             tags=["pusher", spec.granularity],
             default_args={"retries": settings.retries,
                           "retry_delay": timedelta(seconds=settings.retry_delay)}) as dag:
        PythonOperator(task_id="collect", python_callable=collect_task,
                       execution_timeout=timedelta(seconds=spec.execution_timeout),
                       # Names only: the values are fetched when the task runs.
                       op_kwargs={"source": spec.source, "config": spec.config,
                                  "source_type": spec.source_type,
                                  "influx_conn_id": settings.influx_conn_id,
                                  "conn_id": settings.conn_id,
                                  "timeout": spec.run_timeout,
                                  # Without Airflow's catch-up, pusher's watermark fills gaps.
                                  "catch_up": not settings.catchup})
    return dag


def _broken_dag(spec: DagSpec, error: str | None = None) -> Any:
    """An unscheduled DAG whose one task fails at once with the problem, without retries."""
    import pendulum

    DAG, PythonOperator = _airflow()
    problem = error or spec.error or "unknown problem"
    with DAG(dag_id=spec.dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1),
             description=problem[:200], tags=["pusher", "pusher-config-error"]) as dag:
        PythonOperator(task_id="collect", python_callable=refuse,
                       op_kwargs={"problem": problem}, retries=0)
    return dag


def _airflow() -> tuple[Any, Any]:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2
        from airflow import DAG
    try:
        from airflow.providers.standard.operators.python import PythonOperator
    except ImportError:  # Airflow 2 without the standard provider
        from airflow.operators.python import PythonOperator
    return DAG, PythonOperator


def _exceptions() -> tuple[type[Exception], type[Exception], type[Exception]]:
    """AirflowException (retried), AirflowFailException (not retried), AirflowNotFoundException."""
    try:
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
        )
    except ImportError:  # Airflow 2
        from airflow.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
        )
    return AirflowException, AirflowFailException, AirflowNotFoundException


def refuse(problem: str) -> None:
    """The task of a source that cannot be a DAG: fail at once, without retries."""
    raise _exceptions()[1](problem)


def collect_task(source: str, config: str, source_type: str, influx_conn_id: str,
                 conn_id: str, catch_up: bool, data_interval_start: datetime,
                 data_interval_end: datetime, dag_run: Any = None,
                 timeout: float | None = None) -> None:
    """Run `pusher collect` for the data interval; exit 1 is retried, anything else fails."""
    retryable, permanent, _ = _exceptions()
    # The worker's own $PUSHER_CONFIG wins: the DAG processor's path may not exist here.
    path = os.environ.get("PUSHER_CONFIG") or config
    scheduled = getattr(dag_run, "run_type", "") == "scheduled"
    argv = collect_argv(path, source, data_interval_start, data_interval_end,
                        catch_up and scheduled, timeout)
    env = dict(os.environ)
    overrides = connection_overrides(source, source_type, influx_conn_id, conn_id)
    if overrides:
        env[OVERRIDES_VAR] = json.dumps(overrides)
    log.info("running %s", " ".join(argv))
    code, last = run_pusher(argv, env)
    verdict = exit_verdict(code)
    if verdict == "retry":
        raise retryable(f"pusher exited {code} (retried): {last}")
    if verdict == "fail":
        kind = "usage or config error" if code == EXIT_USAGE else "pusher could not run"
        raise permanent(f"pusher exited {code}: {kind} (not retried): {last}")


def collect_argv(config: str, source: str, since: datetime, until: datetime,
                 catch_up: bool, timeout: float | None = None) -> list[str]:
    """The command for one data interval, with this interpreter (never a bare `pusher`);
    `timeout`: the run's own, in seconds (the task's execution_timeout is that plus the
    grace)."""
    argv = [sys.executable, "-m", "pusher", "--config", config, "collect", source]
    if timeout:
        argv += ["--timeout", f"{timeout:g}"]
    argv += ["--since", since.isoformat(), "--until", until.isoformat()]
    return [*argv, "--catch-up"] if catch_up else argv


def exit_verdict(code: int) -> str:
    """"ok", "retry" (exit 1: transient, or killed by a signal) or "fail" (2, 126, 127...)."""
    if code == EXIT_OK:
        return "ok"
    return "retry" if code == EXIT_FAILED or code < 0 else "fail"


def connection_overrides(source: str, source_type: str, influx_conn_id: str,
                         conn_id: str) -> dict[str, Any]:
    """Config tables from the Connections; a missing influx connection leaves [influx] as is."""
    _, permanent, not_found = _exceptions()
    overrides: dict[str, Any] = {}
    if influx_conn_id:
        try:
            overrides["influx"] = influx_values(_connection(influx_conn_id))
        except not_found:
            log.info("no Airflow Connection %r: [influx] as written in the config",
                     influx_conn_id)
    if conn_id:
        try:
            values = source_values(source_type, _connection(conn_id))
        except not_found:
            raise permanent(f"no Airflow Connection {conn_id!r} (airflow.sources.{source}"
                            ".conn_id)") from None
        overrides["sources"] = {source: values}
    return overrides


def _connection(conn_id: str) -> Any:
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 2
        from airflow.hooks.base import BaseHook
    conn = BaseHook.get_connection(conn_id)
    _mask(secrets_of(conn))
    return conn


def _mask(secrets: list[str]) -> None:
    """Airflow's own masking of task logs, beside pusher's redaction of its output."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # Airflow 2
        from airflow.utils.log.secrets_masker import mask_secret
    for secret in secrets:
        mask_secret(secret)


def run_pusher(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run pusher, its output line by line into the task log: (exit code, last line).

    When the task is stopped (Airflow's execution_timeout raises in this process, or the
    task is killed), pusher is asked to stop, then killed: the run never outlives its task.
    """
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    last = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            log.info("%s", line)
            last = line.strip() or last
        return proc.wait(), last
    except BaseException:
        proc.terminate()
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
