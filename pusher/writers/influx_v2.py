"""InfluxDB 2.x write API (/api/v2/write) through influxdb-client's WriteService, synchronously.

Synchronous on purpose: the client's batching mode writes from a background thread and a
short-lived process (cron, a CronJob) can exit before it flushes. The generated service is
called with its HTTP info so that the answer is judged by the same rule as 1.x's
(pusher/writers/http.py: only 204 acknowledges); the client's write_api would count any
2xx, a proxy's login page included, as written. InfluxDB 1.8+ serves the same API: use
org "-" and bucket "database/retention_policy", token "user:password".
"""

from __future__ import annotations

from influxdb_client import InfluxDBClient, WriteService
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError

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

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        try:
            answer, status, answered = self.service.post_write_with_http_info(
                self.org, self.influx.bucket_for(granularity), body,
                precision=self.influx.precision, content_type="text/plain; charset=utf-8",
                _return_http_data_only=False, _preload_content=False)
        except ApiException as exc:
            text = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) \
                else str(exc.body or exc.reason or "")
            # The client raises for every status outside 2xx, a redirect included.
            judge(int(exc.status or 0), exc.headers or {}, text, self.url)
            raise AssertionError("judge returns only on 204") from None
        except (HTTPError, OSError) as exc:
            raise Unreachable(cause_name(exc), self.url) from exc
        judge(status, answered, answer.data.decode(errors="replace"), self.url)

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"InfluxV2Writer({self.url!r}, org={self.org!r}, bucket={self.influx.bucket!r})"
