"""``fdd jobs``: the platform's jobs: create, start, stop, watch them and get their results.

Not ``fdd job`` (``cli/job.py``), which writes NVFlare job folders to submit outside the platform.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from nvflare_fdd.cli.common import algorithm_options
from nvflare_fdd.cli.platform_common import confirmed_command, emit_json, emit_records, emit_table, user_command, when


@click.group()
def jobs() -> None:
    """The platform's own jobs, run by its queue.

    ready → queued → running → completed | failed | cancelled. These are the jobs of this
    platform (its storage, its users, the web UI's jobs); to write an NVFlare job folder and
    submit it yourself, without the platform, use `fdd job`.
    """


_wait_option = click.option("--wait", is_flag=True, help="Run the queue here and follow the job until it ends.")


@user_command(jobs, "create", json=True)
@click.argument("name")
@click.option("--model", required=True, help="CLASS:VERSION of a registered model.")
@click.option("--rounds", type=int, required=True, help="Federated rounds (≥ 1).")
@click.option("--site", "sites", multiple=True, help="A site to train on; repeat.")
@click.option("--group", default=None, help="A saved site group (see `fdd groups`).")
@click.option("--description", default="", help="What the job is for.")
@click.option("--min-sites", type=int, default=0, show_default="0 = all sites",
              help="Sites a round needs; with fewer than all, a round goes on without a site that went away.")
@algorithm_options
def create(platform, user, name, model, rounds, sites, group, description, min_sites, algorithm, fedprox_mu, local_baseline,
           as_json) -> None:  # fmt: skip
    """Create platform job NAME (English letters, digits and _; unique across all users). It waits in `ready`."""
    job = platform.create_job(user, name, model, rounds, sites, group, description, min_sites,
                              algorithm=algorithm, fedprox_mu=fedprox_mu, local_baseline=local_baseline)  # fmt: skip
    if as_json:
        return emit_json(job)
    click.echo(f"Created {job.name} ({job.model}, {job.algorithm}, {job.rounds} rounds, sites {', '.join(job.sites)}): ready.")
    click.echo(f"Start it with: fdd jobs start {job.name}")


def _start_question(platform, user, name: str, wait: bool) -> str:
    job = platform.job(user, name)
    return f"Start {name} ({job.model}, {job.rounds} rounds on {', '.join(job.sites)})?"


@confirmed_command(jobs, "start", "name", _start_question)
@_wait_option
def start(platform, user, name: str, wait: bool) -> None:
    """Start job NAME: it queues (at most 2 queued jobs per user) and runs when capacity frees."""
    platform.start_job(user, name)
    click.echo(f"{name} is queued.")
    if wait:
        _follow(platform, user, name)


@confirmed_command(jobs, "stop", "name", "Stop {}?")
def stop(platform, user, name: str) -> None:
    """Stop a queued or running job (it ends `cancelled`)."""
    platform.stop_job(user, name)
    click.echo(f"{name} is cancelled.")


@confirmed_command(jobs, "delete", "name", "Delete {} and its results for good?")
def delete(platform, user, name: str) -> None:
    """Delete one of your jobs with its progress, metrics and global models (not while it is queued or running)."""
    platform.delete_job(user, name)
    click.echo(f"Deleted {name}.")


@user_command(jobs, "resume")
@click.argument("name")
@_wait_option
def resume(platform, user, name: str, wait: bool) -> None:
    """Queue a failed or cancelled job again; it continues after its last saved round."""
    job = platform.resume_job(user, name)
    done = job.resume_from or 0
    click.echo(f"{name} is queued again; it continues after round {done} of {job.rounds}." if done
               else f"{name} is queued again; no round had finished, so it starts from round 1.")  # fmt: skip
    if wait:
        _follow(platform, user, name)


@user_command(jobs, "share")
@click.argument("name")
@click.argument("readers", nargs=-1, required=True)
def share(platform, user, name: str, readers: tuple[str, ...]) -> None:
    """Let READERS (platform users) see your job NAME: its progress, metrics, failure and global models, read-only."""
    _say_shared_with(platform.share_job(user, name, readers))


@user_command(jobs, "unshare")
@click.argument("name")
@click.argument("reader")
def unshare(platform, user, name: str, reader: str) -> None:
    """Stop sharing your job NAME with READER."""
    _say_shared_with(platform.unshare_job(user, name, reader))


def _say_shared_with(job) -> None:
    click.echo(f"{job.name} is shared with {', '.join(job.shared_with) or 'nobody'}.")


@user_command(jobs, "list", json=True)
@click.option("--mine", is_flag=True, help="Only your jobs.")
@click.option("--state", "states", multiple=True, help="Only jobs in this state; repeat.")
def list_(platform, user, mine: bool, states: tuple[str, ...], as_json: bool) -> None:
    """The jobs you may read: your own and those shared with you (an admin: all)."""
    emit_records(
        platform.jobs(user, states=states or None, mine=mine), as_json,
        ["job", "state", "owner", "model", "sites", "rounds", "created"],
        lambda j: [j.name, j.state.value, j.owner, j.model or "(external)", len(j.sites), j.rounds, when(j.created_at)],
    )  # fmt: skip


@user_command(jobs, "show", json=True)
@click.argument("name")
def show(platform, user, name: str, as_json: bool) -> None:
    """A job: its settings, state history, progress and failure."""
    progress = platform.progress(user, name)
    if as_json:
        return emit_json(progress)
    job = progress.job
    algorithm = job.algorithm + (f" (mu {job.fedprox_mu:g})" if job.algorithm == "fedprox" else "")
    click.echo(f"{job.name}: {job.state.value}   model {job.model}   {algorithm}   owner {job.owner}   rounds {job.rounds}")
    click.echo(f"sites: {', '.join(job.sites)}")
    if job.shared_with:
        click.echo(f"shared with: {', '.join(job.shared_with)}")
    if job.description:
        click.echo(job.description)
    click.echo("\nHistory:")
    emit_table(["time", "from", "to", "reason"], [[when(e.at), e.from_state or "", e.to_state, e.reason] for e in progress.events])
    click.echo("\nProgress:")
    for line in progress_lines(progress):
        click.echo(f"  {line}")
    if job.failure:
        failure = job.failure
        click.echo(f"\nFailure: {failure.get('code') or ''} {failure.get('phase')} at {failure.get('site')}, "
                   f"round {failure.get('round')}: {failure.get('message')}")  # fmt: skip
        if failure.get("trace"):
            click.echo(failure["trace"])


@user_command(jobs, "results", json=True)
@click.argument("name")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write all metrics to this CSV.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the global model (.pt or .safetensors).")
@click.option("--best", is_flag=True, help="With --model: the best global model instead of the last.")
def results(platform, user, name: str, csv_path: Path | None, model_path: Path | None, best: bool, as_json: bool) -> None:
    """Global/Local metrics per site and round; export them and the global model."""
    if csv_path:
        platform.write_metrics_csv(user, name, csv_path)
        click.echo(f"Wrote {csv_path}.")
    if model_path:
        platform.write_model(user, name, model_path, best=best)
        click.echo(f"Wrote {model_path}.")
    if csv_path or model_path:
        return
    emit_records(platform.metrics(user, name), as_json, ["round", "site", "kind", "metric", "value"],
                 lambda m: [m.round, m.site, m.kind, m.metric, f"{m.value:.6g}"])  # fmt: skip


def progress_lines(progress) -> list[str]:
    """Start → environment creation per site → each round with its elapsed time → result generation."""
    job = progress.job
    lines = [f"start: {when(job.started_at) or 'not yet'}"]
    for site, phases in sorted(progress.setup.items()):
        environment = next((p for p in phases if p["code"] == 900), None)
        seconds = phases[-1]["end"] - phases[0]["start"] if phases else 0.0
        env = f"environment {environment['end'] - environment['start']:.1f} s, " if environment else ""
        unsandboxed = " — user code ran UNSANDBOXED (the site turned its sandbox off)" if environment and \
            environment.get("sandboxed") is False else ""
        lines.append(f"environment creation, {site}: {env}ready after {seconds:.1f} s{unsandboxed}")
    for round_num, record in progress.rounds.items():
        started, finished = record.started, record.finished
        elapsed = f"{finished - started:.1f} s" if started and finished else ("running" if started else "")
        done = ", ".join(sorted(record.sites))
        lines.append(f"round {round_num}/{job.rounds}: {elapsed}" + (f" (results from {done})" if done else ""))
    if job.state.is_final:
        lines.append(f"result generation: {job.state.value} {when(job.finished_at)}")
    return lines


def _follow(platform, user, name: str, interval: float = 1.0) -> None:
    """Advance the queue here and print progress until the job ends."""
    shown: set[str] = set()
    while True:
        platform.tick()
        progress = platform.progress(user, name)
        for line in progress_lines(progress):
            if line not in shown:
                shown.add(line)
                click.echo(f"  {line}")
        if progress.job.state.is_final:
            if progress.job.failure:
                failure = progress.job.failure
                raise click.ClickException(
                    f"{name} failed: {failure.get('code') or ''} {failure.get('phase')} at {failure.get('site')}: {failure.get('message')}"
                )
            if progress.job.state.value != "completed":
                raise click.ClickException(f"{name} ended {progress.job.state.value}")
            click.echo(f"{name} completed. Results: fdd jobs results {name}")
            return
        time.sleep(interval)
