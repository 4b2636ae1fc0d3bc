"""A run's results as files: metrics, progress, failure and the global model.

The server writes them while the job runs (``RunRecorder``); ``fdd run`` and
the platform read them back. Every file is replaced atomically (temp file,
fsync, ``os.replace``) or appended line by line, so a crash never leaves a
half-written file behind.

Layout of a results folder::

    metrics.csv                round,site,kind,metric,value   (round is 1-based, kind global|local)
    progress.json              job state, per round and site: phases with start/end times
    failure.json               only when the job failed: code, phase, site, round, message, trace
    global_model.pt            last global state dict (torch.save of tensors)
    global_model.safetensors   the same, as safetensors
    best_global_model.pt / .safetensors   the global model with the best Global eval score
    scaffold_controls.safetensors         SCAFFOLD's global controls after the last saved round (algorithm scaffold)
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

METRICS_CSV = "metrics.csv"
PROGRESS_JSON = "progress.json"
FAILURE_JSON = "failure.json"
METRICS_COLUMNS = ("round", "site", "kind", "metric", "value")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_save(path: Path, write) -> None:
    """Call ``write(temp_path)`` then move the file into place atomically (for torch/safetensors savers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class RunSink(Protocol):
    """Where the server's controller records a run as it goes (DESIGN §5).

    ``RunRecorder`` writes the run's files; ``nvflare_fdd.platform.sink.StorageSink`` writes the platform's
    storage; ``nvflare_fdd.widgets.recorder.FanOut`` calls several in turn. Times are seconds since the epoch.
    """

    def job_started(self, time: float, sites: list[str], num_rounds: int, /) -> None: ...

    def round_started(self, round_num: int, time: float, /) -> None: ...

    def round_finished(self, round_num: int, time: float, /) -> None: ...

    def site_round(self, round_num: int, site: str, phases: list[dict], num_samples: int | None, /,
                   setup_phases: list[dict] | None = None, dropped_metrics: dict | None = None,
                   personalized: bool = False) -> None: ...  # fmt: skip

    def site_setup(self, site: str, phases: list[dict], /) -> None: ...

    def metrics(self, round_num: int, site: str, kind: str, values: Mapping[str, float], /) -> None: ...

    def finished(self, state: str, time: float, failure: Mapping[str, Any] | None = None, /) -> None: ...


class RunRecorder:
    """Writes one run's metrics, progress and failure into ``folder``; safe to call from several threads."""

    def __init__(self, folder: str | Path, job: str = "", sites: list[str] | None = None, num_rounds: int = 0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._progress: dict[str, Any] = {
            "job": job,
            "state": "running",
            "sites": list(sites or []),
            "num_rounds": num_rounds,
            "started": None,
            "finished": None,
            "setup": {},
            "rounds": {},
        }
        metrics = self.folder / METRICS_CSV
        if not metrics.exists():
            self._append_csv([METRICS_COLUMNS])

    # -- writers ---------------------------------------------------------------------------

    def job_started(self, time: float, sites: list[str], num_rounds: int) -> None:
        with self._lock:
            self._progress.update(started=time, sites=list(sites), num_rounds=num_rounds, state="running")
            self._save_progress()

    def round_started(self, round_num: int, time: float) -> None:
        with self._lock:
            self._round(round_num)["started"] = time
            self._save_progress()

    def round_finished(self, round_num: int, time: float) -> None:
        with self._lock:
            self._round(round_num)["finished"] = time
            self._save_progress()

    def site_round(
        self, round_num: int, site: str, phases: list[dict], num_samples: int | None, setup_phases: list[dict] | None = None,
        dropped_metrics: dict | None = None, personalized: bool = False,
    ) -> None:
        """A site's phase time stamps for one round (and its setup phases, sent with its first round), the count of
        metrics it kept back (``{kind: {reason: count}}``), and whether it kept its personalized model."""
        with self._lock:
            if setup_phases:
                self._progress["setup"][site] = setup_phases
            record: dict[str, Any] = {"phases": phases, "num_samples": num_samples}
            if dropped_metrics:
                record["dropped_metrics"] = dropped_metrics
            if personalized:
                record["personalized_model_kept"] = True
            self._round(round_num)["sites"][site] = record
            self._save_progress()

    def site_setup(self, site: str, phases: list[dict]) -> None:
        """A site's setup phases as they end (its environment first, then config to model)."""
        with self._lock:
            known = self._progress["setup"].get(site, [])
            if len(phases) >= len(known):
                self._progress["setup"][site] = phases
                self._save_progress()

    def metrics(self, round_num: int, site: str, kind: str, values: Mapping[str, float]) -> None:
        """Append one site's Global or Local metrics of one round."""
        rows = [(round_num, site, kind, name, repr(float(value))) for name, value in values.items()]
        with self._lock:
            self._append_csv(rows)

    def finished(self, state: str, time: float, failure: Mapping[str, Any] | None = None) -> None:
        """Mark the run ``completed``, ``failed`` or ``cancelled``; a failure is also written to failure.json."""
        with self._lock:
            self._progress.update(state=state, finished=time)
            if failure is not None:
                self._progress["failure"] = dict(failure)
                atomic_write_bytes(self.folder / FAILURE_JSON, json.dumps(dict(failure), indent=2).encode())
            self._save_progress()

    # -- internals -------------------------------------------------------------------------

    def _round(self, round_num: int) -> dict:
        return self._progress["rounds"].setdefault(str(round_num), {"started": None, "finished": None, "sites": {}})

    def _save_progress(self) -> None:
        atomic_write_bytes(self.folder / PROGRESS_JSON, json.dumps(self._progress, indent=2).encode())

    def _append_csv(self, rows) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        with open(self.folder / METRICS_CSV, "a", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())


def read_failure(folder: str | Path) -> dict | None:
    """The failure a run recorded, or ``None``."""
    path = Path(folder) / FAILURE_JSON
    return json.loads(path.read_text()) if path.exists() else None


def read_progress(folder: str | Path) -> dict | None:
    path = Path(folder) / PROGRESS_JSON
    return json.loads(path.read_text()) if path.exists() else None
