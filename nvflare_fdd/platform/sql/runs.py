"""What a job's run writes, in SQL (``RunRepository``): progress, metrics, result files and the checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nvflare_fdd.platform.blobs import blob_chunks, drop_blob_if_unused, put_blob
from nvflare_fdd.platform.contracts import CHECKPOINT, CONTROLS_CHECKPOINT
from nvflare_fdd.platform.errors import NotFound
from nvflare_fdd.platform.records import JobProgress, MetricValue, RoundProgress, SiteRound
from nvflare_fdd.platform.schema import ArtefactRow, JobRoundRow, JobRow, JobStageRow, MetricRow
from nvflare_fdd.platform.sql.base import SqlBase
from nvflare_fdd.platform.sql.rows import event_records, job_record, job_row


class SqlRuns(SqlBase):
    """Rounds, stages (a site's phases of a round), metrics and artefacts (a job's result files)."""

    def record_round(
        self, name: str, round_num: int, started: float | None = None, finished: float | None = None,
        checkpoint: Path | None = None, controls: Path | None = None,
    ) -> None:  # fmt: skip
        """A round's start or end; with ``checkpoint`` (the round's global model, safetensors) and SCAFFOLD's
        ``controls``, stored in the same transaction, so the last finished round and the saved state always agree
        (``fdd jobs resume``)."""
        with self._session() as session:
            job = job_row(session, name)
            row = session.get(JobRoundRow, (job.id, round_num)) or JobRoundRow(job_id=job.id, round=round_num)
            if started is not None:
                row.started_at = started
            if finished is not None:
                row.finished_at = finished
            session.merge(row)
            if checkpoint is not None:
                self._replace_artefact(session, job, CHECKPOINT, Path(checkpoint))
            if controls is not None:
                self._replace_artefact(session, job, CONTROLS_CHECKPOINT, Path(controls))

    def last_checkpoint(self, name: str) -> int | None:
        """The last round whose global model is stored, or ``None``."""
        with self._session() as session:
            job = job_row(session, name)
            if session.get(ArtefactRow, (job.id, CHECKPOINT)) is None:
                return None
            return session.scalar(
                select(func.max(JobRoundRow.round)).where(JobRoundRow.job_id == job.id, JobRoundRow.finished_at.is_not(None))
            )

    def record_stage(self, name: str, round_num: int, site: str, phases: list[dict], num_samples: int | None,
                     dropped_metrics: dict | None = None, personalized: bool = False) -> None:  # fmt: skip
        """A site's phases of a round (round 0: environment and setup), the count of metrics it kept back, and
        whether it kept its personalized model (its last round)."""
        with self._session() as session:
            job = job_row(session, name)
            session.merge(JobStageRow(job_id=job.id, round=round_num, site=site, phases=phases, num_samples=num_samples,
                                      dropped_metrics=dropped_metrics or None, personalized=personalized or None))  # fmt: skip

    def record_setup(self, name: str, site: str, phases: list[dict]) -> None:
        """A site's setup phases so far (round 0); never replaces a longer record (the events may arrive late)."""
        with self._session() as session:
            job = job_row(session, name)
            row = session.get(JobStageRow, (job.id, 0, site))
            if row is None:
                session.add(JobStageRow(job_id=job.id, round=0, site=site, phases=phases, num_samples=None))
            elif len(phases) > len(row.phases or []):
                row.phases = phases

    def record_metrics(self, name: str, round_num: int, site: str, kind: str, values: Mapping[str, float]) -> None:
        """A site's metrics of a round, metric name → value."""
        with self._session() as session:
            job = job_row(session, name)
            for metric, value in values.items():
                session.merge(MetricRow(job_id=job.id, round=round_num, site=site, kind=kind, metric=metric, value=float(value)))

    def metrics(self, name: str) -> list[MetricValue]:
        """Every metric of the job, by round, site, kind and metric."""
        with self._session() as session:
            job = job_row(session, name)
            rows = session.scalars(
                select(MetricRow).where(MetricRow.job_id == job.id)
                .order_by(MetricRow.round, MetricRow.site, MetricRow.kind, MetricRow.metric)
            )  # fmt: skip
            return [MetricValue(r.round, r.site, r.kind, r.metric, r.value) for r in rows]

    def progress(self, name: str) -> JobProgress:
        """The job's setup, rounds and events, from one transaction."""
        with self._session() as session:
            job = job_row(session, name)
            progress = JobProgress(job=job_record(session, job))
            for stage in session.scalars(select(JobStageRow).where(JobStageRow.job_id == job.id)):
                if stage.round == 0:
                    progress.setup[stage.site] = stage.phases
                else:
                    progress.rounds.setdefault(stage.round, RoundProgress()).sites[stage.site] = SiteRound(
                        stage.phases, stage.num_samples, stage.dropped_metrics or {}, bool(stage.personalized))
            for round_row in session.scalars(select(JobRoundRow).where(JobRoundRow.job_id == job.id)):
                record = progress.rounds.setdefault(round_row.round, RoundProgress())
                record.started, record.finished = round_row.started_at, round_row.finished_at
            progress.events = event_records(session, job)  # one transaction: the events match the records
        progress.rounds = dict(sorted(progress.rounds.items()))
        return progress

    def put_artefact(self, name: str, artefact: str, path: Path) -> None:
        """Store (or replace) a job's result file; a replaced file's content is removed if nothing else uses it."""
        with self._session() as session:
            self._replace_artefact(session, job_row(session, name), artefact, Path(path))

    def artefacts(self, name: str) -> dict[str, int]:
        """Artefact name → size in bytes."""
        with self._session() as session:
            job = job_row(session, name)
            return {r.name: r.size for r in session.scalars(select(ArtefactRow).where(ArtefactRow.job_id == job.id))}

    def write_artefact(self, name: str, artefact: str, destination: Path) -> Path:
        """Write a result file to ``destination``; ``NotFound`` if the job has none of that name."""
        with self._session() as session:
            job = job_row(session, name)
            row = session.get(ArtefactRow, (job.id, artefact))
            if row is None:
                raise NotFound(f"job {name} has no {artefact} (yet)", code="job.no_artefact", params={"name": name, "file": artefact})
            with open(destination, "wb") as handle:
                for chunk in blob_chunks(session, row.blob_id):
                    handle.write(chunk)
        return destination

    @staticmethod
    def _replace_artefact(session: Session, job: JobRow, artefact: str, path: Path) -> None:
        previous = session.get(ArtefactRow, (job.id, artefact))
        old_blob = previous.blob_id if previous is not None else None
        blob_id, size = put_blob(session, path)
        session.merge(ArtefactRow(job_id=job.id, name=artefact, blob_id=blob_id, size=size))
        session.flush()
        if old_blob is not None and old_blob != blob_id:
            drop_blob_if_unused(session, old_blob)
