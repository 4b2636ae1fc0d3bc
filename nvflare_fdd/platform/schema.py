"""The platform's tables (SQLAlchemy 2.0). Changes go through migrations (``platform/migrations``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """A time stamp that always comes back as aware UTC (SQLite forgets the zone of what it stores)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("store aware datetimes (UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class PlatformBase(DeclarativeBase):
    """Base of the platform's tables (separate from a site's KDA tables)."""

    type_annotation_map = {datetime: UtcDateTime}


class UserRow(PlatformBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BlobRow(PlatformBase):
    """File contents, stored once per content (sha256), in chunks so large weights fit any database."""

    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # 64-bit since migration 0005 (pretrained files pass 2 GiB); SQLite's INTEGER always was, and stays as created
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


class BlobChunkRow(PlatformBase):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ModelRow(PlatformBase):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("class_name", "version", name="uq_models_class_version"),
        UniqueConstraint("label_key", name="uq_models_label_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    class_name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # added in migration 0003: metric names declared at registration (besides the vocabulary and evaluate()'s keys)
    metric_names: Mapped[list | None] = mapped_column(JSON)
    # added in migration 0006: "class:version" in lower case, unique: names differing only in case collide
    label_key: Mapped[str | None] = mapped_column(String(200))


class _BlobFile:
    """A named file whose content is a blob; each table keys it by its owner's id first, then by ``name``."""

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))
    size: Mapped[int] = mapped_column(Integer)


class ModelFileRow(_BlobFile, PlatformBase):
    """A registered model's files."""

    __tablename__ = "model_files"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)


class SiteGroupRow(PlatformBase):
    """A saved selection of sites ("bookmark")."""

    __tablename__ = "site_groups"
    __table_args__ = (
        UniqueConstraint("owner_id", "name", name="uq_site_groups_owner_name"),
        UniqueConstraint("owner_id", "name_key", name="uq_site_groups_owner_name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(128))
    sites: Mapped[list] = mapped_column(JSON)
    # added in migration 0006: the name in lower case, unique per owner
    name_key: Mapped[str | None] = mapped_column(String(128))


class JobRow(PlatformBase):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("name_key", name="uq_jobs_name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    rounds: Mapped[int] = mapped_column(Integer)
    sites: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    runner: Mapped[str | None] = mapped_column(String(32))
    run_handle: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[dict | None] = mapped_column(JSON)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    # added in migration 0002
    min_sites: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resume_from: Mapped[int | None] = mapped_column(Integer)
    # added in migration 0004
    algorithm: Mapped[str] = mapped_column(String(16), default="fedavg", server_default="fedavg")
    fedprox_mu: Mapped[float] = mapped_column(Float, default=0.01, server_default="0.01")
    local_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    # added in migration 0006: the name in lower case, unique: names differing only in case collide
    name_key: Mapped[str | None] = mapped_column(String(128))


class JobShareRow(PlatformBase):
    """A job its owner shares read-only with another user (migration 0003)."""

    __tablename__ = "job_shares"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class JobEventRow(PlatformBase):
    """Every state transition, with its time and reason."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    # added in migration 0006: the reason as a code and its values, for interfaces that say it in their own words
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason_params: Mapped[dict | None] = mapped_column(JSON)


class WebSessionRow(PlatformBase):
    """A signed-in web session (migration 0006): the cookie names it; signing out or a new password removes it."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class _JobRound:
    """A record of one job's round: keyed by the job's id, then the round (then what the table adds)."""

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, sort_order=-2)
    round: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-1)


class JobStageRow(_JobRound, PlatformBase):
    """Progress: one row per job, round (0 = setup, environment creation included) and site."""

    __tablename__ = "job_stages"

    site: Mapped[str] = mapped_column(String(128), primary_key=True)
    phases: Mapped[list] = mapped_column(JSON)
    num_samples: Mapped[int | None] = mapped_column(Integer)
    # added in migration 0003: {kind: {reason: count}} of the metrics the site kept back
    dropped_metrics: Mapped[dict | None] = mapped_column(JSON)
    # added in migration 0003: the site kept its personalized model (its last round's local model)
    personalized: Mapped[bool | None] = mapped_column(Boolean)


class JobRoundRow(_JobRound, PlatformBase):
    """When the server started and finished each round."""

    __tablename__ = "job_rounds"

    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)


class MetricRow(_JobRound, PlatformBase):
    """A site's metric of a round, by kind (``global``, ``local``, ``baseline``)."""

    __tablename__ = "metrics"

    site: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class ArtefactRow(_BlobFile, PlatformBase):
    """A job's result files: the global models."""

    __tablename__ = "artefacts"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)


class PretrainedModelRow(PlatformBase):
    """A pretrained model in the store (migration 0005): a folder laid out like a Hugging Face repository, or one file.

    ``digest`` is the sha256 of its manifest (every file's relative path, size and sha256): the name of its
    folder in every cache.
    """

    __tablename__ = "pretrained_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "folder" or "file"
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PretrainedFileRow(PlatformBase):
    """One file of a pretrained model: its path inside the model's folder (``/``-separated) and its content."""

    __tablename__ = "pretrained_files"

    model_id: Mapped[int] = mapped_column(ForeignKey("pretrained_models.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)


class StatsSummaryRow(PlatformBase):
    """A site's statistics summary (migration 0007): buckets and aggregates only, as the site screened them;
    one row per institution and time taken, so the history stays."""

    __tablename__ = "stats_summaries"

    institution: Mapped[str] = mapped_column(String(128), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    summary: Mapped[dict] = mapped_column(JSON)
