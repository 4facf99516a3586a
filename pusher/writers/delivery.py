"""Getting one batch into InfluxDB: retries with backoff, Retry-After, 413 splits, refusals.

Refused lines are found from the server's own answer where it gives one (InfluxDB API docs
and the servers' answers, seen on 1.6.7 and 2.7.12):
- `unable to parse '<line>': <reason>` names each unparsable line; 1.x writes the others
  (a "partial write"), 2.x writes nothing, so the others are posted once more;
- `partial write: ... dropped=N` means the server wrote every line but N of them: none
  dropped, all dropped, or else the halves are posted again, each answering for itself.
Only an answer without either falls back to bisecting the batch. Re-posting lines the server
already has is harmless: same series, same timestamps.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from pusher.errors import WriteError
from pusher.points.lineprotocol import split_lines
from pusher.writers import ServerAnswer, Unreachable, Writer, with_setup_hint

log = logging.getLogger(__name__)
# Answers that mean "these lines are wrong" rather than "the server is unwell".
LINE_ERRORS = frozenset({400, 422})
RETRIED = frozenset({408, 429, 500, 502, 503, 504})
# Answers about the server or the target, never about a batch's content: auth, a missing
# database or bucket, a gateway or an overloaded server.
SERVER_WIDE = frozenset({401, 403, 404, 405, 407, 408, 429, 502, 503, 504})
_PARSE = "unable to parse '"
_DROPPED = re.compile(r"dropped=(\d+)")


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
        import random  # only on a retry: a run that needs none starts faster without it

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
    # Only for an HTTP-date hint: importing email.utils costs about 10 ms of every start.
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Delivery:
    def __init__(self, writer: Writer, policy: RetryPolicy | None = None):
        self.writer = writer
        self.policy = policy or RetryPolicy()

    def send(self, lines: list[str], granularity: str = "hourly",
             retries: int | None = None) -> Outcome:
        """Post `lines`; raise WriteError when the server stays unreachable or says no."""
        return self.send_body(("\n".join(lines) + "\n").encode(), len(lines), granularity,
                              retries)

    def send_body(self, body: bytes, count: int, granularity: str = "hourly",
                  retries: int | None = None) -> Outcome:
        """Post `count` newline-terminated lines as they are (the spooled bytes); raise
        WriteError when the server stays unreachable or says no."""
        retries = self.policy.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                self.writer.post(body, granularity)
                return Outcome(written=count)
            except ServerAnswer as answer:
                if answer.not_influx:
                    raise WriteError(f"{answer.url} answered {answer}") from None
                if answer.status == 413:
                    return self._halves(split_lines(body), granularity, answer)
                if answer.status in LINE_ERRORS:
                    return self._refusal(split_lines(body), granularity, answer)
                if answer.status not in RETRIED or attempt >= retries:
                    raise WriteError(with_setup_hint(f"InfluxDB at {answer.url} answered "
                                                     f"{answer}"),
                                     status=answer.status,
                                     server_wide=answer.status in SERVER_WIDE) from None
                delay = self.policy.wait(attempt, answer.retry_after)
                log.warning("InfluxDB at %s answered HTTP %s, retry %d/%d in %s", answer.url,
                            answer.status, attempt + 1, retries, _seconds(delay))
            except Unreachable as exc:
                if attempt >= retries:
                    raise WriteError(f"InfluxDB at {exc.url} unreachable ({exc.cause})"
                                     + (f" after {attempt + 1} attempts" if attempt else "")
                                     ) from None
                delay = self.policy.wait(attempt, None)
                log.warning("InfluxDB at %s unreachable (%s), retry %d/%d in %s", exc.url,
                            exc.cause, attempt + 1, retries, _seconds(delay))
            self.policy.sleep(delay)
            attempt += 1

    def _halves(self, lines: list[str], granularity: str, answer: ServerAnswer) -> Outcome:
        if len(lines) == 1:
            return Outcome(refused=[(lines[0], str(answer))])
        middle = len(lines) // 2
        outcome = self.send(lines[:middle], granularity)
        outcome += self.send(lines[middle:], granularity)
        return outcome

    def _refusal(self, lines: list[str], granularity: str, answer: ServerAnswer) -> Outcome:
        """Refused lines from the answer itself; a request more only where it says too little."""
        named = unparsable(answer.detail, lines)
        outcome = Outcome(refused=[(line, f"HTTP {answer.status}: {named[line]}")
                                   for line in lines if line in named] or None)
        rest = [line for line in lines if line not in named] if named else lines
        dropped = [int(n) for n in _DROPPED.findall(answer.detail)]
        if not rest:
            return outcome
        if "partial write" in answer.detail and dropped:
            if dropped[-1] == 0:  # the server wrote all the others
                outcome.written += len(rest)
            elif dropped[-1] >= len(rest):  # and dropped every one of them
                outcome += Outcome(refused=[(line, str(answer)) for line in rest])
            else:
                outcome += self._halves(rest, granularity, answer)
        elif named:  # the server wrote nothing (2.x): the others once more
            outcome += self.send(rest, granularity)
        else:
            outcome += self._halves(rest, granularity, answer)
        return outcome


def unparsable(detail: str, lines: list[str]) -> dict[str, str]:
    """Lines the answer names as unparsable (`unable to parse '<line>': <reason>`), with reasons."""
    if _PARSE not in detail:
        return {}
    batch = set(lines)
    named: dict[str, str] = {}
    for piece in detail.split(_PARSE)[1:]:
        # The line itself may hold "': ": try each split until one is a line of the batch.
        cut = piece.find("': ")
        while cut != -1 and piece[:cut] not in batch:
            cut = piece.find("': ", cut + 1)
        if cut != -1:
            reason = piece[cut + 3:].split("\n", 1)[0]
            named[piece[:cut]] = _DROPPED.sub("", reason).strip()
    return named


def _seconds(delay: float) -> str:
    return f"{delay:.1f} s" if delay < 10 else f"{delay:.0f} s"
