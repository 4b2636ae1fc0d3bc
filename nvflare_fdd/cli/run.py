"""``fdd run``: train a bundle across sites in the NVFlare simulator."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import click

from nvflare_fdd.cli.common import (
    algorithm_options,
    checked_bundle,
    checked_environment,
    env_backend_options,
    model_class_option,
    resolve_model_class,
)


def parse_site(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    """``NAME=KDA_URL`` pairs → an ordered dict; a plain path becomes an SQLite URL."""
    sites: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise click.BadParameter(f"{value!r} is not NAME=KDA_URL (e.g. pharma_a=sqlite:////data/a.db)")
        if name in sites:
            raise click.BadParameter(f"site {name!r} is given twice")
        sites[name] = url if "://" in url else f"sqlite:///{Path(url).resolve()}"
    return sites


@click.command()
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option("--site", "sites", multiple=True, required=True, callback=parse_site, metavar="NAME=KDA_URL",
              help="A site and its KDA (SQLAlchemy URL or SQLite file); repeat for each site.")
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Federated rounds.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for metrics.csv, progress.json and the global model.")
@model_class_option()
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Stop the run after this many seconds.")
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="A metric name evaluate() returns that is neither a common name nor a literal key of its dict "
                   "(only names known before the run leave a site); repeat for each.")
@click.option("--model-transfer", type=click.Choice(["auto", "stream", "message"]), default="auto", show_default=True,
              help="How models travel: stream (chunk by chunk over NVFlare's download service; the server never holds "
                   "a whole update), message (inside NVFlare's messages), or auto (stream models of 256 MiB or more).")
@env_backend_options
@algorithm_options
def run(
    bundle: Path, sites: dict[str, str], rounds: int, out_dir: Path, model_class: str | None, timeout: float | None,
    metric_names: tuple[str, ...], model_transfer: str, env_backend: str | None, env_options: dict[str, object],
    algorithm: str, fedprox_mu: float, local_baseline: bool,
) -> None:  # fmt: skip
    """Train BUNDLE with sample-weighted FedAvg (or FedProx, or SCAFFOLD) across sites, in the NVFlare simulator.

    Writes OUT/metrics.csv (round, site, kind, metric, value), OUT/progress.json,
    OUT/global_model.pt and OUT/global_model.safetensors (and the best model as
    best_global_model.*). On failure prints the site, round, phase code and the
    user's error, and exits 1.

    Each site runs the user code in the job environment --env-backend names, e.g.
    `--env-backend docker --env-option base_image=nvflare-fdd:latest --env-option gpus=`.
    """
    environment = checked_environment(env_backend, env_options)
    run_bundle(bundle, sites, rounds, out_dir, model_class, timeout, metric_names, environment, algorithm, fedprox_mu,
               local_baseline, model_transfer)  # fmt: skip


def run_bundle(
    bundle: Path, sites: dict[str, str], rounds: int, out_dir: Path, model_class: str | None, timeout: float | None,
    metric_names: tuple[str, ...] = (),
    environment: tuple[str, dict[str, object]] | None = None,
    algorithm: str = "fedavg",
    fedprox_mu: float = 0.01,
    local_baseline: bool = False,
    model_transfer: str = "auto",
) -> None:  # fmt: skip
    """Validate, run and report; shared by ``fdd run`` and ``fdd demo``."""
    from nvflare_fdd.bundle import open_bundle
    from nvflare_fdd.errors import FddError
    from nvflare_fdd.simulate import RunFailed, run_simulation

    checked_bundle(bundle, model_class)
    where = f" with the {environment[0]} environment backend" if environment else ""
    how = f" with {algorithm}" + (f" (mu {fedprox_mu:g})" if algorithm == "fedprox" else "") if algorithm != "fedavg" else ""
    click.echo(f"Running {bundle} on {len(sites)} site(s) ({', '.join(sites)}) for {rounds} round(s){how}{where}")
    printer = _ProgressPrinter()
    try:
        with open_bundle(bundle) as bundle_dir:
            model_class = resolve_model_class(bundle_dir, model_class)
            outcome = run_simulation(bundle_dir, sites, rounds, out_dir, model_class, on_progress=printer, timeout=timeout,
                                     metric_names=metric_names, environment=environment, algorithm=algorithm,
                                     fedprox_mu=fedprox_mu, local_baseline=local_baseline,
                                     server_vars={"model_transfer": model_transfer})  # fmt: skip
    except RunFailed as exc:
        if exc.failure and exc.failure.get("trace"):
            click.echo(exc.failure["trace"], err=True)
        hint = f"\nSimulator log: {exc.log_path}" if exc.log_path else ""
        raise click.ClickException(f"{exc}{hint}") from None
    except FddError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Completed in {outcome.seconds:.1f} s. Final Global metrics per site:")
    for line in final_global_metrics(out_dir / "metrics.csv"):
        click.echo(f"  {line}")
    click.echo(f"Results in {out_dir}: metrics.csv, progress.json, global_model.pt, global_model.safetensors")


class _ProgressPrinter:
    """Prints what changed in ``progress.json``: sites ready, rounds started, sites done, rounds done."""

    def __init__(self) -> None:
        self._seen: set[tuple] = set()
        self._started = time.monotonic()

    def __call__(self, progress: dict) -> None:
        total = progress.get("num_rounds") or "?"
        for site, phases in sorted(progress.get("setup", {}).items()):
            if self._once(("setup", site)):
                seconds = sum(p["end"] - p["start"] for p in phases)
                unsandboxed = any(p.get("code") == 900 and p.get("sandboxed") is False for p in phases)
                click.echo(f"  {site}: data and model ready in {seconds:.1f} s"
                           + (" — user code runs UNSANDBOXED (the site turned its sandbox off)" if unsandboxed else ""))
        for round_key, record in sorted(progress.get("rounds", {}).items(), key=lambda item: int(item[0])):
            if record.get("started") and self._once(("round", round_key)):
                click.echo(f"Round {round_key}/{total} started ({time.monotonic() - self._started:.0f} s)")
            for site, site_record in sorted(record.get("sites", {}).items()):
                if self._once(("site", round_key, site)):
                    phases = site_record.get("phases") or []
                    seconds = phases[-1]["end"] - phases[0]["start"] if phases else 0.0
                    click.echo(f"  {site}: round {round_key} done in {seconds:.1f} s ({site_record.get('num_samples')} samples)")
                    for kind, reasons in sorted((site_record.get("dropped_metrics") or {}).items()):
                        kept = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
                        click.echo(f"    {kind} metrics kept at {site}: {kept} (declare extra names with --metric)")
            if record.get("finished") and self._once(("done", round_key)):
                click.echo(f"Round {round_key}/{total} finished in {record['finished'] - record['started']:.1f} s")

    def _once(self, key: tuple) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def final_global_metrics(metrics_csv: Path) -> list[str]:
    """One line per site: its Global metrics of the last round it reported."""
    last: dict[str, tuple[int, dict[str, float]]] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] != "global":
                continue
            round_num = int(row["round"])
            seen_round, values = last.get(row["site"], (0, {}))
            if round_num > seen_round:
                values = {}
            if round_num >= seen_round:
                values[row["metric"]] = float(row["value"])
                last[row["site"]] = (round_num, values)
    return [
        f"{site} (round {round_num}): " + " ".join(f"{name}={value:.4g}" for name, value in values.items())
        for site, (round_num, values) in sorted(last.items())
    ]
