"""The pages and JSON endpoints, one blueprint per page of the K-MELLODDY guide (section III)."""

from __future__ import annotations

import time
from datetime import datetime

from flask import current_app, flash, g, jsonify, redirect, request

from nvflare_fdd.platform.records import Job, Model, User
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.web.i18n import translate
from nvflare_fdd.web.progress import utc
from nvflare_fdd.web.security import can_change, safe_next


def platform() -> Platform:
    """The platform every view goes through."""
    return current_app.extensions["fdd"].platform


def user() -> User:
    """The signed-in user (sign-in is checked before any view runs)."""
    return g.user


def t(key: str) -> str:
    """A label in the request's language."""
    return translate(key, g.get("lang", "ko"))


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with the time zone, so the browser shows it in its own."""
    return utc(value).isoformat() if value is not None else None


def job_summary(job: Job) -> dict:
    """A job as the pages' scripts see it."""
    return {
        "name": job.name,
        "owner": job.owner,
        "model": job.model,
        "description": job.description,
        "rounds": job.rounds,
        "algorithm": job.algorithm,
        "fedprox_mu": job.fedprox_mu,
        "local_baseline": job.local_baseline,
        "sites": list(job.sites),
        "state": job.state.value,
        "state_label": t(f"state.{job.state.value}"),
        "state_name": t(f"state.{job.state.value}_name"),
        "final": job.state.is_final,
        "created_at": iso(job.created_at),
        "queued_at": iso(job.queued_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "failure": job.failure,
        "can_change": can_change(job.owner),
        "can_delete": can_change(job.owner) and job.state.value not in ("queued", "running"),
        "can_resume": can_change(job.owner) and job.state.value in ("failed", "cancelled") and bool(job.model),
    }


def model_summary(model: Model) -> dict:
    return {
        "class_name": model.class_name,
        "version": model.version,
        "label": model.label,
        "description": model.description,
        "owner": model.owner,
        "files": [{"name": f.name, "size": f.size} for f in model.files],
        "can_change": can_change(model.owner),
    }


def live_json(payload: dict):
    """``payload`` as JSON with an ETag: a poll that sends ``If-None-Match`` gets 304 until something changed.
    ``X-Server-Time`` lets the page time running steps against the server's clock."""
    response = jsonify(payload)
    response.add_etag()
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Server-Time"] = f"{time.time():.3f}"
    return response.make_conditional(request)


def acted(default: str, note: str | None = None, **extra):
    """The answer to a button's action: JSON for the page's script (which shows it where the user acted),
    else a redirect back with a note."""
    from nvflare_fdd.web.app import wants_json

    target = safe_next(request.form.get("next"), default)
    if wants_json():
        return jsonify(ok=True, redirect=target, message=note, **extra)
    if note:
        flash(note)
    return redirect(target)
