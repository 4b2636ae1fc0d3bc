"""Federated jobs (the guide's "연합학습 작업 관리"): list, create, start; saved site groups."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from nvflare_fdd.client.runtime import ALGORITHMS, DEFAULT_FEDPROX_MU
from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.service import JOB_NAME
from nvflare_fdd.web.security import safe_next
from nvflare_fdd.web.views import job_summary, platform, t, user

blueprint = Blueprint("jobs", __name__)


@blueprint.get("/jobs")
def index():
    service = platform()
    jobs = service.jobs(user())
    page = {
        "job_names": [job.name for job in jobs],
        "name_pattern": JOB_NAME.pattern,
        "sites": service.sites(),
        "algorithms": ALGORITHMS,
        "groups": _groups(),
    }
    return render_template(
        "jobs.html", jobs=[job_summary(j) | {"created": j.created_at} for j in reversed(jobs)],
        models=service.models(user()), page=page,
    )  # fmt: skip


@blueprint.post("/api/jobs")
def create():
    """Create a job from the form's fields; answers the job or the platform's reason."""
    form = request.form
    rounds_text = form.get("rounds", "").strip()
    try:
        rounds = int(rounds_text)
    except ValueError:
        raise FddError(f"rounds must be a whole number ≥ 1, got {rounds_text!r}") from None
    mu_text = form.get("fedprox_mu", "").strip() or str(DEFAULT_FEDPROX_MU)
    try:
        fedprox_mu = float(mu_text)
    except ValueError:
        raise FddError(f"fedprox_mu must be a number ≥ 0, got {mu_text!r}") from None
    job = platform().create_job(
        user(), form.get("name", "").strip(), form.get("model", ""), rounds,
        sites=form.getlist("sites"), description=form.get("description", ""),
        algorithm=form.get("algorithm", "fedavg"), fedprox_mu=fedprox_mu,
    )  # fmt: skip
    flash(f"{job.name} ✓")
    return jsonify(job=job_summary(job), redirect=url_for("jobs.index")), 201


@blueprint.post("/jobs/<name>/start")
def start(name: str):
    platform().start_job(user(), name)
    flash(f"{name}: {t('state.queued')}")
    return redirect(safe_next(request.form.get("next"), url_for("jobs.index")))


@blueprint.post("/jobs/<name>/resume")
def resume(name: str):
    """Queue a failed or cancelled job again, to go on after its last saved round (``fdd jobs resume``)."""
    platform().resume_job(user(), name)
    flash(f"{name}: {t('state.queued')}")
    return redirect(safe_next(request.form.get("next"), url_for("job.show", name=name)))


@blueprint.post("/jobs/<name>/stop")
def stop(name: str):
    platform().stop_job(user(), name)
    flash(f"{name}: {t('state.cancelled')}")
    return redirect(safe_next(request.form.get("next"), url_for("job.show", name=name)))


@blueprint.post("/jobs/<name>/share")
def share(name: str):
    """Share the owner's job read-only with the users named in ``readers`` (comma or space separated)."""
    readers = [reader for reader in request.form.get("readers", "").replace(",", " ").split() if reader]
    job = platform().share_job(user(), name, readers)
    flash(f"{name}: {t('job.shared_with')} {', '.join(job.shared_with) or '—'}")
    return redirect(safe_next(request.form.get("next"), url_for("job.show", name=name)))


@blueprint.post("/api/groups")
def save_group():
    """Save (or overwrite) one of the user's site groups ("bookmarks")."""
    name = request.form.get("name", "").strip()
    if not name:
        raise FddError(t("jobs.group_name"))
    platform().save_group(user(), name, request.form.getlist("sites"))
    return jsonify(groups=_groups())


@blueprint.post("/api/groups/<name>/delete")
def delete_group(name: str):
    platform().delete_group(user(), name)
    return jsonify(groups=_groups())


def _groups() -> list[dict]:
    return [{"name": g.name, "sites": list(g.sites)} for g in platform().groups(user())]
