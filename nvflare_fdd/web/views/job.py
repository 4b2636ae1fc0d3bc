"""Job information (basic information, progress) and results (charts, CSV, the global model)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from flask import Blueprint, abort, jsonify, render_template, send_file, url_for

from nvflare_fdd.web.progress import metrics_view, progress_view
from nvflare_fdd.web.views import job_summary, platform, user

blueprint = Blueprint("job", __name__)

MODEL_FORMATS = ("pt", "safetensors")


@blueprint.get("/jobs/<name>")
def show(name: str):
    service = platform()
    progress = service.progress(user(), name)
    metrics = metrics_view(service.metrics(user(), name))
    unsandboxed = sorted(site for site, phases in progress.setup.items()
                         if any(p.get("code") == 900 and p.get("sandboxed") is False for p in phases))  # fmt: skip
    return render_template(
        "job.html", job=progress.job, summary=job_summary(progress.job), unsandboxed=unsandboxed,
        page={
            "job": job_summary(progress.job), "progress": progress_view(progress, time.time()), "metrics": metrics,
            "urls": {"status": url_for("job.status", name=name), "metrics": url_for("job.metrics", name=name)},
        },
    )  # fmt: skip


@blueprint.get("/api/jobs/<name>")
def status(name: str):
    """The job, its progress steps, and whether it has metrics yet (the page polls this)."""
    service = platform()
    progress = service.progress(user(), name)
    return jsonify(job=job_summary(progress.job), progress=progress_view(progress, time.time()))


@blueprint.get("/api/jobs/<name>/metrics")
def metrics(name: str):
    return jsonify(metrics_view(platform().metrics(user(), name)))


@blueprint.get("/jobs/<name>/metrics.csv")
def metrics_csv(name: str):
    """All metrics (``round, site, kind, metric, value``), as ``fdd jobs results --csv`` writes them."""
    return _download(f"{name}_metrics.csv", lambda path: platform().write_metrics_csv(user(), name, path), "text/csv")


@blueprint.get("/jobs/<name>/global_model.<fmt>")
def global_model(name: str, fmt: str):
    """The job's last global model as ``.pt`` or ``.safetensors`` (404 until the job has stored it)."""
    if fmt not in MODEL_FORMATS:
        abort(404)
    platform().job(user(), name)  # 404 for an unknown (or unreadable) job before any file is written
    return _download(f"{name}_global_model.{fmt}", lambda path: platform().write_model(user(), name, path), "application/octet-stream")


def _download(filename: str, write, mimetype: str):
    """``write(path)`` into a temporary file, sent as ``filename`` and removed once sent."""
    folder = tempfile.TemporaryDirectory(prefix="fdd-download-")
    try:
        path = Path(folder.name) / filename
        write(path)
        response = send_file(path, mimetype=mimetype, as_attachment=True, download_name=filename, max_age=0)
    except BaseException:
        folder.cleanup()
        raise
    response.call_on_close(folder.cleanup)
    return response
