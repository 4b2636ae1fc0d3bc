"""``fdd models``: the model registry (class name + version, unique across all users)."""

from __future__ import annotations

from pathlib import Path

import click

from nvflare_fdd.cli.common import model_class_option, resolve_model_class
from nvflare_fdd.cli.platform_common import (
    confirmed_command,
    emit_json,
    emit_records,
    emit_table,
    get_platform,
    platform_command,
    user_command,
    user_option,
    when,
)


def _split(label: str) -> tuple[str, str]:
    from nvflare_fdd.platform.service import split_model

    return split_model(label)


@click.group()
def models() -> None:
    """Register, list, edit and delete model bundles."""


@user_command(models, "register", json=True)
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@model_class_option("--class")
@click.option("--version", required=True, help="Version; class + version must be new across all users.")
@click.option("--description", default="", help="What the model is for.")
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="A metric name evaluate() returns that is neither a common name (rmse, r2, accuracy, eval_loss, ...) "
                   "nor a literal key of its dict; only names known before a run leave a site. Repeat for each.")
def register(platform, user, bundle: Path, model_class: str | None, version: str, description: str,
             metric_names: tuple[str, ...], as_json: bool) -> None:  # fmt: skip
    """Validate BUNDLE (folder or .zip) and register it as CLASS VERSION."""
    if model_class is None:
        from nvflare_fdd.bundle import open_bundle

        with open_bundle(bundle) as bundle_dir:
            model_class = resolve_model_class(bundle_dir, None)
    model = platform.register_model(user, bundle, model_class, version, description, metric_names)
    if as_json:
        return emit_json(model)
    click.echo(f"Registered {model.label} ({len(model.files)} files).")


@user_command(models, "list", json=True)
def list_(platform, user, as_json: bool) -> None:
    """Your registered models (an admin: everyone's)."""
    emit_records(platform.models(user), as_json, ["model", "owner", "files", "updated", "description"],
                 lambda m: [m.label, m.owner, len(m.files), when(m.updated_at), m.description])  # fmt: skip


@user_command(models, "show", json=True)
@click.argument("model")
def show(platform, user, model: str, as_json: bool) -> None:
    """One of your models (CLASS:VERSION) and its files."""
    record = platform.model(user, *_split(model))
    if as_json:
        return emit_json(record)
    click.echo(f"{record.label}  owner {record.owner}  updated {when(record.updated_at)}")
    click.echo(record.description or "(no description)")
    if record.metric_names:
        click.echo(f"declared metrics: {', '.join(record.metric_names)}")
    emit_table(["file", "bytes"], [[f.name, f.size] for f in record.files])


@models.command("update")
@click.argument("model")
@click.option("--bundle", type=click.Path(exists=True, path_type=Path), help="Replace all files with this bundle.")
@click.option("--description", default=None, help="New description.")
@user_option
@platform_command
def update(model: str, bundle: Path | None, description: str | None, user_name: str) -> None:
    """Edit a model (CLASS:VERSION): replace its files and/or its description."""
    if bundle is None and description is None:
        raise click.UsageError("give --bundle and/or --description")
    platform = get_platform()
    user = platform.user(user_name)
    class_name, version = _split(model)
    if bundle is not None:
        platform.replace_model_files(user, class_name, version, bundle)
    if description is not None:
        platform.describe_model(user, class_name, version, description)
    click.echo(f"Updated {model}.")


@confirmed_command(models, "delete", "model", "Delete {} for good? This cannot be undone")
def delete(platform, user, model: str) -> None:
    """Delete a model (CLASS:VERSION) and its files. This cannot be undone."""
    platform.delete_model(user, *_split(model))
    click.echo(f"Deleted {model}.")


@user_command(models, "download")
@click.argument("model")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def download(platform, user, model: str, folder: Path) -> None:
    """Write one of your models' files (CLASS:VERSION) into FOLDER."""
    platform.export_model(user, *_split(model), folder)
    click.echo(f"Wrote {model} to {folder}.")
