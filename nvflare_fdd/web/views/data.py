"""Data information (the guide's "데이터 정보"): each institution's statistics, test by test.

Statistics are computed at the sites (``nvflare_fdd.stats``) and only their summaries
reach the platform: counts as buckets, mean/min/max/median, the level tree
Test → Test Type → Measurement Type → Test Subject.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from nvflare_fdd.stats.contract import BUCKETS, LEVELS
from nvflare_fdd.web.views import acted, live_json, platform, t, user

blueprint = Blueprint("data", __name__)


@blueprint.get("/")
def home():
    return redirect(url_for("data.index"))


@blueprint.get("/data")
def index():
    summaries = current_app.extensions["fdd"].stats.latest()
    institutions = sorted(set(platform().sites()) | set(summaries))
    chosen = request.args.get("institution")
    if chosen not in institutions:
        chosen = next((name for name in institutions if name in summaries), institutions[0] if institutions else None)
    summary = summaries.get(chosen) if chosen else None
    tests = summary["tests"] if summary else []
    test_key = request.args.get("test", "")
    if test_key and not any(node["key"] == test_key for node in tests):
        test_key = ""
    level = _level(request.args.get("level"))
    shown = [node for node in tests if not test_key or node["key"] == test_key]
    return render_template(
        "data.html", institutions=institutions, institution=chosen, summary=summary, tests=tests, test_key=test_key,
        level=level, rows=list(_rows(shown, level)), has_any=bool(summaries), buckets=BUCKETS,
        refresh=_refresh().status, can_refresh=user().is_admin and _refresh().supported(),
        page={"urls": {"live": url_for("data.refresh_status")}, "refresh": _refresh().status.state},
    )  # fmt: skip


@blueprint.post("/data/refresh")
def refresh():
    """Collect every site's statistics again (an admin's action; what ``fdd data refresh`` does)."""
    _refresh().start(user())
    return acted(url_for("data.index"), t("data.refresh_started"))


@blueprint.get("/api/data/refresh")
def refresh_status():
    """Where the last refresh stands, with an ETag (the data page polls it while one runs)."""
    status = _refresh().status
    return live_json({"state": status.state, "started": status.started, "finished": status.finished,
                      "sites": status.sites, "failed_sites": sorted(status.failures)})  # fmt: skip


def _refresh():
    return current_app.extensions["fdd"].refresh


def _level(text: str | None) -> int:
    try:
        return min(max(int(text or 1), 1), len(LEVELS))
    except ValueError:
        return 1


def _rows(nodes: list[dict], level: int, depth: int = 0):
    """The tree down to ``level``, depth first, as ``(depth, node)`` rows."""
    for node in nodes:
        yield depth, node
        if depth + 1 < level:
            yield from _rows(node.get("children", []), level, depth + 1)
