"""The least privilege of pusher's InfluxDB 2.x token, and a check that a token has it.

`collect` (and `pusher run`) write each point into the bucket of its granularity, with the
source's pusher_runs point; a run without its state directory reads the source's watermark
back from pusher_runs in that same bucket (pusher/runs/history_query.py). So the smallest token
pusher needs may write and read the buckets of its sources' granularities, nothing else.
`setup` needs more: it creates buckets and tasks (docs/operations.md, "Tokens").

The check asks the server itself, with the token, instead of reading the token's
authorizations (a least-privilege token may not read those): a write of zero points
(204, or 403 without write permission, 404 when the bucket does not exist) and a
one-row Flux read (404 "could not find bucket" without read permission).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import requests

from pusher.config import Config, InfluxConfig
from pusher.points.quoting import flux_string
from pusher.runs.history_query import server_message

WATERMARKS_LOST = ("watermarks cannot be read back, so a run without its state directory "
                   "(a CronJob without a volume) does not catch up and `pusher status "
                   "--from-influx` shows nothing")


@dataclass(frozen=True)
class Grant:
    """One permission pusher's token needs: `action` ("write" or "read") on `bucket`."""

    action: str
    bucket: str
    loses: str  # what stops working without it

    def __str__(self) -> str:
        return f"{self.action} bucket {self.bucket!r}"


def least_privilege(config: Config) -> list[Grant]:
    """Write and read on the bucket of each granularity the enabled sources have."""
    sources: dict[str, list[str]] = {}
    for name, spec in config.sources.items():
        if spec.enabled:
            sources.setdefault(config.influx.bucket_for(spec.granularity.value), []).append(name)
    if not sources:  # nothing to collect yet: the hourly bucket is where points would go
        sources[config.influx.bucket] = []
    return [grant for bucket, names in sources.items() for grant in bucket_grants(bucket, names)]


def bucket_grants(bucket: str, sources: Iterable[str] = ()) -> list[Grant]:
    """What collect needs on one bucket, for the points of `sources`."""
    names = ", ".join(sources)
    whose = f"points of {names}" if names else "points"
    return [Grant("write", bucket, f"the {whose} and their run records cannot be written"),
            Grant("read", bucket, WATERMARKS_LOST)]


def check_access(http: requests.Session, influx: InfluxConfig, grants: Iterable[Grant]
                 ) -> list[str]:
    """The problems of the token with `grants`, each naming what stops working; [] if none.

    Raises RuntimeError when InfluxDB refuses the token or does not know the org.
    """
    problems, missing_buckets = [], set()
    for grant in grants:
        if grant.bucket in missing_buckets:
            continue
        probe = _write_probe if grant.action == "write" else _read_probe
        problem = probe(http, influx, grant.bucket)
        if problem == "missing":
            missing_buckets.add(grant.bucket)
            problems.append(f"no bucket {grant.bucket!r} in org {influx.org!r}: run "
                            "`pusher setup`")
        elif problem:
            problems.append(f"the token may not {grant}: {grant.loses}")
    return problems


def _headers(influx: InfluxConfig) -> dict[str, str]:
    return {"Authorization": f"Token {influx.token}"}


def _write_probe(http: requests.Session, influx: InfluxConfig, bucket: str) -> str | None:
    answer = http.post(f"{influx.url.rstrip('/')}/api/v2/write", data=b"",
                       params={"org": influx.org, "bucket": bucket, "precision": "s"},
                       headers=_headers(influx), timeout=influx.timeout)
    if answer.status_code == 204:
        return None
    message = server_message(answer)
    if answer.status_code == 404 and message.startswith("bucket"):
        return "missing"
    return message if answer.status_code == 403 else _fail(answer, message)


def _read_probe(http: requests.Session, influx: InfluxConfig, bucket: str) -> str | None:
    flux = f"from(bucket: {flux_string(bucket)}) |> range(start: -1m) |> limit(n: 1)"
    answer = http.post(f"{influx.url.rstrip('/')}/api/v2/query", params={"org": influx.org},
                       json={"query": flux, "type": "flux"}, timeout=influx.timeout,
                       headers=_headers(influx) | {"Accept": "application/csv"})
    if answer.status_code == 200:
        return None
    message = server_message(answer)
    # The bucket exists (the write probe runs first): "could not find" means "may not read".
    if answer.status_code in (403, 404) and "could not find bucket" in message:
        return message
    return _fail(answer, message)


def _fail(answer: requests.Response, message: str) -> str:
    if answer.status_code == 401:
        raise RuntimeError("HTTP 401: credentials refused (the token is not valid here)")
    if answer.status_code == 404 and message.startswith("organization"):
        raise RuntimeError(f"{message} ([influx] org)")
    raise RuntimeError(f"HTTP {answer.status_code}: {message}")
