"""InfluxDB 2.x write API (/api/v2/write) through influxdb-client's WriteService, synchronously.

Synchronous on purpose: the client's batching mode writes from a background thread and a
short-lived process (cron, a CronJob) can exit before it flushes. The generated service is
called with its HTTP info so that the answer is judged by the same rule as 1.x's
(pusher/writers/http.py: only 204 acknowledges); the client's write_api would count any
2xx, a proxy's login page included, as written. InfluxDB 1.8+ serves the same API: use
org "-" and bucket "database/retention_policy", token "user:password".
"""

from __future__ import annotations

from functools import partial
from typing import Any

from influxdb_client import InfluxDBClient, WriteService
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

from pusher.bounded import RequestTimedOut, call_within, track_pools
from pusher.config import InfluxConfig
from pusher.writers import Unreachable, cause_name
from pusher.writers.http import judge


class InfluxV2Writer:
    def __init__(self, influx: InfluxConfig):
        self.url = f"{influx.url.rstrip('/')}/api/v2/write"
        self.influx = influx
        self.org = influx.org
        # retries=False: delivery.py retries, with the spool's bookkeeping; it also keeps
        # urllib3 from following a redirect to a login page, which is then judged as is.
        self.client = InfluxDBClient(
            url=influx.url, token=influx.token, org=influx.org,
            timeout=int(influx.timeout * 1000), enable_gzip=influx.gzip,
            verify_ssl=influx.verify_ssl, retries=False,
        )
        self.service = WriteService(self.client.api_client)
        # `[influx] timeout` bounds each request whole (call_within shuts its socket down).
        track_pools(self.client.api_client.rest_client.pool_manager)

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        try:
            status, answered, text = call_within(
                self.influx.timeout, partial(self._post, body, granularity))
        except RequestTimedOut as exc:
            raise Unreachable("Timeout", self.url) from exc
        except ApiException as exc:
            text = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) \
                else str(exc.body or exc.reason or "")
            # The client raises for every status outside 2xx, a redirect included.
            judge(int(exc.status or 0), exc.headers or {}, text, self.url)
            raise AssertionError("judge returns only on 204") from None
        except (HTTPError, OSError) as exc:
            raise Unreachable(cause_name(exc), self.url) from exc
        judge(status, answered, text, self.url)

    def _post(self, body: bytes, granularity: str) -> tuple[int, Any, str]:
        """(status, headers, body) of one write, the body read whole."""
        answer, status, answered = self.service.post_write_with_http_info(
            self.org, self.influx.bucket_for(granularity), body,
            precision=self.influx.precision, content_type="text/plain; charset=utf-8",
            _return_http_data_only=False, _preload_content=False)
        return status, answered, answer.data.decode(errors="replace")

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"InfluxV2Writer({self.url!r}, org={self.org!r}, bucket={self.influx.bucket!r})"
