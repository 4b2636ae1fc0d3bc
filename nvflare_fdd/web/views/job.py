"""Job information (basic information, progress) and results (charts, CSV, the global model), live."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from flask import Blueprint, abort, g, jsonify, render_template, send_file, url_for

from nvflare_fdd.web.messages import event_reason
from nvflare_fdd.web.payoff import payoff_view
from nvflare_fdd.web.progress import metrics_view, progress_view, utc
from nvflare_fdd.web.views import job_summary, live_json, platform, t, user

blueprint = Blueprint("job", __name__)

MODEL_FORMATS = ("pt", "safetensors")


def live_view(name: str) -> dict:
    """Everything the job page shows that changes as the job runs (the same data the page is built from)."""
    service = platform()
    progress = service.progress(user(), name)
    unsandboxed = sorted(site for site, phases in progress.setup.items()
                         if any(p.get("code") == 900 and p.get("sandboxed") is False for p in phases))  # fmt: skip
    events = [{
        "at": utc(e.at).isoformat(), "from": e.from_state, "to": e.to_state,
        "from_label": t(f"state.{e.from_state}_name") if e.from_state else "", "to_label": t(f"state.{e.to_state}_name"),
        "reason": event_reason(e, g.lang),
    } for e in progress.events]  # fmt: skip
    metrics = service.metrics(user(), name)
    return {
        "job": job_summary(progress.job),
        "progress": progress_view(progress, time.time()),
        "events": events,
        "metrics": metrics_view(metrics),
        "payoff": payoff_view(metrics, progress.rounds),
        "unsandboxed": unsandboxed,
    }


@blueprint.get("/jobs/<name>")
def show(name: str):
    view = live_view(name)
    job = platform().job(user(), name)
    page = view | {"urls": {"live": url_for("job.status", name=name)}, "server_time": time.time()}
    return render_template("job.html", job=job, summary=view["job"], unsandboxed=view["unsandboxed"], page=page)


@blueprint.get("/api/jobs/<name>")
def status(name: str):
    """The job, its progress steps, its history and its metrics, with an ETag (the page polls this)."""
    return live_json(live_view(name))


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
