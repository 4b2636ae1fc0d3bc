"""``fdd validate``: check a model bundle before uploading it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nvflare_fdd.bundle import inspect_bundle
from nvflare_fdd.cli.common import model_class_option
from nvflare_fdd.errors import BundleError


@click.command()
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@model_class_option()
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def validate(bundle: Path, model_class: str | None, as_json: bool) -> None:
    """Check BUNDLE (a folder or a .zip) against the bundle contract.

    Prints every problem as FILE[:LINE]: MESSAGE and exits with status 1 when there
    is any. The bundle's code is read, never run.
    """
    try:
        report = inspect_bundle(bundle, model_class)
    except BundleError as error:
        raise click.BadParameter(str(error), param_hint="BUNDLE") from error
    if as_json:
        click.echo(json.dumps(_as_json(bundle, report), ensure_ascii=False, indent=2))
    else:
        for warning in report.warnings:
            click.echo(f"warning: {warning}")
        if report.ok:
            megabytes = report.weights_bytes / (1 << 20)
            click.echo(f"OK: {bundle} is a valid bundle ({len(report.files)} files, {megabytes:.1f} MB weights)")
        else:
            for problem in report.problems:
                click.echo(str(problem))
            click.echo(f"{len(report.problems)} problem(s) found")
    if not report.ok:
        raise SystemExit(1)


def _as_json(bundle: Path, report) -> dict:
    def listed(problems) -> list[dict]:
        return [{"file": problem.file, "line": problem.line, "message": problem.message} for problem in problems]

    return {
        "bundle": str(bundle),
        "valid": report.ok,
        "files": list(report.files),
        "weights_bytes": report.weights_bytes,
        "problems": listed(report.problems),
        "warnings": listed(report.warnings),
    }
