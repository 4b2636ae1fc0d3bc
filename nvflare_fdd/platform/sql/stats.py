"""The sites' statistics summaries in the platform's database (``nvflare_fdd.platform.contracts.stats``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from nvflare_fdd.platform.schema import StatsSummaryRow
from nvflare_fdd.platform.sql.base import SqlBase


class SqlStats(SqlBase):
    """``StatsRepository`` on SQL: one row per institution and time taken."""

    def save_stats(self, summary: dict) -> None:
        from nvflare_fdd.stats.contract import screen_summary

        screen_summary(summary)
        taken_at = datetime.fromisoformat(summary["taken_at"]).astimezone(UTC)
        with self._session() as session:
            session.merge(StatsSummaryRow(institution=summary["institution"], taken_at=taken_at, summary=summary))

    def latest_stats(self, institution: str | None = None) -> dict[str, dict]:
        newest = select(StatsSummaryRow.institution, func.max(StatsSummaryRow.taken_at).label("taken_at"))
        if institution is not None:
            newest = newest.where(StatsSummaryRow.institution == institution)
        newest_rows = newest.group_by(StatsSummaryRow.institution).subquery()
        query = (select(StatsSummaryRow)
                 .join(newest_rows, (StatsSummaryRow.institution == newest_rows.c.institution)
                       & (StatsSummaryRow.taken_at == newest_rows.c.taken_at))
                 .order_by(StatsSummaryRow.institution))  # fmt: skip
        with self._session() as session:
            return {row.institution: dict(row.summary) for row in session.scalars(query)}

    def stats_history(self, institution: str) -> list[dict]:
        query = (select(StatsSummaryRow).where(StatsSummaryRow.institution == institution)
                 .order_by(StatsSummaryRow.taken_at))  # fmt: skip
        with self._session() as session:
            return [dict(row.summary) for row in session.scalars(query)]
