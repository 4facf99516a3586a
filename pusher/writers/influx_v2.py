"""InfluxDB 2.x write API (/api/v2/write), synchronously over requests.

Synchronous on purpose: a client library's batching mode writes from a background thread
and a short-lived process (cron, a CronJob) can exit before it flushes. Plain requests, as
for 1.x, so that both writers judge InfluxDB's answer the same way (pusher/writers/http.py).
InfluxDB 1.8+ serves the same API: use org "-" and bucket "database/retention_policy",
token "user:password".
"""

from __future__ import annotations

import requests

from pusher.config import InfluxConfig
from pusher.writers.http import HttpWriter


class InfluxV2Writer(HttpWriter):
    def __init__(self, influx: InfluxConfig, session: requests.Session | None = None):
        super().__init__(influx, f"{influx.url.rstrip('/')}/api/v2/write",
                         {"org": influx.org, "precision": influx.precision}, session)
        self.org = influx.org
        if influx.token:
            self.session.headers["Authorization"] = f"Token {influx.token}"

    def destination(self, granularity: str) -> dict[str, str]:
        return {"bucket": self.influx.bucket_for(granularity)}

    def __repr__(self) -> str:
        return f"InfluxV2Writer({self.url!r}, org={self.org!r}, bucket={self.influx.bucket!r})"
