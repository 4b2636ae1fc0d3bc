"""The model registry in SQL (``ModelRepository``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nvflare_fdd.platform.blobs import blob_chunks, drop_blob_if_unused, put_blob
from nvflare_fdd.platform.errors import StorageConflict
from nvflare_fdd.platform.records import Model
from nvflare_fdd.platform.schema import JobRow, ModelFileRow, ModelRow
from nvflare_fdd.platform.sql.base import ACTIVE_STATES, SqlBase, utc_now
from nvflare_fdd.platform.sql.rows import model_record, model_row, user_row


class SqlModels(SqlBase):
    """Models and their files (content in blobs, shared with anything else that has the same content)."""

    def add_model(
        self, owner: str, class_name: str, version: str, description: str, files: Mapping[str, Path],
        metric_names: Iterable[str] = (),
    ) -> Model:  # fmt: skip
        """Register a model; ``class_name`` + ``version`` must be new across all users."""
        with self._session() as session:
            owner_row = user_row(session, owner)
            stamp = utc_now()
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
            return model_record(session, row)

    def replace_model_files(self, class_name: str, version: str, files: Mapping[str, Path]) -> Model:
        """Replace all of a model's files (the registry's edit)."""
        with self._session() as session:
            row = model_row(session, class_name, version)
            self._refuse_if_active(session, row, "replace its files")
            old_blobs = self._delete_files(session, row.id)
            self._put_files(session, row.id, files)
            session.flush()
            for blob_id in old_blobs:
                drop_blob_if_unused(session, blob_id)
            row.updated_at = utc_now()
            return model_record(session, row)

    def update_model_description(self, class_name: str, version: str, description: str) -> Model:
        """Replace a model's description."""
        with self._session() as session:
            row = model_row(session, class_name, version)
            row.description = description
            row.updated_at = utc_now()
            return model_record(session, row)

    def delete_model(self, class_name: str, version: str) -> None:
        """Delete a model and its files, for good; refused while any job uses it (delete those jobs first)."""
        with self._session() as session:
            row = model_row(session, class_name, version)
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
                drop_blob_if_unused(session, blob_id)

    def get_model(self, class_name: str, version: str) -> Model:
        """One model."""
        with self._session() as session:
            return model_record(session, model_row(session, class_name, version))

    def list_models(self, owner: str | None = None) -> list[Model]:
        """Every model, or ``owner``'s."""
        with self._session() as session:
            query = select(ModelRow).order_by(ModelRow.class_name, ModelRow.version)
            if owner is not None:
                query = query.where(ModelRow.owner_id == user_row(session, owner).id)
            return [model_record(session, row) for row in session.scalars(query)]

    def export_model_files(self, class_name: str, version: str, folder: Path) -> Path:
        """Write a model's files into ``folder`` (created) and return it."""
        folder.mkdir(parents=True, exist_ok=True)
        with self._session() as session:
            row = model_row(session, class_name, version)
            for file_row in session.scalars(select(ModelFileRow).where(ModelFileRow.model_id == row.id)):
                with open(folder / file_row.name, "wb") as handle:
                    for chunk in blob_chunks(session, file_row.blob_id):
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
            blob_id, size = put_blob(session, Path(path))
            session.add(ModelFileRow(model_id=model_id, name=name, blob_id=blob_id, size=size))


def _model_exists(class_name: str, version: str) -> StorageConflict:
    return StorageConflict(f"model {class_name} version {version} already exists (names that differ only in letter case "
                           "count as one); register it under another version", code="model.exists",
                           params={"model": f"{class_name}:{version}"})  # fmt: skip
