"""``fdd models``: the model registry (class name + version, unique across all users)."""

from __future__ import annotations

from pathlib import Path

import click

from nvflare_fdd.cli.platform_common import emit_json, emit_table, get_platform, json_option, platform_command, user_option, when


def _split(label: str) -> tuple[str, str]:
    from nvflare_fdd.platform.service import split_model

    return split_model(label)


@click.group()
def models() -> None:
    """Register, list, edit and delete model bundles."""


@models.command("register")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option("--class", "class_name", required=True, help="The nn.Module class in model.py the server builds.")
@click.option("--version", required=True, help="Version; class + version must be new across all users.")
@click.option("--description", default="", help="What the model is for.")
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="A metric name evaluate() returns that is neither a common name (rmse, r2, accuracy, eval_loss, ...) "
                   "nor a literal key of its dict; only names known before a run leave a site. Repeat for each.")
@user_option
@json_option
@platform_command
def register(bundle: Path, class_name: str, version: str, description: str, metric_names: tuple[str, ...], user_name: str,
             as_json: bool) -> None:  # fmt: skip
    """Validate BUNDLE (folder or .zip) and register it as CLASS VERSION."""
    platform = get_platform()
    model = platform.register_model(platform.user(user_name), bundle, class_name, version, description, metric_names)
    if as_json:
        return emit_json(model)
    click.echo(f"Registered {model.label} ({len(model.files)} files).")


@models.command("list")
@user_option
@json_option
@platform_command
def list_(user_name: str, as_json: bool) -> None:
    """Your registered models (an admin: everyone's)."""
    platform = get_platform()
    found = platform.models(platform.user(user_name))
    if as_json:
        return emit_json(found)
    emit_table(
        ["model", "owner", "files", "updated", "description"],
        [[m.label, m.owner, len(m.files), when(m.updated_at), m.description] for m in found],
    )


@models.command("show")
@click.argument("model")
@user_option
@json_option
@platform_command
def show(model: str, user_name: str, as_json: bool) -> None:
    """One of your models (CLASS:VERSION) and its files."""
    platform = get_platform()
    record = platform.model(platform.user(user_name), *_split(model))
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


@models.command("delete")
@click.argument("model")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@user_option
@platform_command
def delete(model: str, yes: bool, user_name: str) -> None:
    """Delete a model (CLASS:VERSION) and its files. This cannot be undone."""
    if not yes:
        click.confirm(f"Delete {model} for good? This cannot be undone", abort=True)
    platform = get_platform()
    platform.delete_model(platform.user(user_name), *_split(model))
    click.echo(f"Deleted {model}.")


@models.command("download")
@click.argument("model")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@user_option
@platform_command
def download(model: str, folder: Path, user_name: str) -> None:
    """Write one of your models' files (CLASS:VERSION) into FOLDER."""
    platform = get_platform()
    platform.export_model(platform.user(user_name), *_split(model), folder)
    click.echo(f"Wrote {model} to {folder}.")

