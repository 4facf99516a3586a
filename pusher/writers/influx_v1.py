"""InfluxDB 1.x write API (/write)."""

from __future__ import annotations

import requests

from pusher.config import InfluxConfig
from pusher.writers.http import HttpWriter


class InfluxV1Writer(HttpWriter):
    def __init__(self, influx: InfluxConfig, session: requests.Session | None = None):
        super().__init__(influx, f"{influx.url.rstrip('/')}/write",
                         {"db": influx.database, "precision": influx.precision}, session)

    def configure(self, session: requests.Session) -> requests.Session:
        session = super().configure(session)
        if self.influx.username or self.influx.password:
            # Basic auth rather than u=/p= parameters: URLs end up in logs, headers do not.
            session.auth = (self.influx.username, self.influx.password)
        return session

    def destination(self, granularity: str) -> dict[str, str]:
        policy = self.influx.retention_policy_for(granularity)
        return {"rp": policy} if policy else {}

    def __repr__(self) -> str:
        return f"InfluxV1Writer({self.url!r}, db={self.params['db']!r})"
