"""Jobs, their events and shares in SQL (``JobRepository``): the queue's rules hold under concurrent writers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvflare_fdd.platform.blobs import drop_blob_if_unused
from nvflare_fdd.platform.errors import StorageConflict
from nvflare_fdd.platform.records import TRANSITIONS, Job, JobEvent, JobState, NewJob
from nvflare_fdd.platform.schema import ArtefactRow, JobEventRow, JobRoundRow, JobRow, JobShareRow, JobStageRow, MetricRow
from nvflare_fdd.platform.sql.base import ACTIVE_STATES, SqlBase, utc_now
from nvflare_fdd.platform.sql.rows import event_record, event_records, job_record, job_row, model_row, owner_name, user_row

SCHEDULER_LOCK = 0x46_44_44_02  # an arbitrary, fixed advisory-lock key: one job claim at a time


class SqlJobs(SqlBase):
    """Jobs: creation, the queue, state transitions, shares and deletion."""

    def create_job(self, job: NewJob, state: JobState = JobState.READY, reason: str = "created",
                   reason_code: str | None = "event.created", reason_params: Mapping[str, Any] | None = None) -> Job:
        """A new job (``ready``); the name must be new across all users (names differing only in case count as one)."""
        with self._session() as session:
            owner_row = user_row(session, job.owner)
            model_id = model_row(session, *job.model).id if job.model else None
            stamp = utc_now()
            taken = session.scalar(select(JobRow.name).where(JobRow.name_key == job.name.lower()))
            row = JobRow(
                name=job.name, name_key=job.name.lower(), owner_id=owner_row.id, model_id=model_id,
                description=job.description, rounds=job.rounds, sites=list(job.sites), state=state.value, created_at=stamp,
                external=job.external, min_sites=job.min_sites, started_at=stamp if state == JobState.RUNNING else None,
                algorithm=job.algorithm, fedprox_mu=job.fedprox_mu, local_baseline=job.local_baseline,
            )  # fmt: skip
            if taken is not None:
                raise _job_exists(taken)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # created meanwhile by another process
                raise _job_exists(job.name) from None
            event = JobEventRow(job_id=row.id, at=stamp, from_state=None, to_state=state.value, reason=reason,
                                reason_code=reason_code, reason_params=dict(reason_params or {}) or None)
            session.add(event)
            return job_record(session, row, event_record(event))

    def get_job(self, name: str) -> Job:
        """The job ``name``."""
        with self._session() as session:
            return job_record(session, job_row(session, name))

    def list_jobs(self, owner: str | None = None, states: Iterable[JobState] | None = None,
                  visible_to: str | None = None) -> list[Job]:  # fmt: skip
        """Jobs, oldest first: all, ``owner``'s, or those ``visible_to`` a user (own or shared with them)."""
        with self._session() as session:
            query = select(JobRow).order_by(JobRow.created_at, JobRow.id)
            if owner is not None:
                query = query.where(JobRow.owner_id == user_row(session, owner).id)
            if visible_to is not None:
                reader = user_row(session, visible_to).id
                shared = select(JobShareRow.job_id).where(JobShareRow.user_id == reader)
                query = query.where((JobRow.owner_id == reader) | JobRow.id.in_(shared))
            if states is not None:
                query = query.where(JobRow.state.in_([JobState(s).value for s in states]))
            return [job_record(session, row) for row in session.scalars(query)]

    def enqueue_job(self, name: str, max_queued_per_user: int, resume_from: int | None = None, reason: str = "",
                    reason_code: str | None = None, reason_params: Mapping[str, Any] | None = None) -> Job:  # fmt: skip
        """``ready → queued`` (or ``failed/cancelled → queued`` to resume after round ``resume_from``),
        unless the owner already has ``max_queued_per_user`` queued jobs."""
        with self._session() as session:
            row = job_row(session, name, for_update=True)
            user_row(session, owner_name(session, row), for_update=True)  # serialises one user's starts
            queued = session.execute(
                select(func.count()).select_from(JobRow).where(
                    JobRow.owner_id == row.owner_id, JobRow.state == JobState.QUEUED.value
                )
            ).scalar_one()
            if queued >= max_queued_per_user and row.state != JobState.QUEUED.value:
                raise StorageConflict(
                    f"you already have {queued} jobs waiting in the queue (at most {max_queued_per_user}); "
                    "start this one when one of them has begun running, or stop one",
                    code="job.queue_full", params={"queued": queued, "limit": max_queued_per_user},
                )
            event = self._move(session, row, JobState.QUEUED, reason or "start requested by the user",
                               reason_code or ("event.start_requested" if not reason else None), reason_params)
            row.queued_at = utc_now()
            row.resume_from = resume_from
            row.failure = None if resume_from is not None else row.failure
            row.run_handle = None
            return job_record(session, row, event)

    def claim_next_queued(self, capacity: int, runner: str) -> Job | None:
        """The oldest queued job, moved to ``running``, if fewer than ``capacity`` jobs of ``runner`` run.

        Schedulers claim one at a time (SQLite: its write lock; PostgreSQL: an advisory lock), so two of
        them never both see room for one more job.
        """
        with self._session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SELECT pg_advisory_xact_lock({SCHEDULER_LOCK})"))
            running = session.execute(
                select(func.count()).select_from(JobRow).where(
                    JobRow.state == JobState.RUNNING.value, JobRow.runner == runner
                )
            ).scalar_one()
            if running >= capacity:
                return None
            row = session.scalars(
                select(JobRow).where(JobRow.state == JobState.QUEUED.value)
                .order_by(JobRow.queued_at, JobRow.id).limit(1).with_for_update(skip_locked=True)
            ).first()  # fmt: skip
            if row is None:
                return None
            event = self._move(session, row, JobState.RUNNING, f"started on the {runner} runner", "event.started",
                               {"runner": runner})  # fmt: skip
            row.runner = runner
            row.started_at = utc_now()
            return job_record(session, row, event)

    def transition(
        self, name: str, to_state: JobState, reason: str, failure: Mapping[str, Any] | None = None, quiet: bool = False,
        reason_code: str | None = None, reason_params: Mapping[str, Any] | None = None,
    ) -> Job | None:
        """Move a job to ``to_state`` if that transition is allowed.

        Returns:
            The job; or ``None`` when ``quiet`` and the move is not allowed (a race already decided it).

        Raises:
            StorageConflict: the transition is not allowed (and not ``quiet``).
        """
        with self._session() as session:
            row = job_row(session, name, for_update=True)
            if JobState(to_state) not in TRANSITIONS[JobState(row.state)]:
                if quiet:
                    return None
                raise StorageConflict(f"job {name} is {row.state}; it cannot become {JobState(to_state).value}",
                                      code="job.transition_invalid", params={"name": name, "state": row.state,
                                                                            "to_state": JobState(to_state).value})
            event = self._move(session, row, JobState(to_state), reason, reason_code, reason_params)
            if failure is not None:
                row.failure = dict(failure)
            if JobState(to_state).is_final:
                row.finished_at = utc_now()
            return job_record(session, row, event)

    def share_job(self, name: str, readers: Iterable[str]) -> Job:
        """Let ``readers`` (existing users) read job ``name``."""
        with self._session() as session:
            job = job_row(session, name)
            for reader in readers:
                user_id = user_row(session, reader).id
                if session.get(JobShareRow, (job.id, user_id)) is None:
                    session.add(JobShareRow(job_id=job.id, user_id=user_id))
            session.flush()
            return job_record(session, job)

    def unshare_job(self, name: str, reader: str) -> Job:
        """Stop sharing job ``name`` with ``reader``."""
        with self._session() as session:
            job = job_row(session, name)
            session.execute(delete(JobShareRow).where(JobShareRow.job_id == job.id,
                                                      JobShareRow.user_id == user_row(session, reader).id))  # fmt: skip
            return job_record(session, job)

    def set_run_handle(self, name: str, handle: str) -> None:
        """Record the runner's handle of the job's run."""
        with self._session() as session:
            job_row(session, name).run_handle = handle

    def job_events(self, name: str) -> list[JobEvent]:
        """The job's state changes, oldest first."""
        with self._session() as session:
            return event_records(session, job_row(session, name))

    def delete_job(self, name: str) -> None:
        """Delete a job with its events, progress, metrics and result files; refused while it is queued or running."""
        with self._session() as session:
            row = job_row(session, name, for_update=True)
            if row.state in ACTIVE_STATES:
                raise StorageConflict(f"job {name} is {row.state}: stop it before deleting it", code="job.delete_active",
                                      params={"name": name, "state": row.state})
            blobs = set(session.scalars(select(ArtefactRow.blob_id).where(ArtefactRow.job_id == row.id)))
            for table in (ArtefactRow, MetricRow, JobRoundRow, JobStageRow, JobEventRow, JobShareRow):
                session.execute(delete(table).where(table.job_id == row.id))
            session.delete(row)
            session.flush()
            for blob_id in blobs:
                drop_blob_if_unused(session, blob_id)

    def _move(self, session: Session, row: JobRow, to_state: JobState, reason: str, reason_code: str | None = None,
              reason_params: Mapping[str, Any] | None = None) -> JobEvent:  # fmt: skip
        """Record the move of ``row`` to ``to_state`` and make it; returns the event recorded."""
        current = JobState(row.state)
        if to_state not in TRANSITIONS[current]:
            raise StorageConflict(f"job {row.name} is {current.value}; it cannot become {to_state.value}",
                                  code="job.transition_invalid", params={"name": row.name, "state": current.value,
                                                                        "to_state": to_state.value})
        event = JobEventRow(job_id=row.id, at=utc_now(), from_state=current.value, to_state=to_state.value, reason=reason,
                            reason_code=reason_code, reason_params=dict(reason_params or {}) or None)
        session.add(event)
        row.state = to_state.value
        return event_record(event)


def _job_exists(name: str) -> StorageConflict:
    return StorageConflict(f"a job named {name!r} already exists (names that differ only in letter case count as one); "
                           "choose another name", code="job.name_taken", params={"name": name})  # fmt: skip
