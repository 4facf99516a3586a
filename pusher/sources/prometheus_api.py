"""Prometheus' HTTP API: every request of the prometheus source, and decoding its answers.

Answers are decoded with msgspec into typed structures when it is installed (the `fast`
extra: several times json.loads on a 1 M-sample answer, docs/performance.md), else with
the standard json module; both give the same series.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from pusher.bounded import RequestTimedOut, request_within
from pusher.deadline import TimedOut, bound, timed_out
from pusher.errors import SourceError

try:
    import msgspec
except ImportError:  # the optional `fast` extra
    msgspec = None  # type: ignore[assignment]

# (labels, [(unix seconds, value as Prometheus writes it: "1.5", "NaN", "+Inf"), ...])
Series = tuple[dict[str, str], Sequence[Sequence[Any]]]


class ServerLimit(SourceError):
    """Prometheus refused a range query as too big; smaller ones may pass."""


class StepError(SourceError):
    """Evaluating the query failed at some step; other steps may evaluate alone."""


@dataclass(frozen=True)
class Client:
    """Where and how to reach one Prometheus; the session is passed in.

    `timeout` (seconds) bounds each request whole, never longer than the run's time left.
    """

    http: requests.Session
    url: str
    timeout: float = 30.0
    headers: Mapping[str, str] | None = None
    verify: bool = True

    def query_range(self, query: str, start: float, end: float, step: int,
                    timeout: float | None = None) -> Iterable[Series]:
        """The series of /api/v1/query_range, in Prometheus' order; start/end in seconds,
        `timeout` (seconds) this query's own bound instead of the client's."""
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                  "step": f"{step}s"}
        status, body = self._get("/api/v1/query_range", params, timeout)
        return series_of(status, body)

    def build_info(self) -> dict[str, Any]:
        """/api/v1/status/buildinfo's data: version, revision, ..."""
        status, body = self._get("/api/v1/status/buildinfo", {})
        answer = _decode_any(status, body)
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    def _get(self, path: str, params: Mapping[str, str], timeout: float | None = None
             ) -> tuple[int, bytes]:
        # The one place the source talks HTTP: timeouts and headers apply to every request.
        seconds = bound(timeout or self.timeout)
        # Prometheus' own evaluation timeout (HTTP API docs: `timeout`, capped by the
        # server's --query.timeout): the server stops a query pusher stopped waiting for.
        params = {**params, "timeout": f"{seconds:.3f}"}
        try:
            response = request_within(self.http, "GET", f"{self.url.rstrip('/')}{path}",
                                      seconds, params=params, headers=self.headers,
                                      verify=self.verify)
        except RequestTimedOut:
            raise timed_out(seconds, "no answer from Prometheus: ") from None
        except requests.RequestException as exc:
            raise SourceError(f"cannot reach Prometheus: {type(exc).__name__}") from exc
        return response.status_code, response.content


def _refusal(status: int, error_type: str, error: str) -> SourceError:
    """The error for an answer with status "error", by the kind of refusal (Prometheus API docs)."""
    message = f"HTTP {status}: {error_type or 'error'}: {error or 'no reason given'}"
    # web/api/v1/api.go refuses more than 11,000 steps per series; the engine refuses to
    # load more than --query.max-samples.
    if "exceeded maximum resolution" in error or "too many samples" in error:
        return ServerLimit(message)
    if error_type == "timeout":  # the evaluation timeout pusher asked for, or the server's
        return TimedOut(message)
    if error_type == "execution":  # e.g. duplicate series for the match group at some step
        return StepError(message)
    return SourceError(message)


def _not_prometheus(status: int) -> SourceError:
    return SourceError(f"HTTP {status}: not a Prometheus API answer")


def _series_from_json(status: int, body: bytes) -> list[Series]:
    answer = _decode_any(status, body)
    data = answer.get("data")
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        raise _not_prometheus(status)
    return [(item.get("metric") or {}, item.get("values") or []) for item in result
            if isinstance(item, dict)]


def _decode_any(status: int, body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body) if msgspec is None else msgspec.json.decode(body)
    except ValueError:  # msgspec.DecodeError is a ValueError too
        raise _not_prometheus(status) from None
    if not isinstance(answer, dict) or answer.get("status") not in ("success", "error"):
        raise _not_prometheus(status)
    if answer["status"] == "error":
        raise _refusal(status, str(answer.get("errorType", "")), str(answer.get("error", "")))
    return answer


if msgspec is not None:
    class _Matrix(msgspec.Struct, gc=False):
        metric: dict[str, str] = {}
        # Left encoded (a view into the body) until the series is read: an answer's decoded
        # samples never all exist at once.
        values: msgspec.Raw = msgspec.Raw(b"[]")

    class _Data(msgspec.Struct, gc=False):
        result: list[_Matrix] = []

    class _Answer(msgspec.Struct, gc=False):
        status: str = ""
        data: _Data | None = None
        errorType: str = ""  # Prometheus' key
        error: str = ""

    _range_decoder = msgspec.json.Decoder(_Answer)
    _values_decoder = msgspec.json.Decoder(list[tuple[float, str]])

    def _series_from_msgspec(status: int, body: bytes) -> Iterable[Series]:
        try:
            answer = _range_decoder.decode(body)
        except msgspec.ValidationError:  # JSON, but not shaped like an answer: say why
            return _series_from_json(status, body)
        except msgspec.DecodeError:
            raise _not_prometheus(status) from None
        if answer.status == "error":
            raise _refusal(status, answer.errorType, answer.error)
        if answer.status != "success" or answer.data is None:
            raise _not_prometheus(status)
        return _decoded(status, answer.data.result)

    def _decoded(status: int, result: list[_Matrix]) -> Iterator[Series]:
        for matrix in result:
            try:
                values = _values_decoder.decode(matrix.values)
            except msgspec.DecodeError:  # ValidationError too
                raise _not_prometheus(status) from None
            yield matrix.metric, values


def series_of(status: int, body: bytes) -> Iterable[Series]:
    """The series of a query_range answer (HTTP `status`, `body`), in order; a series'
    samples are decoded as it is reached. SourceError if refused or not an answer."""
    if msgspec is None:
        return _series_from_json(status, body)
    return _series_from_msgspec(status, body)
