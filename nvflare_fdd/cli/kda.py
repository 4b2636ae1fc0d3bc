"""``fdd kda``: load a site's assay files into its data agent and see what it holds."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nvflare_fdd.cli.common import kda_option
from nvflare_fdd.errors import ImportRowsError, KdaError
from nvflare_fdd.kda import DATA_TYPES, import_file, list_tables

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns; click exports no public name for it

@click.group()
def kda() -> None:
    """Load assay data into the site's data agent (KDA) and list what it holds."""


@kda.command("import")
@kda_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--institution", help="Name of the institution the data belongs to.")
@click.option(
    "--data-type",
    type=click.Choice(DATA_TYPES, case_sensitive=False),
    help="CSV: data type of rows without a data_type value (default ADMET). "
    "Workbook: import only this sheet.",
)
def import_command(kda: str, file: Path, institution: str | None, data_type: str | None) -> None:
    """Import FILE (.csv, or .xlsx with sheets ADMET and PK), all rows or none.

    Every problem in the file is listed with its row number (the header is row 1);
    fix them and run the import again.
    """
    click.echo(f"Reading and checking {file.name} ...", err=True)
    with _WriteProgress() as progress:
        try:
            summary = import_file(
                kda, file, institution=institution, data_type=data_type, progress=progress
            )
        except KdaError as exc:  # ImportRowsError included: its message lists every problem
            raise click.ClickException(_error_text(exc)) from exc
    if summary.ignored_columns:
        names = ", ".join(repr(name) for name in summary.ignored_columns)
        click.echo(f"warning: ignored columns that are not standard columns: {names}", err=True)
    who = f" for {summary.institution}" if summary.institution else ""
    click.echo(f"Imported {summary.rows} rows from {summary.source}{who}.")
    click.echo(_table(list(summary.tests.items())))


@kda.command("tables")
@kda_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object {test_key: rows}.")
def tables_command(kda: str, as_json: bool) -> None:
    """List the tests in the KDA with their row counts."""
    try:
        counts = list_tables(kda)
    except KdaError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(dict(counts), indent=2))
    elif not counts:
        click.echo("The KDA holds no data yet; load some with `fdd kda import`.")
    else:
        click.echo(_table(counts))


class _WriteProgress(ExitStack):
    """A progress bar on stderr, opened when the first batch of rows is written."""

    def __init__(self) -> None:
        super().__init__()
        self._bar: ProgressBar[int] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            bar = click.progressbar(length=total, label=f"Writing {total} rows", file=sys.stderr)
            self._bar = self.enter_context(bar)
        self._bar.update(done - self._bar.pos)


def _error_text(exc: KdaError) -> str:
    if isinstance(exc, ImportRowsError):
        return f"{exc}\nFix the file and import it again."
    return str(exc)


def _table(counts: list[tuple[str, int]]) -> str:
    """Return ``test_key  rows`` lines with aligned columns."""
    rows = [("test", "rows")] + [(key, str(count)) for key, count in counts]
    key_width = max(len(key) for key, _ in rows)
    count_width = max(len(count) for _, count in rows)
    return "\n".join(f"{key:<{key_width}}  {count:>{count_width}}" for key, count in rows)
