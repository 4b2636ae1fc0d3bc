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


def fields(record: object, *names: str) -> dict:
    """``record``'s attributes ``names``, as they are."""
    return {name: getattr(record, name) for name in names}


def job_summary(job: Job) -> dict:
    """A job as the pages' scripts see it."""
    state = job.state.value
    return fields(job, "name", "owner", "model", "description", "rounds", "algorithm", "fedprox_mu", "local_baseline") | {
        "sites": list(job.sites),
        "state": state,
        "state_label": t(f"state.{state}"),
        "state_name": t(f"state.{state}_name"),
        "final": job.state.is_final,
        "created_at": iso(job.created_at),
        "queued_at": iso(job.queued_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "failure": job.failure,
        "can_change": can_change(job.owner),
        "can_delete": can_change(job.owner) and state not in ("queued", "running"),
        "can_resume": can_change(job.owner) and state in ("failed", "cancelled") and bool(job.model),
    }


def model_summary(model: Model) -> dict:
    return fields(model, "class_name", "version", "label", "description", "owner") | {
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
