"""``fdd check``: run a bundle's client round locally on one site's KDA."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import click

from nvflare_fdd import env_vars
from nvflare_fdd.cli.common import (
    algorithm_options,
    checked_bundle,
    checked_environment,
    env_backend_options,
    kda_option,
    model_class_option,
    resolve_model_class,
)


@click.command()
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@kda_option
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Rounds to run.")
@model_class_option()
@click.option("--device", default=None, help="cpu or cuda:N [default: cuda:0 when present, else cpu].")
@click.option("--site", default="local", show_default=True, help="Site name shown in messages.")
@click.option("--env", "in_env", is_flag=True,
              help="Run in the job's real environment, as a site does: requirements.txt installed (phase 900), "
                   "user code in its own sandboxed process (--env-backend local or docker).")
@env_backend_options
@algorithm_options
def check(
    bundle: Path, kda: str, rounds: int, model_class: str | None, device: str | None, site: str, in_env: bool,
    env_backend: str | None, env_options: dict[str, object], algorithm: str, fedprox_mu: float, local_baseline: bool,
) -> None:  # fmt: skip
    """Run BUNDLE's client round on one site's data, without NVFlare.

    Config, data download, data_loader, model_loader, then per round: load the
    global weights, global eval, train, local eval, and the update that would be
    sent. Also builds the model as the server will and checks the update loads
    into it. On failure prints the phase code (900-8000) and the user's
    traceback, and exits 1.

    By default it runs in this process, with this environment's packages. With
    --env it runs as a site would: the environment backend installs
    requirements.txt (a problem there fails at 900), then the round runs in
    that environment, e.g. `--env --env-backend docker --env-option gpus=`.
    """
    from nvflare_fdd.bundle import open_bundle
    from nvflare_fdd.client.check import check_bundle, this_machines_platform

    checked_bundle(bundle, model_class)
    environment = checked_environment(env_backend, env_options)
    if environment is not None or in_env:
        from nvflare_fdd.site_config import DEFAULT_BACKEND

        backend, options = environment or (os.environ.get(env_vars.ENV_BACKEND) or DEFAULT_BACKEND, {})
        _check_in_environment(bundle, kda, rounds, model_class, device or "", site, backend, options, algorithm, fedprox_mu,
                              local_baseline)  # fmt: skip
        return

    from nvflare_fdd.client.round import default_device

    device = device or default_device()
    click.echo(f"Checking {bundle} on {kda} (device {device}, {algorithm})")
    with _reported_failures(), open_bundle(bundle) as bundle_dir:
        model_class = resolve_model_class(bundle_dir, model_class)
        report = check_bundle(
            bundle_dir, _kda_reader(kda), rounds=rounds, model_class=model_class, site=site, device=device,
            on_phase=_PhasePrinter(), algorithm=algorithm, fedprox_mu=fedprox_mu, local_baseline=local_baseline,
            requester=this_machines_platform,
        )  # fmt: skip
    _print_report(report)
    click.echo(f"OK: {bundle} ran {len(report.rounds)} round(s) on {kda}")


def _check_in_environment(
    bundle: Path, kda: str, rounds: int, model_class: str | None, device: str, site: str, backend: str, options: dict,
    algorithm: str = "fedavg", fedprox_mu: float = 0.01, local_baseline: bool = False,
) -> None:  # fmt: skip
    """``fdd check --env``: the same report, from a user-code process in the job's environment."""
    from nvflare_fdd.bundle import open_bundle
    from nvflare_fdd.client.env_check import check_in_environment

    click.echo(f"Checking {bundle} on {kda} in the {backend} environment" + (f" (device {device})" if device else ""))
    with _reported_failures(), open_bundle(bundle) as bundle_dir:
        model_class = resolve_model_class(bundle_dir, model_class)
        report, description = check_in_environment(
            bundle_dir, _kda_reader(kda), backend, options, model_class, rounds=rounds, site=site, device=device,
            on_phase=_PhasePrinter(), log=lambda line: click.echo(f"       {line}"), algorithm=algorithm,
            fedprox_mu=fedprox_mu, local_baseline=local_baseline,
        )  # fmt: skip
    _print_report(report)
    click.echo(f"OK: {bundle} ran {len(report.rounds)} round(s) on {kda} in {description}")


def _kda_reader(kda: str):
    """Reads the KDA for phase 2000 and says what it found."""

    def fetch():
        from nvflare_fdd.kda import load_raw_datas

        raw_datas = load_raw_datas(kda)
        summary = ", ".join(f"{key} {len(frame)} rows" for key, frame in raw_datas.items())
        click.echo(f"       {len(raw_datas)} test(s): {summary or 'none'}")
        return raw_datas

    return fetch


@contextlib.contextmanager
def _reported_failures():
    """A failed phase, the server's model or any platform error as a CLI error (with the trace on stderr)."""
    from nvflare_fdd.client.phases import RoundError
    from nvflare_fdd.errors import FddError, ServerModelError

    try:
        yield
    except RoundError as exc:
        if exc.trace:
            click.echo(exc.trace, err=True)
        raise click.ClickException(f"phase {exc.code} ({exc.phase.label}) failed: {exc.message}") from None
    except ServerModelError as exc:
        if exc.trace:
            click.echo(exc.trace, err=True)
        raise click.ClickException(f"server model: {exc}") from None
    except FddError as exc:
        raise click.ClickException(str(exc)) from None


def _print_report(report) -> None:
    click.echo(f"Server model {report.model_class}: {report.num_parameters:,} parameters")
    for result in report.rounds:
        click.echo(f"Round {result.round}: {result.num_samples} training samples")
        click.echo(f"  global eval  {_format_metrics(result.global_metrics)}")
        click.echo(f"  local eval   {_format_metrics(result.local_metrics)}")
        if result.baseline_metrics is not None:
            click.echo(f"  baseline     {_format_metrics(result.baseline_metrics)}  (this site's data alone)")
        for kind, dropped in result.dropped_metrics.items():
            for name, reason in dropped.items():
                click.echo(f"  kept at site  {kind} metric {name!r}: {reason}")
        values = sum(tensor.numel() for tensor in result.params.values())
        click.echo(f"  update       {len(result.params)} tensors, {values:,} values; loads into {report.model_class}")
        if result.missing_keys or result.unexpected_keys:
            click.echo(
                f"  note         {len(result.missing_keys)} model weights not sent by the server, "
                f"{len(result.unexpected_keys)} received weights not in the model"
            )


class _PhasePrinter:
    """Prints each phase as it ends, with its duration."""

    def __init__(self) -> None:
        self._started: dict[int, float] = {}

    def __call__(self, event: dict) -> None:
        if event["event"] == "start":
            self._started[event["code"]] = event["time"]
            if event["code"] == 4001:
                click.echo(f"Round {event['round']}")
            return
        seconds = event["time"] - self._started.pop(event["code"], event["time"])
        status = "done" if event["event"] == "end" else "FAILED"
        click.echo(f"  {event['code']} {event['phase']:<14} {status} in {seconds:.2f} s")


def _format_metrics(metrics: dict) -> str:
    parts = []
    for name, value in metrics.items():
        if isinstance(value, float) and math.isfinite(value):
            parts.append(f"{name}={value:.4g}")
        else:
            parts.append(f"{name}={value!r}")
    return " ".join(parts) or "(no metrics)"
