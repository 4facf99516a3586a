"""Posting line protocol over HTTP with requests; the one place an answer is judged.

InfluxDB acknowledges a write with 204 No Content, on 1.x (/write) and 2.x (/api/v2/write)
alike (InfluxDB API docs). Any other 2xx or 3xx comes from something that is not InfluxDB's
write API (a proxy, a login page, a wrong port) and acknowledges nothing.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any

import requests

from pusher.bounded import RequestTimedOut, request_within
from pusher.config import InfluxConfig
from pusher.writers import ServerAnswer, Unreachable, cause_name

ACK = 204


class HttpWriter:
    """POST a batch to `url` with `params`; raises unless InfluxDB acknowledged it.

    `[influx] timeout` bounds each request whole (a trickling answer too).

    Threads may post at once (a sink's writer threads): each post takes a session of its own
    from the idle ones, so no requests.Session is ever shared by two requests in flight.
    """

    def __init__(self, influx: InfluxConfig, url: str, params: dict[str, str],
                 session: requests.Session | None = None):
        self.url = url
        self.influx = influx
        self.params = params
        self.timeout = influx.timeout
        self.gzip = influx.gzip
        self.session = self.configure(session or requests.Session())
        self._sessions = [self.session]
        self._idle = [self.session]  # list.pop and append are atomic: no lock needed

    def configure(self, session: requests.Session) -> requests.Session:
        """Set a session up for posting: TLS verification, content type (and credentials)."""
        session.verify = self.influx.verify_ssl
        session.headers["Content-Type"] = "text/plain; charset=utf-8"
        return session

    def destination(self, granularity: str) -> dict[str, str]:
        """Query parameters naming where points of `granularity` go."""
        return {}

    def post(self, body: bytes, granularity: str = "hourly") -> None:
        headers = {"Content-Encoding": "gzip"} if self.gzip else None
        if self.gzip:
            body = gzip.compress(body, compresslevel=1)
        try:
            session = self._idle.pop()
        except IndexError:  # another thread is posting with each session there is
            session = self.configure(requests.Session())
            self._sessions.append(session)
        reuse = True
        try:
            response = request_within(
                session, "POST", self.url, self.timeout,
                params=self.params | self.destination(granularity), data=body,
                headers=headers, allow_redirects=False)
        except requests.RequestException as exc:
            # A request given up on may still be ending in its thread: not posted on again.
            reuse = not isinstance(exc, RequestTimedOut)
            raise Unreachable(cause_name(exc), self.url) from exc
        finally:
            if reuse:
                self._idle.append(session)
        check_answer(response, self.url)

    def close(self) -> None:
        for session in self._sessions:
            session.close()


def check_answer(response: requests.Response, url: str) -> None:
    """Return on InfluxDB's acknowledgement; raise ServerAnswer for anything else."""
    judge(response.status_code, response.headers, response.text or response.reason, url)


def judge(status: int, headers: Mapping[str, str], text: str, url: str) -> None:
    """The one rule for a write's answer: 204 acknowledges, anything else raises ServerAnswer.

    `headers` is matched case-insensitively by the caller's mapping (requests and urllib3
    both give one); `text` is the answer's body, read only for the reason it gives.
    """
    if status == ACK:
        return
    if status < 400:
        kind = headers.get("Content-Type", "no content type").split(";")[0]
        raise ServerAnswer(status, f"{kind}: this is not InfluxDB's write API (InfluxDB "
                           "acknowledges a write with 204)", url=url, not_influx=True)
    raise ServerAnswer(status, reason(text), headers.get("Retry-After"), url=url)


def reason(text: str) -> str:
    """The server's own words: 1.x `error`, 2.x `message`, else the body's text."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error") or body.get("message"), str):
        return str(body.get("error") or body.get("message"))
    return text or "no reason given"
