"""`pusher init`: a commented starter pusher.toml for a target and source types (pure text).

Every value the starter writes is one `pusher validate` accepts once the servers exist:
InfluxDB at the given URL (`pusher setup` creates the database or bucket), Prometheus at
$PROMETHEUS_URL, the database at $DATABASE_URL with a `users` table, and for 2.x the org and
token in $INFLUX_ORG and $INFLUX_TOKEN (secrets stay out of the file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

STARTER_TYPES = ("python", "prometheus", "sql", "google-analytics")
PYTHON_MODULE = "my_metrics.py"

_HEAD = """\
# pusher.toml, written by `pusher init`. Next steps:
#   pusher setup      create the {where} points go to
#   pusher validate   run every query once on the last minutes: what collect would write
#   pusher collect --all
# Every key is described in the README ("Configuration"). Relative paths are relative to
# this file; ${{VAR}} is read from the environment (${{VAR:-default}} gives a default).

[pusher]
state_dir = ".pusher"   # spool, dead-letter file, watermarks
timezone = "UTC"        # where the days of daily windows begin

[influx]
url = "{url}"
"""

_V1 = """\
api = "v1"
database = {name}  # `pusher setup` creates it
# username = "pusher"   # when InfluxDB has auth-enabled: a user that may write and read
# password = "${INFLUX_PASSWORD}"
"""

_V2 = """\
api = "v2"
org = "${INFLUX_ORG}"
bucket = {name}  # `pusher setup` creates it
token = "${INFLUX_TOKEN}"  # may write and read the bucket (docs/operations.md, "Tokens")
"""

_SOURCES = {
    "python": """
# A Python function beside this file ({module}): it yields readings for a window.
[sources.disk]
type = "python"
callable = "my_metrics:measure"
granularity = "hourly"  # or "daily": the tag every point carries
path = "."              # every other key is passed to the function
""",
    "prometheus": """
# PromQL, evaluated at the end of each window; the labels become tags.
[sources.prometheus]
type = "prometheus"
url = "${PROMETHEUS_URL:-http://127.0.0.1:9090}"
[[sources.prometheus.queries]]
query = 'count by (job) (up == 1)'  # $__range is the window's length (increase(x[$__range]))
measurement = "targets_up"
field = "count"
""",
    "sql": """
# SQL over each window, :start and :end bound to it (docs/sources-sql.md). Edit the query:
# `pusher validate` says if the table or a column is missing.
[sources.database]
type = "sql"
url = "${DATABASE_URL:-sqlite:///app.sqlite}"
[[sources.database.queries]]
sql = "SELECT count(*) AS count FROM users WHERE created_at >= :start AND created_at < :end"
measurement = "signups"
""",
    "google-analytics": """
# Google Analytics 4 reports (docs/sources-google-analytics.md).
[sources.analytics]
type = "google-analytics"
granularity = "daily"
property = "123456789"  # your GA4 property id
credentials = "default" # or a service account key file beside this one
metrics = ["sessions", "newUsers"]
dimensions = ["date"]
""",
}

PYTHON_SOURCE = '''\
"""A python source for pusher, written by `pusher init`: edit it to read your own numbers."""

import shutil

from pusher import Reading, Window


def measure(window: Window, path: str = "."):
    """Bytes used and free on the disk that holds `path`, read when the window is collected."""
    usage = shutil.disk_usage(path)
    yield Reading("disk", {"used_bytes": usage.used, "free_bytes": usage.free}, {"path": path})
'''


def starter_config(types: Sequence[str], influx_url: str, api: str, name: str = "pusher"
                   ) -> str:
    """The text of a starter pusher.toml for InfluxDB at `influx_url` (api "v1" or "v2"),
    writing to the database or bucket `name`."""
    text = _HEAD.format(where="database" if api == "v1" else "bucket", url=influx_url)
    text += (_V1 if api == "v1" else _V2).replace("{name}", _toml_string(name))
    for kind in dict.fromkeys(types):
        text += _SOURCES[kind].replace("{module}", PYTHON_MODULE)
    return text


def _toml_string(text: str) -> str:
    """A TOML basic string that the config loader reads back as `text`: JSON's escapes are
    TOML's (DEL is the one JSON leaves bare), and "$$" is a "$" after ${VAR} substitution."""
    return json.dumps(text.replace("$", "$$"), ensure_ascii=False).replace("\x7f", "\\u007f")
