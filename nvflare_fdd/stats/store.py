"""Where statistics summaries are kept: per institution, with the time they were taken.

``StatsStore`` is the interface the rest of nvflare-fdd uses (``save``, ``latest``, ``history``).
By default the summaries live in the platform's storage (``PlatformStatsStore``, the
``StatsRepository`` part of ``nvflare_fdd.platform.contracts.Storage``), beside the jobs and
models the web UI shows. ``JsonStatsStore`` keeps each summary as one JSON file instead,
``<folder>/<institution>/<taken_at as 20261126T045200.123000Z>.json``, written atomically (temp
file, fsync, ``os.replace``), for a machine without a platform: ``fdd data --store DIR`` or
``$FDD_STATS_DIR`` choose it. ``stats_store()`` makes that choice.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nvflare_fdd.results import atomic_write_bytes
from nvflare_fdd.stats.contract import StatsError, screen_summary

if TYPE_CHECKING:
    from nvflare_fdd.platform.contracts.stats import StatsRepository

STATS_DIR_ENV = "FDD_STATS_DIR"
_INSTITUTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SNAPSHOT = re.compile(r"^\d{8}T\d{6}\.\d{6}Z\.json$")


class StatsStore(Protocol):
    """Keeps summaries per institution; implemented by ``PlatformStatsStore`` and ``JsonStatsStore``."""

    @property
    def where(self) -> str:
        """Where the summaries are, for messages."""
        ...

    def save(self, summary: dict) -> object:
        """Keep ``summary`` (checked with ``screen_summary``) under its institution and ``taken_at``."""
        ...

    def latest(self, institution: str | None = None) -> dict[str, dict]:
        """``{institution: newest summary}`` for every institution, or only for the one named."""
        ...

    def history(self, institution: str) -> list[dict]:
        """Every summary kept for ``institution``, oldest first."""
        ...


class PlatformStatsStore:
    """A ``StatsStore`` in the platform's storage (any backend implementing ``StatsRepository``)."""

    def __init__(self, storage: StatsRepository):
        self.storage = storage

    @property
    def where(self) -> str:
        return "the platform's storage"

    def save(self, summary: dict) -> None:
        screen_summary(summary)
        _checked_institution(summary["institution"])
        self.storage.save_stats(summary)

    def latest(self, institution: str | None = None) -> dict[str, dict]:
        return self.storage.latest_stats(_checked_institution(institution) if institution is not None else None)

    def history(self, institution: str) -> list[dict]:
        return self.storage.stats_history(_checked_institution(institution))


def stats_store(folder: str | Path | None = None, storage: StatsRepository | None = None) -> StatsStore:
    """The statistics store to use: the JSON folder ``folder`` or ``$FDD_STATS_DIR`` when one is given, else the
    platform's storage (``storage``, default the platform's own)."""
    if folder is not None or os.environ.get(STATS_DIR_ENV):
        return JsonStatsStore(folder)
    if storage is None:
        from nvflare_fdd.platform.service import Platform

        storage = Platform().storage
    return PlatformStatsStore(storage)


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

    @property
    def where(self) -> str:
        return str(self.folder)

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


def _checked_institution(name: object) -> str:
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
