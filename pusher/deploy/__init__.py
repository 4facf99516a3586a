"""How pusher is deployed: schedules as cron, Kubernetes manifests, Airflow DAG specs.

Pure, no I/O. It reads the config file's raw TOML, never the Config, so the config can
use its parsers (the `[airflow]` table, $PUSHER_OVERRIDES). The files users copy or apply
are in platforms/ at the top of the repository; the Airflow DAG file there imports
pusher.deploy.airflow and pusher.deploy.airflow_dags, and those names stay. It imports
only pusher.schedules, pusher.secrets, pusher.reading and pusher.errors.
"""
