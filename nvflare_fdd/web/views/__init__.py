"""The pages and JSON endpoints, one blueprint per page of the K-MELLODDY guide (section III)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, g

from nvflare_fdd.platform.records import Job, Model, User
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.web.i18n import translate
from nvflare_fdd.web.progress import utc
from nvflare_fdd.web.security import can_change


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
        "sites": list(job.sites),
        "state": job.state.value,
        "state_label": t(f"state.{job.state.value}"),
        "final": job.state.is_final,
        "created_at": iso(job.created_at),
        "queued_at": iso(job.queued_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "failure": job.failure,
        "can_change": can_change(job.owner),
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
