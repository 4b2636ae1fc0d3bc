"""Rows looked up by name (``NotFound`` otherwise) and turned into records (``platform.records``)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from nvflare_fdd.platform.errors import NotFound
from nvflare_fdd.platform.records import Job, JobEvent, JobState, Model, ModelFile, User
from nvflare_fdd.platform.schema import JobEventRow, JobRow, JobShareRow, ModelFileRow, ModelRow, UserRow

_Named = TypeVar("_Named", UserRow, JobRow)


def _named_row(session: Session, row_type: type[_Named], name: str, for_update: bool) -> _Named | None:
    """The row of ``row_type`` called ``name`` (locked for the transaction with ``for_update``), or None."""
    query = select(row_type).where(row_type.name == name)
    return session.scalars(query.with_for_update() if for_update else query).first()


def user_row(session: Session, name: str, for_update: bool = False) -> UserRow:
    row = _named_row(session, UserRow, name, for_update)
    if row is None:
        raise NotFound(f"no user named {name!r}", code="user.not_found", params={"name": name})
    return row


def user_record(row: UserRow) -> User:
    return User(id=row.id, name=row.name, is_admin=row.is_admin, created_at=row.created_at)


def model_row(session: Session, class_name: str, version: str) -> ModelRow:
    row = session.scalars(select(ModelRow).where(ModelRow.class_name == class_name, ModelRow.version == version)).first()
    if row is None:
        raise NotFound(f"no model {class_name} version {version}; see `fdd models list`", code="model.not_found",
                       params={"model": f"{class_name}:{version}"})
    return row


def model_record(session: Session, row: ModelRow) -> Model:
    files = session.scalars(select(ModelFileRow).where(ModelFileRow.model_id == row.id).order_by(ModelFileRow.name))
    return Model(
        id=row.id, class_name=row.class_name, version=row.version, description=row.description,
        owner=session.get_one(UserRow, row.owner_id).name, files=tuple(ModelFile(f.name, f.size) for f in files),
        created_at=row.created_at, updated_at=row.updated_at, metric_names=tuple(row.metric_names or ()),
    )  # fmt: skip


def job_row(session: Session, name: str, for_update: bool = False) -> JobRow:
    row = _named_row(session, JobRow, name, for_update)
    if row is None:
        raise NotFound(f"no job named {name!r}; see `fdd jobs list`", code="job.not_found", params={"name": name})
    return row


def owner_name(session: Session, job: JobRow) -> str:
    return session.get_one(UserRow, job.owner_id).name


def job_record(session: Session, row: JobRow, event: JobEvent | None = None) -> Job:
    model = session.get(ModelRow, row.model_id) if row.model_id else None
    return Job(
        id=row.id, name=row.name, owner=session.get_one(UserRow, row.owner_id).name,
        model=f"{model.class_name}:{model.version}" if model else None, description=row.description,
        rounds=row.rounds, sites=tuple(row.sites), state=JobState(row.state), created_at=row.created_at,
        queued_at=row.queued_at, started_at=row.started_at, finished_at=row.finished_at, runner=row.runner,
        run_handle=row.run_handle, failure=row.failure, external=row.external, min_sites=row.min_sites,
        resume_from=row.resume_from, algorithm=row.algorithm, fedprox_mu=row.fedprox_mu, local_baseline=row.local_baseline,
        shared_with=tuple(sorted(session.scalars(
            select(UserRow.name).join(JobShareRow, JobShareRow.user_id == UserRow.id).where(JobShareRow.job_id == row.id)
        ))), event=event,
    )  # fmt: skip


def event_records(session: Session, job: JobRow) -> list[JobEvent]:
    events = session.scalars(select(JobEventRow).where(JobEventRow.job_id == job.id).order_by(JobEventRow.id))
    return [event_record(e) for e in events]


def event_record(row: JobEventRow) -> JobEvent:
    return JobEvent(at=row.at, from_state=row.from_state, to_state=row.to_state, reason=row.reason, code=row.reason_code,
                    params=dict(row.reason_params or {}))  # fmt: skip
