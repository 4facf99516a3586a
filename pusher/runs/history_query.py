"""Reading pusher_runs back from InfluxDB: a source's watermark and its last run.

1.x through InfluxQL on /query; 2.x through Flux on /api/v2/query (annotated CSV without
annotations). Both over plain requests, so that both are checked by exact-request tests.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime
from typing import Any

import requests

from pusher.bounded import BoundedSession
from pusher.config import InfluxConfig
from pusher.errors import PusherError
from pusher.points.pusher_runs import RUN_MEASUREMENT
from pusher.points.quoting import flux_string, influxql_ident, influxql_string
from pusher.writers import cause_name, one_line, with_setup_hint

log = logging.getLogger(__name__)
LAST_RUN_LOOKBACK = "-30d"  # Flux range for `pusher status --from-influx`


class RunQuery:
    def __init__(self, influx: InfluxConfig, session: requests.Session | None = None):
        self.influx = influx
        self.session = session

    def watermark(self, source: str, granularity: str) -> datetime | None:
        """The source's last watermark, or None (also when InfluxDB cannot be asked)."""
        try:
            if self.influx.api == "v1":
                rows = self._influxql(f'SELECT last("watermark") AS "watermark" FROM '
                                      f"{self._from(granularity)} WHERE {self._is(source)}")
            else:
                rows = self._flux(
                    f'{self._runs(granularity, "0", source)}'
                    '  |> filter(fn: (r) => r._field == "watermark")\n'
                    "  |> group()\n  |> last()\n", self.influx.bucket_for(granularity))
                rows = [{"watermark": row.get("_value")} for row in rows]
            if not rows or rows[-1].get("watermark") in (None, ""):
                return None
            return epoch_seconds(rows[-1]["watermark"], "watermark")
        except PusherError as exc:
            log.warning("cannot read the watermark of %s from InfluxDB: %s", source, exc)
            return None

    def last_run(self, source: str, granularity: str) -> dict[str, Any] | None:
        """The fields of the source's last pusher_runs point, and its time as `ended`."""
        if self.influx.api == "v1":
            rows = self._influxql(f"SELECT * FROM {self._from(granularity)} WHERE "
                                  f"{self._is(source)} ORDER BY time DESC LIMIT 1")
        else:
            rows = self._flux(
                f"{self._runs(granularity, LAST_RUN_LOOKBACK, source)}"
                '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
                '  |> group()\n  |> sort(columns: ["_time"])\n  |> tail(n: 1)\n',
                self.influx.bucket_for(granularity))
            rows = [row | {"time": _rfc3339(row.get("_time"))} for row in rows]
        if not rows:
            return None
        row = rows[-1]
        return row | {"ended": epoch_seconds(row.get("time"), "time").isoformat()}

    def _from(self, granularity: str) -> str:
        policy = self.influx.retention_policy_for(granularity)
        measurement = influxql_ident(RUN_MEASUREMENT)
        return f"{influxql_ident(policy)}.{measurement}" if policy else measurement

    @staticmethod
    def _is(source: str) -> str:
        return f"source = {influxql_string(source)}"

    def _runs(self, granularity: str, start: str, source: str) -> str:
        bucket = flux_string(self.influx.bucket_for(granularity))
        return (f"from(bucket: {bucket})\n  |> range(start: {start})\n"
                f"  |> filter(fn: (r) => r._measurement == {flux_string(RUN_MEASUREMENT)} and "
                f"r.source == {flux_string(source)})\n")

    def _influxql(self, query: str) -> list[dict[str, Any]]:
        influx = self.influx
        auth = (influx.username, influx.password) if influx.username else None
        url = f"{influx.url.rstrip('/')}/query"
        response = self._answer(url, None, lambda http: http.get(
            url, auth=auth, timeout=influx.timeout, verify=influx.verify_ssl,
            params={"db": influx.database, "q": query, "epoch": "s"}))
        try:
            result = response.json().get("results", [{}])[0]
            if "error" in result:
                raise PusherError(with_setup_hint(
                    f"InfluxDB at {url} says: {one_line(str(result['error']))}"))
            return [dict(zip(series["columns"], values, strict=True))
                    for series in result.get("series", []) for values in series["values"]]
        except (ValueError, AttributeError, LookupError, TypeError):
            raise PusherError(_not_influx(url, response, "query")) from None

    def _flux(self, query: str, bucket: str) -> list[dict[str, Any]]:
        influx = self.influx
        url = f"{influx.url.rstrip('/')}/api/v2/query"
        response = self._answer(url, bucket, lambda http: http.post(
            url, params={"org": influx.org},
            headers={"Authorization": f"Token {influx.token}", "Accept": "application/csv",
                     "Content-Type": "application/json"},
            json={"query": query, "type": "flux",
                  "dialect": {"header": True, "annotations": []}},
            timeout=influx.timeout, verify=influx.verify_ssl))
        if not response.headers.get("Content-Type", "").startswith("text/csv"):
            raise PusherError(_not_influx(url, response, "Flux query"))
        try:
            return [row for row in csv.DictReader(io.StringIO(response.text))
                    if any(row.values())]
        except csv.Error:
            raise PusherError(_not_influx(url, response, "Flux query")) from None

    def _answer(self, url: str, bucket: str | None, send: Any) -> requests.Response:
        try:
            response: requests.Response = send(self.session or BoundedSession())
        except requests.RequestException as exc:
            raise PusherError(f"InfluxDB at {url} unreachable ({cause_name(exc)})") from None
        if response.status_code < 300:
            return response
        text = server_message(response)
        # 2.x answers a bucket the token may not read exactly as a bucket that is not there.
        if bucket is not None and response.status_code == 404 and "could not find bucket" in text:
            raise PusherError(f"the token may not read bucket {bucket!r} (or there is no such "
                              "bucket): pusher reads its run records there (docs/operations.md,"
                              ' "Tokens")')
        raise PusherError(f"InfluxDB at {url} answered HTTP {response.status_code}: {text}")


def server_message(response: requests.Response) -> str:
    """2.x says why in JSON's `message`; anything else is its body (or reason), on one line."""
    try:
        return one_line(str(response.json()["message"]))
    except (ValueError, KeyError, TypeError):
        return one_line(response.text or response.reason or "")


def _not_influx(url: str, response: requests.Response, api: str) -> str:
    kind = response.headers.get("Content-Type", "no content type").split(";")[0]
    return (f"{url} answered HTTP {response.status_code} {kind}: this is not InfluxDB's "
            f"{api} API")


def epoch_seconds(value: Any, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(float(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise PusherError(f"InfluxDB gave {what} = {str(value)[:40]!r}, not a time") from None


def _rfc3339(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None

