"""The statistics part of ``Storage``: the sites' data-information summaries, kept with their history."""

from __future__ import annotations

from typing import Protocol


class StatsRepository(Protocol):
    """Summaries as sites screened them (``nvflare_fdd.stats.contract``): buckets and aggregates, never rows."""

    def save_stats(self, summary: dict) -> None:
        """Keep ``summary`` under its institution and ``taken_at``; the same pair again replaces it.

        Raises:
            StatsPayloadError: ``summary`` breaks the summary contract (nothing is written).
        """
        ...

    def latest_stats(self, institution: str | None = None) -> dict[str, dict]:
        """``{institution: newest summary}`` for every institution (or the one named), sorted by institution."""
        ...

    def stats_history(self, institution: str) -> list[dict]:
        """Every summary kept for ``institution``, oldest first."""
        ...
