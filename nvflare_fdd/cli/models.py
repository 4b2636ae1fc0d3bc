"""``fdd models``: the model registry (class name + version, unique across all users)."""

from __future__ import annotations

from pathlib import Path

import click

from nvflare_fdd.cli.platform_common import emit_json, emit_table, get_platform, json_option, platform_command, user_option, when


def _split(label: str) -> tuple[str, str]:
    from nvflare_fdd.platform.service import _split_model

    return _split_model(label)


@click.group()
def models() -> None:
    """Register, list, edit and delete model bundles."""


@models.command("register")
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option("--class", "class_name", required=True, help="The nn.Module class in model.py the server builds.")
@click.option("--version", required=True, help="Version; class + version must be new across all users.")
@click.option("--description", default="", help="What the model is for.")
@user_option
@json_option
@platform_command
def register(bundle: Path, class_name: str, version: str, description: str, user_name: str, as_json: bool) -> None:
    """Validate BUNDLE (folder or .zip) and register it as CLASS VERSION."""
    platform = get_platform()
    model = platform.register_model(platform.user(user_name), bundle, class_name, version, description)
    if as_json:
        return emit_json(model)
    click.echo(f"Registered {model.label} ({len(model.files)} files).")


@models.command("list")
@json_option
@platform_command
def list_(as_json: bool) -> None:
    """All registered models."""
    found = get_platform().models()
    if as_json:
        return emit_json(found)
    emit_table(
        ["model", "owner", "files", "updated", "description"],
        [[m.label, m.owner, len(m.files), when(m.updated_at), m.description] for m in found],
    )


@models.command("show")
@click.argument("model")
@json_option
@platform_command
def show(model: str, as_json: bool) -> None:
    """One model (CLASS:VERSION) and its files."""
    record = get_platform().storage.get_model(*_split(model))
    if as_json:
        return emit_json(record)
    click.echo(f"{record.label}  owner {record.owner}  updated {when(record.updated_at)}")
    click.echo(record.description or "(no description)")
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
@platform_command
def download(model: str, folder: Path) -> None:
    """Write a model's files (CLASS:VERSION) into FOLDER."""
    get_platform().storage.export_model_files(*_split(model), folder)
    click.echo(f"Wrote {model} to {folder}.")

