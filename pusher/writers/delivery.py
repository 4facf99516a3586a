"""Getting one batch into InfluxDB: retries with backoff, Retry-After, 413 splits, refusals.

Refused lines are isolated by bisecting the batch: InfluxDB names only the first bad line
of a batch, and re-posting the good ones is harmless (same series, same timestamps).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from pusher.errors import WriteError
from pusher.writers import ServerAnswer, Unreachable, Writer

log = logging.getLogger(__name__)
# Answers that mean "these lines are wrong" rather than "the server is unwell".
LINE_ERRORS = frozenset({400, 422})
RETRIED = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class Outcome:
    written: int = 0
    refused: list[tuple[str, str]] | None = None  # (line, server's reason)

    def __iadd__(self, other: Outcome) -> Outcome:
        self.written += other.written
        if other.refused:
            self.refused = [*(self.refused or []), *other.refused]
        return self


@dataclass
class RetryPolicy:
    retries: int = 5
    backoff: float = 0.5
    max_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt `attempt + 1`: the server's word first."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.max_wait)
        # Full jitter keeps several pushers from retrying in lock-step.
        return min(self.max_wait, self.backoff * 2**attempt) * (0.5 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Delivery:
    def __init__(self, writer: Writer, policy: RetryPolicy | None = None):
        self.writer = writer
        self.policy = policy or RetryPolicy()

    def send(self, lines: list[str], granularity: str = "hourly") -> Outcome:
        """Post `lines`; raise WriteError when the server stays unreachable or says no."""
        attempt = 0
        while True:
            try:
                self.writer.post(("\n".join(lines) + "\n").encode(), granularity)
                return Outcome(written=len(lines))
            except ServerAnswer as answer:
                if answer.status == 413 or answer.status in LINE_ERRORS:
                    return self._split(lines, granularity, answer)
                if answer.status not in RETRIED or attempt >= self.policy.retries:
                    raise WriteError(f"InfluxDB answered {answer}") from None
                delay = self.policy.wait(attempt, answer.retry_after)
                log.info("InfluxDB answered %s; retrying in %.1fs", answer.status, delay)
            except Unreachable as exc:
                if attempt >= self.policy.retries:
                    raise WriteError(f"InfluxDB unreachable: {exc}") from None
                delay = self.policy.wait(attempt, None)
                log.info("InfluxDB unreachable (%s); retrying in %.1fs", exc, delay)
            self.policy.sleep(delay)
            attempt += 1

    def _split(self, lines: list[str], granularity: str, answer: ServerAnswer) -> Outcome:
        if len(lines) == 1:
            return Outcome(refused=[(lines[0], f"HTTP {answer.status}: {answer.message}")])
        middle = len(lines) // 2
        outcome = self.send(lines[:middle], granularity)
        outcome += self.send(lines[middle:], granularity)
        return outcome
