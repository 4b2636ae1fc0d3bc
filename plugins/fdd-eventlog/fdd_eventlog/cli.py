"""``fdd-eventlog``: read the event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fdd_eventlog import __version__
from fdd_eventlog.log import LOG_ENV, EventLogError, log_path, tail


@click.group()
@click.version_option(__version__, prog_name="fdd-eventlog")
def main() -> None:
    """nvflare-fdd's event log: which job changed state, finished a round or recorded metrics, and when."""


@main.command("tail")
@click.option("--job", metavar="NAME", help="Only this job's events.")
@click.option("-n", "--lines", "count", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many events to print.")  # fmt: skip
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The log to read [default: ${LOG_ENV}, else event-log.jsonl in $FDD_HOME or ~/.local/share/nvflare-fdd].")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the events as stored, one JSON object a line.")
def tail_command(job: str | None, count: int, path: Path | None, as_json: bool) -> None:
    """Print the last events, oldest first (times in UTC)."""
    path = path or log_path()
    try:
        found = tail(path, count, job)
    except EventLogError as exc:
        raise click.ClickException(
            f"{exc}. Events are written once nvflare-fdd-eventlog is installed where the platform and the "
            f"NVFlare server run; read another file with --file or ${LOG_ENV}"
        ) from None
    if found.skipped:
        click.echo(f"({found.skipped} unreadable line(s) in {path} skipped)", err=True)
    if not found.events:
        click.echo(f"no events{f' of job {job}' if job else ''} in {path}", err=True)
        return
    if as_json:
        for event in found.events:
            click.echo(json.dumps(event, ensure_ascii=False))
        return
    width = max(len(str(event.get("job", ""))) for event in found.events)
    for event in found.events:
        click.echo(f"{_time(event.get('at'))}  {str(event.get('job', '?')):<{width}}  {describe(event)}")


def describe(event: dict[str, Any]) -> str:
    """One event in words, without its time and job."""
    kind = event.get("event")
    if kind == "job_state_changed":
        old = event.get("old_state") or "new"
        return f"state    {old} → {event.get('new_state')}: {event.get('reason', '')}"
    if kind == "round_progress":
        phases = [p for p in event.get("phases") or [] if isinstance(p, dict)]
        steps = ", ".join(f"{p.get('name', p.get('code'))} {_seconds(p)}" for p in phases)
        total = _seconds({"start": phases[0].get("start"), "end": phases[-1].get("end")}) if phases else "?"
        return f"round {event.get('round')}  {event.get('site')} finished in {total}" + (f" ({steps})" if steps else "")
    if kind == "metrics_recorded":
        metrics = event.get("metrics") or {}
        values = " ".join(f"{name}={_number(value)}" for name, value in metrics.items())
        return f"metrics  round {event.get('round')}  {event.get('site')}  {event.get('kind')}  {values}"
    rest = {key: value for key, value in event.items() if key not in ("at", "event", "job", "pid")}
    return f"{kind}  {json.dumps(rest, ensure_ascii=False)}"


def _time(at: Any) -> str:
    """``2025-06-01T12:00:03.123Z`` → ``2025-06-01 12:00:03``."""
    return str(at)[:19].replace("T", " ") if at else "?" * 19


def _seconds(phase: dict) -> str:
    start, end = phase.get("start"), phase.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return f"{end - start:.1f} s"
    return "?"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
