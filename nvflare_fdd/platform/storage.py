"""``SqlStorage``: the default storage backend (SQLite file by default, any SQLAlchemy URL).

Every method is one transaction and returns plain records (``platform.records``).
Rules that must hold under concurrent writers (unique names, the per-user queue
limit, claiming a queued job, legal state transitions) are checked inside the
transaction that writes, so two platform processes can never both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvflare_fdd.platform.blobs import CHUNK_BYTES  # noqa: F401 (re-exported)
from nvflare_fdd.platform.blobs import blob_chunks as _blob_chunks
from nvflare_fdd.platform.blobs import drop_blob_if_unused as _drop_blob_if_unused
from nvflare_fdd.platform.blobs import put_blob as _put_blob
from nvflare_fdd.platform.db import make_platform_engine, session_factory, session_scope
from nvflare_fdd.platform.errors import NotFound, StorageConflict  # noqa: F401 (re-exported: where callers find them)
from nvflare_fdd.platform.pretrained_store import PretrainedStore
from nvflare_fdd.platform.records import (
    TRANSITIONS,
    Job,
    JobEvent,
    JobProgress,
    JobState,
    MetricValue,
    Model,
    ModelFile,
    SiteGroup,
    User,
)
from nvflare_fdd.platform.schema import (
    ArtefactRow,
    JobEventRow,
    JobRoundRow,
    JobRow,
    JobShareRow,
    JobStageRow,
    MetricRow,
    ModelFileRow,
    ModelRow,
    SiteGroupRow,
    UserRow,
    WebSessionRow,
)

CHECKPOINT = "checkpoint.safetensors"  # the global model after the last finished round
CONTROLS_CHECKPOINT = "checkpoint_controls.safetensors"  # SCAFFOLD's global controls after that round
ACTIVE_STATES = (JobState.QUEUED.value, JobState.RUNNING.value)
SCHEDULER_LOCK = 0x46_44_44_02  # an arbitrary, fixed advisory-lock key: one job claim at a time


def now() -> datetime:
    return datetime.now(UTC)


class SqlStorage(PretrainedStore):
    """The platform's records in a SQL database.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:////srv/fdd/platform.db`` or ``postgresql+psycopg://...``.
    """

    def __init__(self, url: str):
        self.url = url
        self.engine = make_platform_engine(url)
        self._sessions = session_factory(self.engine)

    def _session(self):
        return session_scope(self._sessions)

    def close(self) -> None:
        self.engine.dispose()

    # -- users ----------------------------------------------------------------------------------

    def ensure_user(self, name: str, is_admin: bool = False) -> User:
        """The user ``name``, created (without a password) if new."""
        with self._session() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
            if row is None:
                row = UserRow(name=name, password_hash=None, is_admin=is_admin, created_at=now())
                session.add(row)
                try:
                    session.flush()
                except IntegrityError:  # created meanwhile by another process
                    session.rollback()
                    row = session.scalars(select(UserRow).where(UserRow.name == name)).one()
            return _user(row)

    def create_user(self, name: str, password_hash: str | None, is_admin: bool = False) -> User:
        with self._session() as session:
            row = UserRow(name=name, password_hash=password_hash, is_admin=is_admin, created_at=now())
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise StorageConflict(f"a user named {name!r} already exists", code="user.exists", params={"name": name}) from None
            return _user(row)

    def set_password(self, name: str, password_hash: str) -> None:
        with self._session() as session:
            _user_row(session, name).password_hash = password_hash

    def password_hash(self, name: str) -> str | None:
        with self._session() as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).first()
            return row.password_hash if row else None

    def get_user(self, name: str) -> User:
        with self._session() as session:
            return _user(_user_row(session, name))

    def list_users(self) -> list[User]:
        with self._session() as session:
            return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    # -- models ---------------------------------------------------------------------------------

    def add_model(
        self, owner: str, class_name: str, version: str, description: str, files: Mapping[str, Path],
        metric_names: Iterable[str] = (),
    ) -> Model:  # fmt: skip
        """Register a model; ``class_name`` + ``version`` must be new across all users."""
        with self._session() as session:
            owner_row = _user_row(session, owner)
            stamp = now()
            key = f"{class_name}:{version}".lower()
            taken = session.scalars(select(ModelRow).where(ModelRow.label_key == key)).first()
            row = ModelRow(
                class_name=class_name, version=version, description=description, label_key=key,
                owner_id=owner_row.id, created_at=stamp, updated_at=stamp, metric_names=list(metric_names),
            )  # fmt: skip
            if taken is not None:
                raise _model_exists(taken.class_name, taken.version)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # registered meanwhile by another process
                raise _model_exists(class_name, version) from None
            self._put_files(session, row.id, files)
            return _model(session, row)

    def replace_model_files(self, class_name: str, version: str, files: Mapping[str, Path]) -> Model:
        """Replace all of a model's files (the registry's edit)."""
        with self._session() as session:
            row = _model_row(session, class_name, version)
            self._refuse_if_active(session, row, "replace its files")
            old_blobs = self._delete_files(session, row.id)
            self._put_files(session, row.id, files)
            session.flush()
            for blob_id in old_blobs:
                _drop_blob_if_unused(session, blob_id)
            row.updated_at = now()
            return _model(session, row)

    def update_model_description(self, class_name: str, version: str, description: str) -> Model:
        with self._session() as session:
            row = _model_row(session, class_name, version)
            row.description = description
            row.updated_at = now()
            return _model(session, row)

    def delete_model(self, class_name: str, version: str) -> None:
        """Delete a model and its files, for good; refused while any job uses it (delete those jobs first)."""
        with self._session() as session:
            row = _model_row(session, class_name, version)
            self._refuse_if_active(session, row, "delete it")
            users = session.scalars(select(JobRow.name).where(JobRow.model_id == row.id).order_by(JobRow.name)).all()
            if users:
                raise StorageConflict(
                    f"cannot delete model {row.class_name}:{row.version}: job(s) {', '.join(users)} use it (to show their "
                    "model and to resume); delete those jobs first", code="model.used_by_jobs",
                    params={"model": f"{row.class_name}:{row.version}", "jobs": ", ".join(users)},
                )
            old_blobs = self._delete_files(session, row.id)
            for job in session.scalars(select(JobRow).where(JobRow.model_id == row.id)):
                job.model_id = None  # finished jobs keep their results, not the model
            session.delete(row)
            session.flush()
            for blob_id in old_blobs:
                _drop_blob_if_unused(session, blob_id)

    def get_model(self, class_name: str, version: str) -> Model:
        with self._session() as session:
            return _model(session, _model_row(session, class_name, version))

    def list_models(self, owner: str | None = None) -> list[Model]:
        """Every model, or ``owner``'s."""
        with self._session() as session:
            query = select(ModelRow).order_by(ModelRow.class_name, ModelRow.version)
            if owner is not None:
                query = query.where(ModelRow.owner_id == _user_row(session, owner).id)
            return [_model(session, row) for row in session.scalars(query)]

    def export_model_files(self, class_name: str, version: str, folder: Path) -> Path:
        """Write a model's files into ``folder`` (created) and return it."""
        folder.mkdir(parents=True, exist_ok=True)
        with self._session() as session:
            row = _model_row(session, class_name, version)
            for file_row in session.scalars(select(ModelFileRow).where(ModelFileRow.model_id == row.id)):
                with open(folder / file_row.name, "wb") as handle:
                    for chunk in _blob_chunks(session, file_row.blob_id):
                        handle.write(chunk)
        return folder

    def _refuse_if_active(self, session: Session, model: ModelRow, action: str) -> None:
        active = session.scalars(
            select(JobRow.name).where(JobRow.model_id == model.id, JobRow.state.in_(ACTIVE_STATES))
        ).all()
        if active:
            raise StorageConflict(
                f"cannot {action}: model {model.class_name}:{model.version} is used by "
                f"{'queued or running job' if len(active) == 1 else 'queued or running jobs'} {', '.join(active)}; "
                "stop them or wait until they end",
                code="model.in_use_replace" if action.startswith("replace") else "model.in_use_delete",
                params={"model": f"{model.class_name}:{model.version}", "jobs": ", ".join(active)},
            )

    @staticmethod
    def _delete_files(session: Session, model_id: int) -> list[int]:
        blobs = session.scalars(select(ModelFileRow.blob_id).where(ModelFileRow.model_id == model_id)).all()
        session.execute(delete(ModelFileRow).where(ModelFileRow.model_id == model_id))
        return list(set(blobs))

    def _put_files(self, session: Session, model_id: int, files: Mapping[str, Path]) -> None:
        for name, path in files.items():
            blob_id, size = _put_blob(session, Path(path))
            session.add(ModelFileRow(model_id=model_id, name=name, blob_id=blob_id, size=size))

    # -- site groups ----------------------------------------------------------------------------

    def save_group(self, owner: str, name: str, sites: Iterable[str]) -> SiteGroup:
        """Save (or overwrite) one of ``owner``'s site groups."""
        with self._session() as session:
            owner_row = _user_row(session, owner)
            row = session.scalars(
                select(SiteGroupRow).where(SiteGroupRow.owner_id == owner_row.id, SiteGroupRow.name_key == name.lower())
            ).first()
            if row is None:
                row = SiteGroupRow(owner_id=owner_row.id, name=name, name_key=name.lower(), sites=list(sites))
                session.add(row)
            else:  # the same name, perhaps in other letter case: this group, renamed
                row.name, row.sites = name, list(sites)
            return SiteGroup(name=name, owner=owner, sites=tuple(row.sites))

    def list_groups(self, owner: str) -> list[SiteGroup]:
        with self._session() as session:
            owner_row = _user_row(session, owner)
            rows = session.scalars(select(SiteGroupRow).where(SiteGroupRow.owner_id == owner_row.id).order_by(SiteGroupRow.name))
            return [SiteGroup(name=row.name, owner=owner, sites=tuple(row.sites)) for row in rows]

    def delete_group(self, owner: str, name: str) -> None:
        with self._session() as session:
            owner_row = _user_row(session, owner)
            deleted = session.execute(
                delete(SiteGroupRow).where(SiteGroupRow.owner_id == owner_row.id, SiteGroupRow.name_key == name.lower())
            ).rowcount
            if not deleted:
                raise NotFound(f"{owner} has no site group named {name!r}", code="group.not_found", params={"name": name})

    # -- jobs -----------------------------------------------------------------------------------

    def create_job(
        self, owner: str, name: str, model: tuple[str, str] | None, description: str, rounds: int, sites: Iterable[str],
        external: bool = False, state: JobState = JobState.READY, reason: str = "created", min_sites: int = 0,
        algorithm: str = "fedavg", fedprox_mu: float = 0.01, local_baseline: bool = False,
        reason_code: str | None = "event.created", reason_params: Mapping[str, Any] | None = None,
    ) -> Job:  # fmt: skip
        """A new job (``ready``); the name must be new across all users (names differing only in case count as one)."""
        with self._session() as session:
            owner_row = _user_row(session, owner)
            model_id = _model_row(session, *model).id if model else None
            stamp = now()
            taken = session.scalar(select(JobRow.name).where(JobRow.name_key == name.lower()))
            row = JobRow(
                name=name, name_key=name.lower(), owner_id=owner_row.id, model_id=model_id, description=description,
                rounds=rounds, sites=list(sites), state=state.value, created_at=stamp, external=external, min_sites=min_sites,
                started_at=stamp if state == JobState.RUNNING else None, algorithm=algorithm, fedprox_mu=fedprox_mu,
                local_baseline=local_baseline,
            )  # fmt: skip
            if taken is not None:
                raise _job_exists(taken)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # created meanwhile by another process
                raise _job_exists(name) from None
            session.add(JobEventRow(job_id=row.id, at=stamp, from_state=None, to_state=state.value, reason=reason,
                                    reason_code=reason_code, reason_params=dict(reason_params or {}) or None))
            return _job(session, row)

    def get_job(self, name: str) -> Job:
        with self._session() as session:
            return _job(session, _job_row(session, name))

    def list_jobs(self, owner: str | None = None, states: Iterable[JobState] | None = None,
                  visible_to: str | None = None) -> list[Job]:  # fmt: skip
        """Jobs, oldest first: all, ``owner``'s, or those ``visible_to`` a user (own or shared with them)."""
        with self._session() as session:
            query = select(JobRow).order_by(JobRow.created_at, JobRow.id)
            if owner is not None:
                query = query.where(JobRow.owner_id == _user_row(session, owner).id)
            if visible_to is not None:
                reader = _user_row(session, visible_to).id
                shared = select(JobShareRow.job_id).where(JobShareRow.user_id == reader)
                query = query.where((JobRow.owner_id == reader) | JobRow.id.in_(shared))
            if states is not None:
                query = query.where(JobRow.state.in_([JobState(s).value for s in states]))
            return [_job(session, row) for row in session.scalars(query)]

    def enqueue_job(self, name: str, max_queued_per_user: int, resume_from: int | None = None, reason: str = "",
                    reason_code: str | None = None, reason_params: Mapping[str, Any] | None = None) -> Job:  # fmt: skip
        """``ready → queued`` (or ``failed/cancelled → queued`` to resume after round ``resume_from``),
        unless the owner already has ``max_queued_per_user`` queued jobs."""
        with self._session() as session:
            row = _job_row(session, name, for_update=True)
            _user_row(session, _owner_name(session, row), for_update=True)  # serialises one user's starts
            queued = session.scalar(
                select(func.count()).select_from(JobRow).where(
                    JobRow.owner_id == row.owner_id, JobRow.state == JobState.QUEUED.value
                )
            )
            if queued >= max_queued_per_user and row.state != JobState.QUEUED.value:
                raise StorageConflict(
                    f"you already have {queued} jobs waiting in the queue (at most {max_queued_per_user}); "
                    "start this one when one of them has begun running, or stop one",
                    code="job.queue_full", params={"queued": queued, "limit": max_queued_per_user},
                )
            self._move(session, row, JobState.QUEUED, reason or "start requested by the user",
                       reason_code or ("event.start_requested" if not reason else None), reason_params)
            row.queued_at = now()
            row.resume_from = resume_from
            row.failure = None if resume_from is not None else row.failure
            row.run_handle = None
            return _job(session, row)

    def claim_next_queued(self, capacity: int, runner: str) -> Job | None:
        """The oldest queued job, moved to ``running``, if fewer than ``capacity`` jobs of ``runner`` run.

        Schedulers claim one at a time (SQLite: its write lock; PostgreSQL: an advisory lock), so two of
        them never both see room for one more job.
        """
        with self._session() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SELECT pg_advisory_xact_lock({SCHEDULER_LOCK})"))
            running = session.scalar(
                select(func.count()).select_from(JobRow).where(
                    JobRow.state == JobState.RUNNING.value, JobRow.runner == runner
                )
            )
            if running >= capacity:
                return None
            row = session.scalars(
                select(JobRow).where(JobRow.state == JobState.QUEUED.value)
                .order_by(JobRow.queued_at, JobRow.id).limit(1).with_for_update(skip_locked=True)
            ).first()  # fmt: skip
            if row is None:
                return None
            self._move(session, row, JobState.RUNNING, f"started on the {runner} runner", "event.started", {"runner": runner})
            row.runner = runner
            row.started_at = now()
            return _job(session, row)

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
            row = _job_row(session, name, for_update=True)
            if JobState(to_state) not in TRANSITIONS[JobState(row.state)]:
                if quiet:
                    return None
                raise StorageConflict(f"job {name} is {row.state}; it cannot become {JobState(to_state).value}",
                                      code="job.transition_invalid", params={"name": name, "state": row.state,
                                                                            "to_state": JobState(to_state).value})
            self._move(session, row, JobState(to_state), reason, reason_code, reason_params)
            if failure is not None:
                row.failure = dict(failure)
            if JobState(to_state).is_final:
                row.finished_at = now()
            return _job(session, row)

    def share_job(self, name: str, readers: Iterable[str]) -> Job:
        """Let ``readers`` (existing users) read job ``name``."""
        with self._session() as session:
            job = _job_row(session, name)
            for reader in readers:
                user_id = _user_row(session, reader).id
                if session.get(JobShareRow, (job.id, user_id)) is None:
                    session.add(JobShareRow(job_id=job.id, user_id=user_id))
            session.flush()
            return _job(session, job)

    def unshare_job(self, name: str, reader: str) -> Job:
        with self._session() as session:
            job = _job_row(session, name)
            session.execute(delete(JobShareRow).where(JobShareRow.job_id == job.id,
                                                      JobShareRow.user_id == _user_row(session, reader).id))  # fmt: skip
            return _job(session, job)

    def set_run_handle(self, name: str, handle: str) -> None:
        with self._session() as session:
            _job_row(session, name).run_handle = handle

    def job_events(self, name: str) -> list[JobEvent]:
        with self._session() as session:
            return _events(session, _job_row(session, name))

    def delete_job(self, name: str) -> None:
        """Delete a job with its events, progress, metrics and result files; refused while it is queued or running."""
        with self._session() as session:
            row = _job_row(session, name, for_update=True)
            if row.state in ACTIVE_STATES:
                raise StorageConflict(f"job {name} is {row.state}: stop it before deleting it", code="job.delete_active",
                                      params={"name": name, "state": row.state})
            blobs = set(session.scalars(select(ArtefactRow.blob_id).where(ArtefactRow.job_id == row.id)))
            for table in (ArtefactRow, MetricRow, JobRoundRow, JobStageRow, JobEventRow, JobShareRow):
                session.execute(delete(table).where(table.job_id == row.id))
            session.delete(row)
            session.flush()
            for blob_id in blobs:
                _drop_blob_if_unused(session, blob_id)

    def _move(self, session: Session, row: JobRow, to_state: JobState, reason: str, reason_code: str | None = None,
              reason_params: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        current = JobState(row.state)
        if to_state not in TRANSITIONS[current]:
            raise StorageConflict(f"job {row.name} is {current.value}; it cannot become {to_state.value}",
                                  code="job.transition_invalid", params={"name": row.name, "state": current.value,
                                                                        "to_state": to_state.value})
        session.add(JobEventRow(job_id=row.id, at=now(), from_state=current.value, to_state=to_state.value, reason=reason,
                                reason_code=reason_code, reason_params=dict(reason_params or {}) or None))
        row.state = to_state.value

    # -- progress, metrics, artefacts -----------------------------------------------------------

    def record_round(
        self, name: str, round_num: int, started: float | None = None, finished: float | None = None,
        checkpoint: Path | None = None, controls: Path | None = None,
    ) -> None:  # fmt: skip
        """A round's start or end; with ``checkpoint`` (the round's global model, safetensors) and SCAFFOLD's
        ``controls``, stored in the same transaction, so the last finished round and the saved state always agree
        (``fdd jobs resume``)."""
        with self._session() as session:
            job = _job_row(session, name)
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
            job = _job_row(session, name)
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
            job = _job_row(session, name)
            session.merge(JobStageRow(job_id=job.id, round=round_num, site=site, phases=phases, num_samples=num_samples,
                                      dropped_metrics=dropped_metrics or None, personalized=personalized or None))  # fmt: skip

    def record_setup(self, name: str, site: str, phases: list[dict]) -> None:
        """A site's setup phases so far (round 0); never replaces a longer record (the events may arrive late)."""
        with self._session() as session:
            job = _job_row(session, name)
            row = session.get(JobStageRow, (job.id, 0, site))
            if row is None:
                session.add(JobStageRow(job_id=job.id, round=0, site=site, phases=phases, num_samples=None))
            elif len(phases) > len(row.phases or []):
                row.phases = phases

    def record_metrics(self, name: str, round_num: int, site: str, kind: str, values: Mapping[str, float]) -> None:
        with self._session() as session:
            job = _job_row(session, name)
            for metric, value in values.items():
                session.merge(MetricRow(job_id=job.id, round=round_num, site=site, kind=kind, metric=metric, value=float(value)))

    def metrics(self, name: str) -> list[MetricValue]:
        with self._session() as session:
            job = _job_row(session, name)
            rows = session.scalars(
                select(MetricRow).where(MetricRow.job_id == job.id)
                .order_by(MetricRow.round, MetricRow.site, MetricRow.kind, MetricRow.metric)
            )  # fmt: skip
            return [MetricValue(r.round, r.site, r.kind, r.metric, r.value) for r in rows]

    def progress(self, name: str) -> JobProgress:
        with self._session() as session:
            job = _job_row(session, name)
            progress = JobProgress(job=_job(session, job))
            for stage in session.scalars(select(JobStageRow).where(JobStageRow.job_id == job.id)):
                if stage.round == 0:
                    progress.setup[stage.site] = stage.phases
                else:
                    record = progress.rounds.setdefault(stage.round, {"started": None, "finished": None, "sites": {}})
                    record["sites"][stage.site] = {"phases": stage.phases, "num_samples": stage.num_samples}
                    if stage.dropped_metrics:
                        record["sites"][stage.site]["dropped_metrics"] = stage.dropped_metrics
                    if stage.personalized:
                        record["sites"][stage.site]["personalized_model_kept"] = True
            for round_row in session.scalars(select(JobRoundRow).where(JobRoundRow.job_id == job.id)):
                record = progress.rounds.setdefault(round_row.round, {"started": None, "finished": None, "sites": {}})
                record.update(started=round_row.started_at, finished=round_row.finished_at)
            progress.events = _events(session, job)  # one transaction: the events match the records
        progress.rounds = dict(sorted(progress.rounds.items()))
        return progress

    def put_artefact(self, name: str, artefact: str, path: Path) -> None:
        """Store (or replace) a job's result file; a replaced file's content is removed if nothing else uses it."""
        with self._session() as session:
            self._replace_artefact(session, _job_row(session, name), artefact, Path(path))

    @staticmethod
    def _replace_artefact(session: Session, job: JobRow, artefact: str, path: Path) -> None:
        previous = session.get(ArtefactRow, (job.id, artefact))
        old_blob = previous.blob_id if previous is not None else None
        blob_id, size = _put_blob(session, path)
        session.merge(ArtefactRow(job_id=job.id, name=artefact, blob_id=blob_id, size=size))
        session.flush()
        if old_blob is not None and old_blob != blob_id:
            _drop_blob_if_unused(session, old_blob)

    def artefacts(self, name: str) -> dict[str, int]:
        """Artefact name → size in bytes."""
        with self._session() as session:
            job = _job_row(session, name)
            return {r.name: r.size for r in session.scalars(select(ArtefactRow).where(ArtefactRow.job_id == job.id))}

    def write_artefact(self, name: str, artefact: str, destination: Path) -> Path:
        with self._session() as session:
            job = _job_row(session, name)
            row = session.get(ArtefactRow, (job.id, artefact))
            if row is None:
                raise NotFound(f"job {name} has no {artefact} (yet)", code="job.no_artefact", params={"name": name, "file": artefact})
            with open(destination, "wb") as handle:
                for chunk in _blob_chunks(session, row.blob_id):
                    handle.write(chunk)
        return destination


    # -- web sessions ---------------------------------------------------------------------------

    def add_web_session(self, user: str, token_hash: str, expires_at: datetime) -> None:
        """Record a signed-in session (the cookie carries the token; only its hash is kept)."""
        with self._session() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now()))  # expired ones go
            session.add(WebSessionRow(token_hash=token_hash, user_id=_user_row(session, user).id, created_at=now(),
                                      expires_at=expires_at))  # fmt: skip

    def web_session_user(self, token_hash: str) -> User | None:
        """The user of a live session, or ``None`` (unknown, revoked or expired)."""
        with self._session() as session:
            row = session.get(WebSessionRow, token_hash)
            if row is None or row.expires_at <= now():
                return None
            return _user(session.get_one(UserRow, row.user_id))

    def end_web_session(self, token_hash: str) -> None:
        with self._session() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_hash))

    def end_web_sessions(self, user: str) -> int:
        """Revoke every session of ``user`` (a new password); returns how many there were."""
        with self._session() as session:
            return session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == _user_row(session, user).id)).rowcount


# -- row → record -------------------------------------------------------------------------------


def _user(row: UserRow) -> User:
    return User(id=row.id, name=row.name, is_admin=row.is_admin, created_at=row.created_at)


def _user_row(session: Session, name: str, for_update: bool = False) -> UserRow:
    query = select(UserRow).where(UserRow.name == name)
    row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFound(f"no user named {name!r}", code="user.not_found", params={"name": name})
    return row


def _model_exists(class_name: str, version: str) -> StorageConflict:
    return StorageConflict(f"model {class_name} version {version} already exists (names that differ only in letter case "
                           "count as one); register it under another version", code="model.exists",
                           params={"model": f"{class_name}:{version}"})  # fmt: skip


def _job_exists(name: str) -> StorageConflict:
    return StorageConflict(f"a job named {name!r} already exists (names that differ only in letter case count as one); "
                           "choose another name", code="job.name_taken", params={"name": name})  # fmt: skip


def _owner_name(session: Session, job: JobRow) -> str:
    return session.get_one(UserRow, job.owner_id).name


def _model_row(session: Session, class_name: str, version: str) -> ModelRow:
    row = session.scalars(select(ModelRow).where(ModelRow.class_name == class_name, ModelRow.version == version)).first()
    if row is None:
        raise NotFound(f"no model {class_name} version {version}; see `fdd models list`", code="model.not_found",
                       params={"model": f"{class_name}:{version}"})
    return row


def _model(session: Session, row: ModelRow) -> Model:
    files = session.scalars(select(ModelFileRow).where(ModelFileRow.model_id == row.id).order_by(ModelFileRow.name))
    return Model(
        id=row.id, class_name=row.class_name, version=row.version, description=row.description,
        owner=session.get_one(UserRow, row.owner_id).name, files=tuple(ModelFile(f.name, f.size) for f in files),
        created_at=row.created_at, updated_at=row.updated_at, metric_names=tuple(row.metric_names or ()),
    )  # fmt: skip


def _job_row(session: Session, name: str, for_update: bool = False) -> JobRow:
    query = select(JobRow).where(JobRow.name == name)
    row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFound(f"no job named {name!r}; see `fdd jobs list`", code="job.not_found", params={"name": name})
    return row


def _job(session: Session, row: JobRow) -> Job:
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
        ))),
    )  # fmt: skip


def _events(session: Session, job: JobRow) -> list[JobEvent]:
    events = session.scalars(select(JobEventRow).where(JobEventRow.job_id == job.id).order_by(JobEventRow.id))
    return [JobEvent(at=e.at, from_state=e.from_state, to_state=e.to_state, reason=e.reason, code=e.reason_code,
                     params=dict(e.reason_params or {})) for e in events]  # fmt: skip
