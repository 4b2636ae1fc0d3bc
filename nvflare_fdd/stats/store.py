"""Where statistics summaries are kept: per institution, with the time they were taken.

``StatsStore`` is the interface the rest of nvflare-fdd uses (``save``, ``latest``); the platform's
SQLAlchemy storage can implement it later. ``JsonStatsStore`` keeps each summary as one JSON
file, ``<folder>/<institution>/<taken_at as 20261126T045200.123000Z>.json``, written atomically
(temp file, fsync, ``os.replace``), so the history stays and a crash never leaves half a file.
The folder is ``$FDD_STATS_DIR``, else ``$XDG_DATA_HOME/nvflare-fdd/stats``
(``~/.local/share/nvflare-fdd/stats``).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from nvflare_fdd.results import atomic_write_bytes
from nvflare_fdd.stats.contract import StatsError, screen_summary

STATS_DIR_ENV = "FDD_STATS_DIR"
_INSTITUTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SNAPSHOT = re.compile(r"^\d{8}T\d{6}\.\d{6}Z\.json$")


class StatsStore(Protocol):
    """Keeps summaries per institution; implemented by ``JsonStatsStore`` and, later, the platform storage."""

    def save(self, summary: dict) -> None:
        """Keep ``summary`` (checked with ``screen_summary``) under its institution and ``taken_at``."""

    def latest(self, institution: str | None = None) -> dict[str, dict]:
        """``{institution: newest summary}`` for every institution, or only for the one named."""


def default_stats_dir() -> Path:
    """``$FDD_STATS_DIR``, else ``$XDG_DATA_HOME/nvflare-fdd/stats`` (``~/.local/share/...``)."""
    if os.environ.get(STATS_DIR_ENV):
        return Path(os.environ[STATS_DIR_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "nvflare-fdd" / "stats"


class JsonStatsStore:
    """A ``StatsStore`` in a folder of JSON files.

    Args:
        folder: where to keep them; default :func:`default_stats_dir`.
    """

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else default_stats_dir()

    def save(self, summary: dict) -> Path:
        """Keep ``summary``; a later save with the same institution and ``taken_at`` replaces it.

        Returns:
            The file written.

        Raises:
            StatsPayloadError: ``summary`` breaks the contract (nothing is written).
            StatsError: the institution's name cannot be a folder name.
        """
        screen_summary(summary)
        folder = self.folder / _checked_institution(summary["institution"])
        path = folder / f"{_stamp(summary['taken_at'])}.json"
        atomic_write_bytes(path, (json.dumps(summary, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        return path

    def latest(self, institution: str | None = None) -> dict[str, dict]:
        """The newest summary of each institution (or of ``institution`` only), sorted by institution.

        Raises:
            StatsError: a stored file cannot be read.
        """
        names = [_checked_institution(institution)] if institution is not None else self.institutions()
        found = {}
        for name in names:
            snapshots = self._snapshots(name)
            if snapshots:
                found[name] = _read(snapshots[-1])
        return found

    def history(self, institution: str) -> list[dict]:
        """Every summary kept for ``institution``, oldest first."""
        return [_read(path) for path in self._snapshots(_checked_institution(institution))]

    def institutions(self) -> list[str]:
        """Institutions with at least one summary, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if _INSTITUTION.match(p.name) and self._snapshots(p.name))

    def _snapshots(self, institution: str) -> list[Path]:
        folder = self.folder / institution
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if _SNAPSHOT.match(p.name))


def _checked_institution(name: str) -> str:
    if not isinstance(name, str) or not _INSTITUTION.match(name):
        raise StatsError(f"institution {name!r} may use only English letters, digits, '_', '-' and '.'")
    return name


def _stamp(taken_at: str) -> str:
    """``taken_at`` in UTC as a fixed-width name that sorts in time order."""
    return datetime.fromisoformat(taken_at).astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StatsError(f"cannot read the stored summary {path}: {exc}") from exc
