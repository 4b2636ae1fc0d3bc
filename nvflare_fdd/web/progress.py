"""What the job information page shows, built from the platform's records (pure functions).

Progress follows the guide: start → environment creation (per site) → each round with its
elapsed time → result generation. Each step has a status: ``done``, ``active``, ``pending``,
or, when the job ended before it finished, the job's ``failed`` / ``cancelled``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from nvflare_fdd.platform.records import JobProgress, JobState, MetricValue, RoundProgress

ENVIRONMENT_PHASE = 900
SETUP_LAST_PHASE = 3000
"""The model phase (``model_loader``) ends a site's setup."""


def progress_view(progress: JobProgress, now: float) -> dict:
    """The steps of ``progress`` as plain data.

    Each step, and each site within it, ends when the site's own time stamps say it ended:
    a site reports its environment (900) and then its setup (1000–3000) as soon as each is
    done. Steps still running carry their start, not an elapsed time, so the result stays
    the same until something happens (the page polls it with an ETag and times running
    steps itself); ``now`` is unused and kept for callers.
    """
    job = progress.job
    ended = job.state.is_final
    interrupted = job.state.value if job.state in (JobState.FAILED, JobState.CANCELLED) else None
    started = utc(job.started_at).timestamp() if job.started_at else None
    finished = utc(job.finished_at).timestamp() if job.finished_at else None

    def status(done: bool, begun: bool) -> str:
        if done:
            return "done"
        if interrupted and begun:
            return interrupted
        if begun and not ended:
            return "active"
        return "pending"

    sites: list[dict[str, Any]] = []
    for site in job.sites:
        phases = progress.setup.get(site, [])
        environment = next((p for p in phases if p.get("code") == ENVIRONMENT_PHASE), None)
        setup_done = any(p.get("code", 0) >= SETUP_LAST_PHASE for p in phases)
        sites.append({
            "site": site,
            "done": setup_done,
            "status": status(setup_done, started is not None),
            "environment": status(environment is not None, started is not None),
            "environment_seconds": _span([environment]) if environment else None,
            "setup_seconds": _span(phases) if setup_done else None,
            "ended_at": phases[-1]["end"] if setup_done else None,
            "sandboxed": environment.get("sandboxed", True) if environment else None,
        })  # fmt: skip
    environment_done = bool(job.sites) and all(s["done"] for s in sites)
    environment_end = max((s["ended_at"] for s in sites), default=None) if environment_done else None

    rounds = []
    for number in range(1, job.rounds + 1):
        record = progress.rounds.get(number) or RoundProgress()
        round_started, round_finished = record.started, record.finished
        rounds.append({
            "round": number,
            "status": status(round_finished is not None, round_started is not None),
            "started": round_started,
            "finished": round_finished,
            "elapsed": _elapsed(round_started, round_finished, finished) if round_finished or ended else None,
            "sites": {
                site: {"num_samples": info.num_samples, "seconds": _span(info.phases)}
                for site, info in sorted(record.sites.items())
            },
        })  # fmt: skip
    rounds_done = bool(rounds) and all(r["status"] == "done" for r in rounds)

    return {
        "state": job.state.value,
        "final": ended,
        "start": {"status": status(started is not None, started is not None), "at": started},
        "environment": {
            "status": status(environment_done, started is not None), "sites": sites, "started": started,
            "elapsed": round(environment_end - started, 3) if environment_end and started else None,
        },
        "rounds": rounds,
        "results": {
            "status": status(job.state == JobState.COMPLETED, rounds_done or (ended and started is not None)),
            "at": finished if job.state == JobState.COMPLETED else None,
        },
        "started": started,
        "elapsed": _elapsed(started, finished, finished) if ended else None,
        "failure": job.failure,
    }


def metrics_view(metrics: Iterable[MetricValue]) -> dict:
    """Metric → site → ``{"global": [[round, value], ...], "local": [...]}``, for one chart per metric."""
    series: dict[str, dict[str, dict[str, list]]] = {}
    sites: set[str] = set()
    last_round = 0
    for value in metrics:
        per_site = series.setdefault(value.metric, {}).setdefault(value.site, {"global": [], "local": []})
        per_site.setdefault(value.kind, []).append([value.round, value.value])
        sites.add(value.site)
        last_round = max(last_round, value.round)
    for by_site in series.values():
        for kinds in by_site.values():
            for points in kinds.values():
                points.sort()
    return {"metrics": sorted(series), "sites": sorted(sites), "rounds": last_round, "series": series}


def utc(value: datetime) -> datetime:
    """``value`` with its time zone; storage on SQLite gives naive times, which are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _span(phases: list[dict]) -> float | None:
    if not phases:
        return None
    return round(phases[-1]["end"] - phases[0]["start"], 3)


def _elapsed(start: float | None, finish: float | None, fallback: float | None) -> float | None:
    end = finish if finish is not None else fallback
    if start is None or end is None:
        return None
    return round(end - start, 3)
