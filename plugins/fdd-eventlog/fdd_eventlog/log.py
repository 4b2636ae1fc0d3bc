"""The event log file: one JSON object per line, appended whole under a file lock, read from the end.

Two processes write to it: the platform service (job states) and the NVFlare server's
recorder (round progress, metrics, a run's outcome). Each event is one ``os.write`` of
the complete line to a file opened with ``O_APPEND``, under an exclusive ``flock``, then
``fsync``: lines never interleave, and a write that fails half-way (disk full) is cut
back off, so the file holds whole lines only.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from nvflare_fdd.errors import FddError

LOG_ENV = "FDD_EVENT_LOG"
LOG_NAME = "event-log.jsonl"
_BLOCK = 1 << 16


class EventLogError(FddError):
    """The event log cannot be written or read; the message names the file."""


def log_path() -> Path:
    """``$FDD_EVENT_LOG``, else ``event-log.jsonl`` in the platform's home (``$FDD_HOME`` or ``~/.local/share/nvflare-fdd``)."""
    configured = os.environ.get(LOG_ENV)
    if configured:
        return Path(configured).expanduser()
    from nvflare_fdd.platform.db import default_home  # the platform's own rule for its home folder

    return default_home() / LOG_NAME


def event_record(event: str, job: str, **fields: Any) -> dict[str, Any]:
    """One event as it is stored: ``{"at": UTC time, "event": ..., "job": ..., **fields, "pid": ...}``."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"at": at, "event": event, "job": job, **fields, "pid": os.getpid()}


def encode_line(record: Mapping[str, Any]) -> bytes:
    """``record`` as one line of strict JSON (non-finite numbers become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``)."""
    text = json.dumps(_plain(record), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode() + b"\n"


def append_event(record: Mapping[str, Any], path: Path | None = None) -> Path:
    """Append ``record`` as one line to the event log (``path``, default ``log_path()``), durably.

    Returns:
        The file written.

    Raises:
        EventLogError: the file cannot be created or written (the line is then not in it at all).
    """
    path = Path(path) if path is not None else log_path()
    line = encode_line(record)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise EventLogError(f"cannot open the event log {path}: {exc.strerror}; point ${LOG_ENV} at a writable file") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
        except OSError as exc:
            raise EventLogError(f"cannot lock the event log {path}: {exc.strerror}; keep it on a file system with locks") from exc
        size_before = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(0, f"only {written} of {len(line)} bytes could be written")
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size_before)  # leave no half line behind for the next writer to extend
            raise EventLogError(f"cannot write to the event log {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return path


class Tail(NamedTuple):
    """The last events of a log, oldest first, and how many unreadable lines were passed over."""

    events: list[dict[str, Any]]
    skipped: int


def tail(path: Path, count: int, job: str | None = None) -> Tail:
    """The last ``count`` events in ``path`` (of ``job`` only, if given), read backwards from the end.

    Raises:
        EventLogError: the file is missing or unreadable.
    """
    events: list[dict[str, Any]] = []
    skipped = 0
    try:
        with open(path, "rb") as handle:
            for line in _lines_backwards(handle):
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                if not isinstance(event, dict):
                    skipped += 1
                    continue
                if job is None or event.get("job") == job:
                    events.append(event)
                    if len(events) == count:
                        break
    except FileNotFoundError as exc:
        raise EventLogError(f"there is no event log at {path} yet") from exc
    except OSError as exc:
        raise EventLogError(f"cannot read the event log {path}: {exc.strerror}") from exc
    events.reverse()
    return Tail(events, skipped)


def _lines_backwards(handle: BinaryIO) -> Iterator[bytes]:
    """The complete, non-empty lines of a file, last first; a last line still without its newline is left out."""
    position = handle.seek(0, os.SEEK_END)
    pending = b""  # the start of the line whose end is in the blocks already read
    trailing = True  # the next fragment is the one after the file's last newline
    while position > 0:
        size = min(_BLOCK, position)
        position -= size
        handle.seek(position)
        fragments = (handle.read(size) + pending).split(b"\n")
        pending = fragments.pop(0)
        for fragment in reversed(fragments):
            if trailing:
                trailing = False  # b"" after the final newline, or a line still being written
            elif fragment.strip():
                yield fragment
    if not trailing and pending.strip():
        yield pending


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: mappings, lists, strings, finite numbers, booleans and ``None``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item"):  # numpy and torch scalars
        try:
            return _plain(value.item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)
