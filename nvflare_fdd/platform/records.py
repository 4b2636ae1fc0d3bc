"""Plain records the storage returns (database rows stay inside the storage layer), and the job states."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class JobState(str, Enum):
    """DESIGN §6: ready → queued → running → completed | failed | cancelled."""

    READY = "ready"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.READY: frozenset({JobState.QUEUED}),
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.CANCELLED: frozenset({JobState.QUEUED}),
}
"""Allowed transitions. A queued job fails when it cannot be submitted, a running one when it breaks;
a failed or cancelled job goes back to the queue only when it is resumed (``fdd jobs resume``)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class ModelFile:
    name: str
    size: int


@dataclass(frozen=True)
class Model:
    id: int
    class_name: str
    version: str
    description: str
    owner: str
    files: tuple[ModelFile, ...]
    created_at: datetime
    updated_at: datetime
    metric_names: tuple[str, ...] = ()
    """Metric names declared at registration, besides the vocabulary and ``evaluate()``'s literal keys."""

    @property
    def label(self) -> str:
        """``Class:version``, how users name a model."""
        return f"{self.class_name}:{self.version}"


@dataclass(frozen=True)
class SiteGroup:
    name: str
    owner: str
    sites: tuple[str, ...]


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    owner: str
    model: str | None  # Class:version, None for jobs submitted outside the platform
    description: str
    rounds: int
    sites: tuple[str, ...]
    state: JobState
    created_at: datetime
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runner: str | None = None
    run_handle: str | None = None
    failure: dict | None = None
    external: bool = False
    min_sites: int = 0
    resume_from: int | None = None
    shared_with: tuple[str, ...] = ()
    """Users the owner shared the job with, read-only."""
    algorithm: str = "fedavg"
    """``fedavg``, ``fedprox`` or ``scaffold`` (DESIGN §9)."""
    fedprox_mu: float = 0.01
    local_baseline: bool = False
    """Each site also trains a local-only baseline (metrics of kind ``baseline``)."""
    event: JobEvent | None = None
    """The state change this call recorded, from the storage methods that move a job (``create_job``,
    ``enqueue_job``, ``claim_next_queued``, ``transition``); ``None`` from the others."""


@dataclass(frozen=True)
class NewJob:
    """What a new job is made of (``JobRepository.create_job``).

    Attributes:
        owner: the user who owns it.
        model: ``(class_name, version)``; ``None`` for a run submitted outside the platform (``external``).
        min_sites: sites a round needs (0: all of them).
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold``, with FedProx's ``fedprox_mu``.
        local_baseline: each site also trains a local-only baseline.
        external: a run submitted to NVFlare outside the platform (``nvflare job submit``, the admin console).
    """

    owner: str
    name: str
    model: tuple[str, str] | None
    rounds: int
    sites: tuple[str, ...]
    description: str = ""
    min_sites: int = 0
    algorithm: str = "fedavg"
    fedprox_mu: float = 0.01
    local_baseline: bool = False
    external: bool = False


@dataclass(frozen=True)
class JobEvent:
    at: datetime
    from_state: str | None
    to_state: str
    reason: str
    code: str | None = None
    """The reason as a stable key (e.g. ``event.stopped_by``), for interfaces that say it in their own words."""
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetricValue:
    round: int
    site: str
    kind: str
    metric: str
    value: float


@dataclass(frozen=True)
class SiteRound:
    """One site's record of one round: its phases (``{code, name, start, end}``, the platform's names) and the
    counts it reported besides its metrics.

    Attributes:
        num_samples: the training samples its update is weighted by.
        dropped_metrics: how many metrics of each kind it kept back, by reason.
        personalized_model_kept: it kept its personalized model at the site (its last round).
    """

    phases: list[dict] = field(default_factory=list)
    num_samples: int | None = None
    dropped_metrics: dict[str, dict[str, int]] = field(default_factory=dict)
    personalized_model_kept: bool = False


@dataclass
class RoundProgress:
    """One round: when the server started and finished it (seconds since the epoch) and the sites that reported."""

    started: float | None = None
    finished: float | None = None
    sites: dict[str, SiteRound] = field(default_factory=dict)


@dataclass
class JobProgress:
    """Start → environment creation per site → each round (elapsed) → result generation."""

    job: Job
    setup: dict[str, list[dict]] = field(default_factory=dict)  # site → phases (900 environment ... 3000)
    rounds: dict[int, RoundProgress] = field(default_factory=dict)  # in round order
    events: list[JobEvent] = field(default_factory=list)


@dataclass(frozen=True)
class PretrainedFile:
    """One file of a pretrained model: its path inside the model's folder (``/``-separated), size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PretrainedModel:
    """A model in the pretrained-model store, shared by every user (``fdd pretrained``).

    Attributes:
        kind: ``folder`` (laid out like a Hugging Face model repository) or ``file`` (one file).
        digest: sha256 of the manifest (each file's path, size and sha256): the model's folder name in every cache.
        size: bytes of all its files together.
    """

    name: str
    kind: str
    digest: str
    size: int
    owner: str
    created_at: datetime
    files: tuple[PretrainedFile, ...]
