"""InfluxDB 1.x write API (/write) through requests."""

from __future__ import annotations

import gzip

import requests

from pusher.config import InfluxConfig
from pusher.writers import ServerAnswer, Unreachable


class InfluxV1Writer:
    def __init__(self, influx: InfluxConfig, session: requests.Session | None = None):
        self.url = f"{influx.url.rstrip('/')}/write"
        self.influx = influx
        self.params = {"db": influx.database, "precision": influx.precision}
        self.timeout = influx.timeout
        self.session = session or requests.Session()
        self.session.verify = influx.verify_ssl
        self.gzip = influx.gzip
        self.session.headers["Content-Type"] = "text/plain; charset=utf-8"
        if influx.username or influx.password:
            # Basic auth rather than u=/p= parameters: URLs end up in logs, headers do not.
            self.session.auth = (influx.username, influx.password)

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        headers = {"Content-Encoding": "gzip"} if self.gzip else None
        params = dict(self.params)
        if policy := self.influx.retention_policy_for(granularity):
            params["rp"] = policy
        if self.gzip:
            body = gzip.compress(body, compresslevel=1)
        try:
            response = self.session.post(self.url, params=params, data=body,
                                         headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unreachable(f"{type(exc).__name__} posting to {self.url}") from exc
        if response.status_code >= 300:
            raise ServerAnswer(response.status_code, _reason(response),
                               response.headers.get("Retry-After"))

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:
        return f"InfluxV1Writer({self.url!r}, db={self.params['db']!r})"


def _reason(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.text.strip()))
    except ValueError:
        return response.text.strip()[:500] or response.reason
