"""``fdd data``: the data information page — statistics of each site's assay data, counts as buckets only."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from nvflare_fdd.cli.common import kda_option
from nvflare_fdd.cli.run import parse_site

_store_option = click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the statistics as JSON files in this folder [default: $FDD_STATS_DIR if set, else the platform's storage].",
)
_test_option = click.option("--test", default=None, metavar="KEY", help="Only this test (its key or its name).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON.")


def _level_option(default: int):
    return click.option(
        "--level",
        type=click.IntRange(1, 4),
        default=default,
        show_default=True,
        help="Depth of the tree: 1 Test, 2 Test Type, 3 Measurement Type, 4 Test Subject.",
    )


@click.group()
def data() -> None:
    """Statistics of each site's assay data: per test, the level tree with counts as buckets only.

    Sites compute them from their own KDA; only buckets (0, ≤100, 100–1000, >1000), the mean,
    min, max and median of the uncensored values, units and data types leave a site.
    """


@data.command("stats")
@click.option("--institution", default=None, help="Only this institution [default: all].")
@_test_option
@_level_option(1)
@_json_option
@_store_option
def stats_command(institution: str | None, test: str | None, level: int, as_json: bool, store_dir: Path | None) -> None:
    """Show the newest statistics kept for each institution (collected by `fdd data refresh`)."""
    from nvflare_fdd.stats import StatsError, prune, render_summary, stats_store

    store = stats_store(store_dir)
    try:
        summaries = store.latest(institution)
    except StatsError as exc:
        raise click.ClickException(str(exc)) from None
    if not summaries:
        who = f"institution {institution}" if institution else "any institution"
        raise click.ClickException(
            f"no statistics of {who} in {store.where}; collect them with `fdd data refresh --site NAME=KDA_URL ...`"
        )
    if as_json:
        chosen = {name: prune(summary, test, level) for name, summary in summaries.items()}
        click.echo(json.dumps(chosen, indent=1, ensure_ascii=False))
        return
    click.echo("\n\n".join(render_summary(summary, test, level) for summary in summaries.values()))


@data.command("refresh")
@click.option("--site", "sites", multiple=True, required=True, callback=parse_site, metavar="NAME=KDA_URL",
              help="A site and its KDA (SQLAlchemy URL or SQLite file); repeat for each site.")
@click.option("--min-cell-size", type=click.IntRange(min=0), default=None,
              help="Every simulated site's minimum cell size [default: $FDD_STATS_MIN_CELL_SIZE, else 5].")
@click.option("--work", "work_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the job, the simulator workspace and stats.json here [default: a temporary folder].")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Stop the job after this many seconds.")
@_store_option
def refresh_command(
    sites: dict[str, str], min_cell_size: int | None, work_dir: Path | None, timeout: float, store_dir: Path | None
) -> None:
    """Collect every site's statistics with the fdd_stats job in the NVFlare simulator, and keep them."""
    from nvflare_fdd.errors import FddError
    from nvflare_fdd.stats import run_stats_simulation, stats_store

    store = stats_store(store_dir)
    keep = work_dir is not None
    work = work_dir or Path(tempfile.mkdtemp(prefix="fdd-stats-"))
    click.echo(f"Collecting statistics from {len(sites)} site(s) ({', '.join(sites)}) in the NVFlare simulator ...")
    try:
        run = run_stats_simulation(sites, work, min_cell_size=min_cell_size, timeout=timeout)
        for site, summary in sorted(run.summaries.items()):
            store.save(summary)
            click.echo(f"  {site}: {len(summary['tests'])} test(s), taken {summary['taken_at']}")
    except FddError as exc:
        raise click.ClickException(f"{exc}\nThe job and its log are in {work}") from None
    for site, reason in sorted(run.failures.items()):
        click.echo(f"  {site}: no statistics: {reason}", err=True)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    if run.failures:
        raise click.ClickException(
            f"{len(run.failures)} of {len(sites)} site(s) gave no statistics; the others were kept in {store.where}"
        )
    click.echo(f"Kept in {store.where} ({run.seconds:.1f} s). Show them with `fdd data stats`.")


@data.command("local")
@kda_option
@click.option("--institution", default="local", show_default=True, help="Name recorded in the summary.")
@click.option("--min-cell-size", type=click.IntRange(min=0), default=None,
              help="Minimum cell size [default: $FDD_STATS_MIN_CELL_SIZE, else 5].")
@_test_option
@_level_option(4)
@_json_option
def local_command(
    kda: str, institution: str, min_cell_size: int | None, test: str | None, level: int, as_json: bool
) -> None:
    """Compute one KDA's statistics here, without NVFlare: exactly what the site would share.

    With --json and no --test or --level, prints the summary the site would send, as it is.
    """
    from nvflare_fdd.errors import FddError
    from nvflare_fdd.stats import min_cell_size_for, prune, render_summary, site_statistics

    try:
        size = min_cell_size if min_cell_size is not None else min_cell_size_for(None)
        summary = site_statistics(kda, institution=institution, min_cell_size=size)
    except FddError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(prune(summary, test, level), indent=1, ensure_ascii=False))
    else:
        click.echo(render_summary(summary, test, level))
