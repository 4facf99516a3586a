"""InfluxDB 2.x write API (/api/v2/write) through influxdb-client, synchronously.

Synchronous on purpose: the client's batching mode writes from a background thread and a
short-lived process (cron, a CronJob) can exit before it flushes. InfluxDB 1.8+ serves the
same API: use org "-" and bucket "database/retention_policy", token "user:password".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from pusher.config import InfluxConfig
from pusher.writers import ServerAnswer, Unreachable

_PRECISIONS: dict[str, Any] = {
    "s": WritePrecision.S, "ms": WritePrecision.MS,
    "us": WritePrecision.US, "ns": WritePrecision.NS,
}


class InfluxV2Writer:
    def __init__(self, influx: InfluxConfig):
        self.url = influx.url
        self.influx = influx
        self.org = influx.org
        self.precision = _PRECISIONS[influx.precision]
        self.client = InfluxDBClient(
            url=influx.url, token=influx.token, org=influx.org,
            timeout=int(influx.timeout * 1000), enable_gzip=influx.gzip,
            verify_ssl=influx.verify_ssl, retries=False,
        )
        self.api = self.client.write_api(write_options=SYNCHRONOUS)

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        try:
            self.api.write(self.influx.bucket_for(granularity), self.org, record=body,
                           write_precision=self.precision)
        except ApiException as exc:
            headers: Mapping[str, str] = exc.headers or {}
            raise ServerAnswer(int(exc.status or 0), _message(exc),
                               headers.get("Retry-After")) from None
        except (HTTPError, OSError) as exc:
            raise Unreachable(f"{type(exc).__name__} posting to {self.url}") from exc

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"InfluxV2Writer({self.url!r}, org={self.org!r}, bucket={self.influx.bucket!r})"


def _message(exc: ApiException) -> str:
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    if body:
        try:
            return str(json.loads(body).get("message", body))
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(exc.reason or "no reason given")
