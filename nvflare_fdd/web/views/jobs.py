"""Federated jobs (the guide's "연합학습 작업 관리"): list (live), create, start, stop, resume, share, delete;
saved site groups."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, jsonify, render_template, request, url_for

from nvflare_fdd.client.runtime import ALGORITHMS, DEFAULT_FEDPROX_MU
from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.records import User
from nvflare_fdd.platform.service import JOB_NAME, LIMITS, Platform
from nvflare_fdd.web.views import acted, job_summary, live_json, platform, t, user

blueprint = Blueprint("jobs", __name__)

CHECKED = ("1", "on", "true")
"""What a ticked checkbox sends (its ``value``, or the browser's default ``on``)."""


def _rows() -> list[dict]:
    return [job_summary(j) | {"created": j.created_at} for j in reversed(platform().jobs(user()))]


@blueprint.get("/jobs")
def index():
    service = platform()
    rows = _rows()
    page = {
        "job_names": [job["name"] for job in rows],
        "name_pattern": JOB_NAME.pattern,
        "name_limit": LIMITS["job_name"],
        "sites": service.sites(),
        "algorithms": ALGORITHMS,
        "groups": _groups(),
        "urls": {"live": url_for("jobs.live")},
    }
    return render_template("jobs.html", jobs=rows, models=service.models(user()), page=page)


@blueprint.get("/api/jobs")
def live():
    """The jobs list's rows as the page shows them, with an ETag (the page polls this)."""
    rows = _rows()
    html = render_template("_job_rows.html", jobs=rows)
    return live_json({"rows": html, "names": [job["name"] for job in rows], "states": {j["name"]: j["state"] for j in rows}})


@blueprint.post("/api/jobs")
def create():
    """Create a job from the form's fields; answers the job or the platform's reason."""
    form = request.form
    rounds_text = form.get("rounds", "").strip()
    try:
        rounds = int(rounds_text)
    except ValueError:
        raise FddError(f"rounds must be a whole number ≥ 1, got {rounds_text!r}", code="job.rounds_invalid") from None
    mu_text = form.get("fedprox_mu", "").strip() or str(DEFAULT_FEDPROX_MU)
    try:
        fedprox_mu = float(mu_text)
    except ValueError:
        raise FddError(f"fedprox_mu must be a number ≥ 0, got {mu_text!r}", code="job.fedprox_mu_invalid") from None
    job = platform().create_job(
        user(), form.get("name", "").strip(), form.get("model", ""), rounds,
        sites=form.getlist("sites"), description=form.get("description", ""),
        algorithm=form.get("algorithm", "fedavg"), fedprox_mu=fedprox_mu,
        local_baseline=form.get("local_baseline") in CHECKED,
    )  # fmt: skip
    return jsonify(job=job_summary(job), redirect=url_for("jobs.index")), 201


# The buttons that change a job's state: the platform's call, where the answer goes back to ("list": the jobs, "job":
# the job's page) and the label its note says. resume queues a failed or cancelled job again, to go on after its last saved round
# (``fdd jobs resume``); delete removes one's job with its results (not while it is queued or running).
JOB_ACTIONS: dict[str, tuple[Callable[[Platform, User, str], object], str, str]] = {
    "start": (Platform.start_job, "list", "state.queued_name"),
    "resume": (Platform.resume_job, "job", "state.queued_name"),
    "stop": (Platform.stop_job, "job", "state.cancelled_name"),
    "delete": (Platform.delete_job, "list", "job.deleted"),
}


def _job_action(action: str):
    """The view of one of ``JOB_ACTIONS``."""
    call, back, note = JOB_ACTIONS[action]

    def view(name: str):
        call(platform(), user(), name)
        return acted(url_for("job.show", name=name) if back == "job" else url_for("jobs.index"), f"{name}: {t(note)}")

    return view


for _action in JOB_ACTIONS:
    blueprint.add_url_rule(f"/jobs/<name>/{_action}", _action, _job_action(_action), methods=["POST"])


@blueprint.post("/jobs/<name>/share")
def share(name: str):
    """Share the owner's job read-only with the users named in ``readers`` (comma or space separated)."""
    readers = [reader for reader in request.form.get("readers", "").replace(",", " ").split() if reader]
    job = platform().share_job(user(), name, readers)
    shared = ", ".join(job.shared_with) or "—"
    return acted(url_for("job.show", name=name), f"{name}: {t('job.shared_with')} {shared}", shared_with=shared)


@blueprint.post("/api/groups")
def save_group():
    """Save (or overwrite) one of the user's site groups ("bookmarks")."""
    platform().save_group(user(), request.form.get("name", "").strip(), request.form.getlist("sites"))
    return jsonify(groups=_groups())


@blueprint.post("/api/groups/<name>/delete")
def delete_group(name: str):
    platform().delete_group(user(), name)
    return jsonify(groups=_groups())


def _groups() -> list[dict]:
    return [{"name": g.name, "sites": list(g.sites)} for g in platform().groups(user())]
