"""State directory files: framed, checksummed, written atomically, quarantined when damaged.

Every file pusher writes in its state directory starts with one frame line,
`#pusher KIND CRC32 LENGTH`, that covers the rest of the file: a torn write (a crash, a full
disk) or a flipped byte is detected on read, never replayed as data. A damaged file is moved
to `<state_dir>/quarantine/` with one warning naming it, and the run goes on without it.
Writes go to a temporary name, are fsynced and renamed into place; a write that fails (disk
full, read-only) removes its temporary file and raises StateError naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pusher.errors import PusherError

log = logging.getLogger(__name__)
QUARANTINE = "quarantine"


class StateError(PusherError):
    """A state file cannot be written or read (disk full, read-only, permissions)."""


class Damaged(ValueError):
    """A state file's content fails its frame check (torn, truncated, altered)."""


def frame(kind: str, payload: bytes) -> bytes:
    """`payload` behind its frame line: kind, CRC-32 and length of the payload."""
    return b"#pusher %s %08x %d\n" % (kind.encode(), zlib.crc32(payload), len(payload)) + payload


def unframe(kind: str, data: bytes) -> bytes:
    """The payload of a framed file; raises Damaged when anything does not add up."""
    head, newline, payload = data.partition(b"\n")
    parts = head.split(b" ")
    if not newline or len(parts) != 4 or parts[0] != b"#pusher":
        raise Damaged("no pusher frame line (torn, or not written by pusher)")
    if parts[1] != kind.encode():
        raise Damaged(f"holds {parts[1].decode(errors='replace')!r}, not {kind!r}")
    try:
        crc, length = int(parts[2], 16), int(parts[3])
    except ValueError:
        raise Damaged("its frame line is damaged") from None
    if len(payload) != length:
        raise Damaged(f"{len(payload)} bytes where its frame says {length} (torn write)")
    if zlib.crc32(payload) != crc:
        raise Damaged("checksum mismatch (altered bytes)")
    return payload


def quarantine(path: Path, root: Path, reason: str) -> None:
    """Move a damaged file (or a directory where a file belongs) aside; never raises."""
    target = root / QUARANTINE / f"{path.name}.{time.time_ns()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    except FileNotFoundError:
        return  # another process moved it first
    except OSError as exc:
        log.warning("%s is damaged (%s) and cannot be moved aside (%s): ignoring it", path,
                    reason, exc.strerror or exc)
        return
    log.warning("%s is damaged (%s): moved to %s", path, reason, target)


def read_bytes(path: Path, root: Path) -> bytes | None:
    """A state file's bytes; None when it is missing or a directory (quarantined just now)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        quarantine(path, root, "a directory where a file belongs")
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_framed(path: Path, kind: str, root: Path) -> bytes | None:
    """The payload of a state file; None when it is missing or was quarantined just now."""
    data = read_bytes(path, root)
    if data is None:
        return None
    try:
        return unframe(kind, data)
    except Damaged as exc:
        quarantine(path, root, str(exc))
        return None


def write_framed(path: Path, kind: str, payload: bytes, root: Path) -> None:
    """Replace the file atomically: a reader (or a crash) sees the old or the new content."""
    write_atomic(path, frame(kind, payload), root)


def write_atomic(path: Path, data: bytes, root: Path) -> None:
    """Write to a temporary name, fsync, rename into place; no temporary file survives a failure."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(temporary, path)
        except IsADirectoryError:
            quarantine(path, root, "a directory where a file belongs")
            os.replace(temporary, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise StateError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_json(path: Path, root: Path) -> dict[str, Any]:
    """The file's object, or {} when it is missing or damaged (then quarantined)."""
    payload = read_framed(path, "json", root)
    if payload is None:
        return {}
    try:
        data = json.loads(payload.decode("utf-8"))
    except ValueError:  # a hand edit that kept the checksum right: still not data
        quarantine(path, root, "not a JSON object")
        return {}
    if not isinstance(data, dict):
        quarantine(path, root, "not a JSON object")
        return {}
    return data


def write_json(path: Path, data: dict[str, Any], root: Path) -> None:
    body = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_framed(path, "json", body.encode("utf-8"), root)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_lock(path: Path, root: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError:
            quarantine(path, root, "a directory where a lock file belongs")
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"cannot lock {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def locked(path: Path, blocking: bool = True, root: Path | None = None) -> Iterator[bool]:
    """Hold an exclusive flock on `path` (created if needed); yields False if busy and not blocking.

    flock is released by the kernel when the process dies, so a kill -9 never leaves it held.
    A lock file's content means nothing: only a directory in its place is moved aside.
    """
    fd = _open_lock(path, root or path.parent)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def update_json(path: Path, change: Callable[[dict[str, Any]], None], root: Path
                ) -> dict[str, Any]:
    """Read, change and write back under a lock, so concurrent runs do not lose updates."""
    with locked(path.with_name(f".{path.name}.lock"), root=root):
        data = read_json(path, root)
        change(data)
        write_json(path, data, root)
    return data


def touch(path: Path, root: Path) -> None:
    """Create or refresh a file's modification time (the heartbeat)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.utime(path)
        except FileNotFoundError:
            write_atomic(path, b"", root)
        if path.is_dir():
            quarantine(path, root, "a directory where a file belongs")
            write_atomic(path, b"", root)
    except OSError as exc:
        raise StateError(f"cannot touch {path}: {exc.strerror or exc}") from None


def is_disk_error(exc: OSError) -> bool:
    """Disk full, read-only, quota or permissions: the state directory cannot take writes."""
    return exc.errno in {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM,
                         errno.EFBIG}
