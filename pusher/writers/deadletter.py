"""The dead-letter file: one JSON object per line for each refused reading or line, with the reason.

Appends and the rewrite of `pusher spool retry` hold one lock, so a refusal written while a
retry runs is never lost. Each record carries a CRC-32 of itself (`"crc"`, the last key): a
torn or altered record is detected, moved to `<state_dir>/quarantine/` and the others stay
readable. The file's length is kept beside it (`.dead-letter.jsonl.length`, framed), so a
file cut short between two records is detected too. A line refused twice (a replay after a
crash between the refusal and the ack) is listed once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pusher.state import StateError, locked, quarantine, read_framed, write_atomic, write_framed

log = logging.getLogger(__name__)
_CRC = re.compile(r', "crc": "([0-9a-f]{8})"\}$')
_GRANULARITY = re.compile(r",granularity=(\w+)[, ]")


def seal(record: dict[str, Any]) -> str:
    """The record as one JSON line ending with its own checksum."""
    text = json.dumps(record)  # ASCII only: any string survives, lone surrogates included
    return f'{text[:-1]}, "crc": "{zlib.crc32(text.encode()):08x}"}}\n'


def unseal(raw: bytes) -> dict[str, Any] | None:
    """The record of one line, or None when it is torn or altered."""
    try:
        text = raw.decode("ascii").rstrip("\n")
    except UnicodeDecodeError:
        return None
    match = _CRC.search(text)
    if match is None or zlib.crc32((text[:match.start()] + "}").encode()) != int(
            match.group(1), 16):
        return None
    record = json.loads(text[:match.start()] + "}")
    return record if isinstance(record, dict) else None


class DeadLetter:
    """Append-only JSON lines of what was refused, each with the reason."""

    def __init__(self, path: Path):
        self.path = path
        self.root = path.parent
        self.length_path = path.with_name(f".{path.name}.length")

    def lock(self) -> Any:
        return locked(self.path.with_name(f".{self.path.name}.lock"), root=self.root)

    def add(self, source: str, reason: str, line: str | None = None,
            reading: str | None = None) -> None:
        self.add_many([record(source, reason, line, reading)])

    def add_many(self, records: list[dict[str, Any]]) -> None:
        """Append records in one write and one fsync; a failed write is undone."""
        if not records:
            return
        data = "".join(seal(r) for r in records).encode()
        with self.lock():
            self._append(data)

    def _append(self, data: bytes) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = self._open()
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            size = os.fstat(fd).st_size
            self._check_length(size)
            # A record torn by a crash must not swallow the next one: start a fresh line.
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            try:
                os.write(fd, data)
                os.fsync(fd)
                self._save_length(size + len(data))
            except (OSError, StateError) as exc:
                os.ftruncate(fd, size)  # disk full: leave the file as it was
                reason = exc.strerror if isinstance(exc, OSError) else None
                raise StateError(f"cannot write {self.path}: {reason or exc}") from None
        finally:
            os.close(fd)

    def _set_aside_whole(self) -> None:
        quarantine(self.path, self.root, "a directory where a file belongs")
        with contextlib.suppress(OSError):  # its length went with it
            self.length_path.unlink()

    def _check_length(self, size: int) -> None:
        """Say so when the file is shorter than written: records were lost from its end.

        Called under the lock. A longer file is an append whose length was not saved yet.
        """
        payload = read_framed(self.length_path, "length", self.root)
        try:
            expected = int(payload) if payload is not None else size
        except ValueError:
            quarantine(self.length_path, self.root, "not a length")
            expected = size
        if size < expected:
            target = self.root / "quarantine" / f"{self.path.name}.{time.time_ns()}"
            try:  # a copy for the record: the records still there stay in use
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.path, target)
            except OSError:
                target = self.path
            log.warning("%s is damaged (cut short: %d bytes of records missing): a copy is in "
                        "%s", self.path, expected - size, target)
        if size != expected:
            self._save_length(size)

    def _save_length(self, size: int) -> None:
        write_framed(self.length_path, "length", str(size).encode(), self.root)

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT  # read: the last byte
        try:
            return os.open(self.path, flags, 0o644)
        except IsADirectoryError:
            self._set_aside_whole()
            return os.open(self.path, flags, 0o644)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record once; damaged ones are moved to the quarantine."""
        good, damaged = self._read()
        if damaged or self._shorter():
            with self.lock():
                good, damaged = self._read()
                self._set_aside(good, damaged)
                with contextlib.suppress(OSError, StateError):
                    self._check_length(self.path.stat().st_size)
        yield from good

    def _shorter(self) -> bool:
        try:
            payload = read_framed(self.length_path, "length", self.root)
            return payload is not None and self.path.stat().st_size < int(payload)
        except (OSError, ValueError, StateError):
            return False

    def _read(self) -> tuple[list[dict[str, Any]], list[bytes]]:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return [], []
        except IsADirectoryError:
            self._set_aside_whole()
            return [], []
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        good, damaged, seen = [], [], set()
        for line in raw.splitlines():
            if not line.strip():
                continue
            entry = unseal(line)
            if entry is None:
                damaged.append(line)
                continue
            key = (entry.get("source"), entry.get("line"))
            if key[1] is None or key not in seen:
                seen.add(key)
                good.append(entry)
        return good, damaged

    def _set_aside(self, good: list[dict[str, Any]], damaged: list[bytes]) -> None:
        """Write damaged records to the quarantine and keep the good ones (under the lock)."""
        if not damaged:
            return
        target = self.root / "quarantine" / f"{self.path.name}.{time.time_ns()}"
        try:
            write_atomic(target, b"\n".join(damaged) + b"\n", self.root)
            self.rewrite(good)
        except StateError as exc:
            log.warning("%s: %d damaged records, cannot move them aside (%s): ignoring them",
                        self.path, len(damaged), exc)
            return
        log.warning("%s: %d damaged records (torn or altered) moved to %s", self.path,
                    len(damaged), target)

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replace the file with `records` (the caller holds the lock)."""
        data = "".join(seal(r) for r in records).encode()
        write_atomic(self.path, data, self.root)
        self._save_length(len(data))


def record(source: str, reason: str, line: str | None = None, reading: str | None = None
           ) -> dict[str, Any]:
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source": source,
             "reason": reason}
    if line is not None:
        entry["line"] = line
    if reading is not None:
        entry["reading"] = reading
    return entry


class Requeue(Protocol):
    """Where refused lines go back to: the spool, whose module imports this one."""

    def put(self, source: str, lines: list[str], granularity: str = "hourly") -> object: ...


def requeue_refused(spool: Requeue, dead_letter: DeadLetter) -> int:
    """Move refused lines back into the spool (after their cause was fixed); returns how many.

    Records without a line (readings refused before they became one) stay where they are.
    Holds the dead-letter lock throughout: a refusal appended meanwhile waits, then lands.
    """
    with dead_letter.lock():
        good, damaged = dead_letter._read()
        dead_letter._set_aside(good, damaged)
        batches: dict[tuple[str, str], list[str]] = {}
        kept = []
        for entry in good:
            line = entry.get("line")
            if not line:
                kept.append(entry)
                continue
            match = _GRANULARITY.search(line)
            key = (str(entry["source"]), match.group(1) if match else "hourly")
            batches.setdefault(key, []).append(line)
        # Spool first, then rewrite: a crash in between duplicates a record, never loses one.
        for (source, granularity), lines in batches.items():
            spool.put(source, lines, granularity)
        dead_letter.rewrite(kept)
    return sum(len(lines) for lines in batches.values())
