"""A job's results: read by those who may read the job, and imported from a run's own files."""

from __future__ import annotations

import csv
from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.contracts import RunRepository
from nvflare_fdd.platform.records import JobProgress, MetricValue, User
from nvflare_fdd.platform.service.access import AccessRules


class ResultService(AccessRules):
    """Progress, metrics and global models of the jobs a user may read."""

    def progress(self, user: User, name: str) -> JobProgress:
        """A job's setup, rounds (each site's phases) and events, if ``user`` may read it."""
        self.job(user, name)
        return self.storage.progress(name)

    def metrics(self, user: User, name: str) -> list[MetricValue]:
        """Every metric of a job, by round, site, kind and metric, if ``user`` may read it."""
        self.job(user, name)
        return self.storage.metrics(name)

    def write_metrics_csv(self, user: User, name: str, path: Path) -> Path:
        """All metrics of a job as CSV: ``round, site, kind, metric, value``."""
        rows = self.metrics(user, name)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["round", "site", "kind", "metric", "value"])
            writer.writerows((m.round, m.site, m.kind, m.metric, repr(m.value)) for m in rows)
        return path

    def write_model(self, user: User, name: str, path: Path, best: bool = False) -> Path:
        """The job's global model (``.pt`` or ``.safetensors``, by ``path``'s suffix)."""
        self.job(user, name)
        suffix = Path(path).suffix
        if suffix not in (".pt", ".safetensors"):
            raise FddError(f"{path}: the model file must end in .pt or .safetensors", code="job.model_format")
        artefact = ("best_global_model" if best else "global_model") + suffix
        return self.storage.write_artefact(name, artefact, Path(path))


def import_results(storage: RunRepository, name: str, folder: Path) -> None:
    """Load a run's results folder (metrics.csv, progress.json, models) into storage, idempotently."""
    import json
    from collections import defaultdict

    from nvflare_fdd.platform.sink import ARTEFACTS, saved_state
    from nvflare_fdd.results import METRICS_CSV, PROGRESS_JSON

    metrics_path = folder / METRICS_CSV
    if metrics_path.is_file():
        grouped: dict[tuple[int, str, str], dict[str, float]] = defaultdict(dict)
        with open(metrics_path, newline="") as handle:
            for row in csv.DictReader(handle):
                grouped[(int(row["round"]), row["site"], row["kind"])][row["metric"]] = float(row["value"])
        for (round_num, site, kind), values in grouped.items():
            storage.record_metrics(name, round_num, site, kind, values)
    progress_path = folder / PROGRESS_JSON
    if progress_path.is_file():
        progress = json.loads(progress_path.read_text())
        for site, phases in progress.get("setup", {}).items():
            storage.record_stage(name, 0, site, phases, None)
        finished = []
        for round_key, record in progress.get("rounds", {}).items():
            storage.record_round(name, int(round_key), started=record.get("started"), finished=record.get("finished"))
            if record.get("finished"):
                finished.append(int(round_key))
            for site, site_record in record.get("sites", {}).items():
                storage.record_stage(name, int(round_key), site, site_record.get("phases", []), site_record.get("num_samples"),
                                     site_record.get("dropped_metrics"), site_record.get("personalized_model_kept", False))  # fmt: skip
        checkpoint, controls = saved_state(folder)
        if finished and checkpoint is not None:  # the global model (and SCAFFOLD's controls) after the last finished round
            storage.record_round(name, max(finished), checkpoint=checkpoint, controls=controls)
    for artefact in ARTEFACTS:
        if (folder / artefact).is_file():
            storage.put_artefact(name, artefact, folder / artefact)
