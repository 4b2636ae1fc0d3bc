"""``fdd job create`` and ``fdd templates``: native NVFlare job folders from the ``fdd`` template.

Not ``fdd jobs`` (``cli/jobs.py``), the platform's own jobs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from nvflare_fdd.cli.common import algorithm_options, checked_bundle, model_class_option, resolve_model_class


@click.group()
def job() -> None:
    """NVFlare job folders, to submit yourself.

    A folder on disk for a bundle, for the admin console or the FLARE API, outside the
    platform: no queue, users or web UI. For the platform's own jobs (queued and run by
    `fdd server run` or `fdd ui`), see `fdd jobs`.
    """


@job.command("create")
@click.option("-t", "--template", default="fdd", show_default=True, help="Job template.")
@click.option("-j", "--job-folder", "job_folder", type=click.Path(path_type=Path), required=True, help="Folder to create.")
@click.option("-sd", "--script-dir", "bundle", type=click.Path(exists=True, path_type=Path), required=True,
              help="The user bundle (folder or .zip).")
@model_class_option()
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Federated rounds.")
@click.option("--site", "sites", multiple=True, help="A site that must take part; repeat. Default: any.")
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="A metric name evaluate() returns that is neither a common name nor a literal key of its dict.")
@algorithm_options
def create(template: str, job_folder: Path, bundle: Path, model_class: str | None, rounds: int, sites: tuple[str, ...],
           metric_names: tuple[str, ...], algorithm: str, fedprox_mu: float, local_baseline: bool) -> None:  # fmt: skip
    """Create an NVFlare job folder for a bundle from the fdd template.

    The same folder as `nvflare job create -w fdd -j JOB -sd BUNDLE -f
    config_fed_server.conf model_class=NAME num_rounds=N algorithm=A`, validated first.
    """
    from nvflare_fdd.bundle import open_bundle
    from nvflare_fdd.errors import FddError
    from nvflare_fdd.jobs import create_job

    checked_bundle(bundle, model_class)
    try:
        with open_bundle(bundle) as bundle_dir:
            model_class = resolve_model_class(bundle_dir, model_class)
            create_job(job_folder, bundle_dir, model_class, rounds, sites=list(sites) or None, template=template,
                       metric_names=metric_names, algorithm=algorithm, fedprox_mu=fedprox_mu,
                       local_baseline=local_baseline)  # fmt: skip
    except FddError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {job_folder} ({model_class}, {rounds} round(s), {algorithm}).")
    click.echo(f"Simulate: nvflare simulator {job_folder} -w WORKSPACE -n N -t N   (each site sets $FDD_KDA_URL)")
    click.echo(f"Submit:   nvflare job submit -j {job_folder}   (or submit_job() in the FLARE API)")


@click.group()
def templates() -> None:
    """The fdd job template and how `nvflare job create` finds it."""


@templates.command("path")
def path() -> None:
    """Print the folder holding the fdd template (usable as `nvflare job create -w PATH/fdd`)."""
    from nvflare_fdd.jobs import TEMPLATES_DIR

    click.echo(TEMPLATES_DIR.resolve())


@templates.command("register")
@click.option("--dir", "target", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Templates folder to create [default: ~/.nvflare/job_templates_fdd].")
def register(target: Path | None) -> None:
    """Make `nvflare job create -w fdd` (and `-w fdd_stats`) work.

    NVFlare reads templates from one folder only, so this makes a folder with
    NVFlare's own templates plus fdd and fdd_stats, and points NVFlare's config
    at it (`nvflare config -jt DIR`). Run it again after upgrading either package.
    """
    import nvflare

    from nvflare_fdd.jobs import template_dir

    target = target or Path.home() / ".nvflare" / "job_templates_fdd"
    builtin = Path(nvflare.__file__).parent / "tool" / "job" / "templates"
    if target.exists():
        shutil.rmtree(target)
    if builtin.is_dir():
        shutil.copytree(builtin, target)
    for name in ("fdd", "fdd_stats"):
        shutil.copytree(template_dir(name), target / name, dirs_exist_ok=True)
    command = [sys.executable, "-m", "nvflare.cli", "config", "-jt", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
    if done.returncode != 0:
        raise click.ClickException(f"`nvflare config -jt {target}` failed:\n{done.stdout}{done.stderr}")
    click.echo(f"Registered {target} (NVFlare's templates, fdd and fdd_stats).")
    click.echo("Now: nvflare job create -w fdd -j JOB -sd BUNDLE -f config_fed_server.conf model_class=NAME num_rounds=N")
