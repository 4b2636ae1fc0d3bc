"""The contract of what a job's run writes: progress, metrics, result files and checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from nvflare_fdd.platform.records import JobProgress, MetricValue

CHECKPOINT = "checkpoint.safetensors"
"""The artefact ``record_round`` stores a round's global model as: what a resumed job starts from."""
CONTROLS_CHECKPOINT = "checkpoint_controls.safetensors"
"""The artefact ``record_round`` stores SCAFFOLD's global controls as, after the same round."""

class RunRepository(Protocol):
    """What a job's run writes: progress per round and site, metrics, result files and the checkpoint to resume from.

    Writes are idempotent (a round, stage or metric recorded again replaces the earlier record), so the
    run's own files can be imported over what its recorder already wrote. Every method raises
    ``NotFound`` (``job.not_found``) for an unknown job.
    """

    def record_round(
        self, name: str, round_num: int, started: float | None = None, finished: float | None = None,
        checkpoint: Path | None = None, controls: Path | None = None,
    ) -> None:  # fmt: skip
        """A round's start or end time (seconds since the epoch; ``None`` keeps what is recorded).

        Args:
            checkpoint: the round's global model (safetensors), stored as the job's artefact ``CHECKPOINT`` in the
                same transaction, so the last finished round and the saved state always agree (``fdd jobs resume``).
            controls: SCAFFOLD's global controls after the round, stored the same way as ``CONTROLS_CHECKPOINT``.
        """
        ...

    def last_checkpoint(self, name: str) -> int | None:
        """The last finished round, when the ``CHECKPOINT`` artefact is stored; else ``None``."""
        ...

    def record_stage(self, name: str, round_num: int, site: str, phases: list[dict], num_samples: int | None,
                     dropped_metrics: dict | None = None, personalized: bool = False) -> None:  # fmt: skip
        """A site's phases of a round (round 0: environment and setup).

        Args:
            dropped_metrics: how many metrics of each kind the site kept back.
            personalized: the site kept its personalized model (its last round).
        """
        ...

    def record_setup(self, name: str, site: str, phases: list[dict]) -> None:
        """A site's setup phases so far (round 0); never replaces a longer record (the events may arrive late)."""
        ...

    def record_metrics(self, name: str, round_num: int, site: str, kind: str, values: Mapping[str, float]) -> None:
        """A site's metrics of a round (``kind``, e.g. ``global``, ``local`` or ``baseline``), metric name → value."""
        ...

    def metrics(self, name: str) -> list[MetricValue]:
        """Every metric of the job, by round, site, kind and metric name."""
        ...

    def progress(self, name: str) -> JobProgress:
        """The job with its setup, its rounds in order (with each site's phases) and its events, read at one moment."""
        ...

    def put_artefact(self, name: str, artefact: str, path: Path) -> None:
        """Store (or replace) a result file of the job under the name ``artefact``."""
        ...

    def artefacts(self, name: str) -> dict[str, int]:
        """The job's result files: artefact name → size in bytes."""
        ...

    def write_artefact(self, name: str, artefact: str, destination: Path) -> Path:
        """Write a result file to ``destination`` and return ``destination``.

        Raises:
            NotFound: no such job (``job.not_found``), or it has no such file (``job.no_artefact``).
        """
        ...
