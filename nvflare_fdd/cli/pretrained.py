"""``fdd pretrained``: the pretrained-model store (``model_manager.download_model(name)`` at the sites and the server)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nvflare_fdd.bundle.contract import format_size
from nvflare_fdd.cli.platform_common import (
    confirmed_command,
    emit_json,
    emit_records,
    emit_table,
    get_platform,
    json_option,
    platform_command,
    user_command,
    when,
)

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # what click.progressbar returns; click exports no public name for it


@click.group()
def pretrained() -> None:
    """Add, list and remove pretrained models, shared by every user.

    A model is a folder laid out like a Hugging Face model repository (subfolders allowed) or one
    file. User code gets its local path with model_manager.download_model(NAME); sites receive it
    through NVFlare from the job's server, and keep it in their cache.
    """


@user_command(pretrained, "add", json=True)
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def add(platform, user, name: str, path: Path, as_json: bool) -> None:
    """Add the folder or file PATH to the store as NAME (letters, digits, '.', '_', '-')."""
    from nvflare_fdd.pretrained.manifest import check_name, scan_source

    check_name(name)
    found = scan_source(path, platform.config.pretrained_max_bytes)
    for skipped in found.skipped:
        click.echo(f"left out {skipped} (not part of the model)", err=True)
    with _Progress(len(found.files), found.size) as progress:
        model = platform.add_pretrained(user, name, path, progress=progress)
    if as_json:
        return emit_json(model)
    click.echo(f"Added {model.name}: {len(model.files)} file(s), {format_size(model.size)} (content {model.digest[:12]}).")


@pretrained.command("list")
@json_option
@platform_command
def list_(as_json: bool) -> None:
    """Every model in the store."""
    emit_records(get_platform().pretrained_models(), as_json, ["name", "kind", "files", "size", "owner", "added"],
                 lambda m: [m.name, m.kind, len(m.files), format_size(m.size), m.owner, when(m.created_at)])  # fmt: skip


@pretrained.command("show")
@click.argument("name")
@json_option
@platform_command
def show(name: str, as_json: bool) -> None:
    """One model and its files."""
    model = get_platform().pretrained_model(name)
    if as_json:
        return emit_json(model)
    click.echo(f"{model.name}  {model.kind}  {format_size(model.size)}  owner {model.owner}  added {when(model.created_at)}")
    click.echo(f"content {model.digest}")
    emit_table(["file", "bytes", "sha256"], [[f.path, f.size, f.sha256] for f in model.files])


@confirmed_command(pretrained, "remove", "name", "Remove pretrained model {} from the store?")
def remove(platform, user, name: str) -> None:
    """Remove NAME from the store (its owner or an admin). Jobs that ask for it afterwards fail, naming it."""
    platform.remove_pretrained(user, name)
    click.echo(f"Removed {name}.")


class _Progress:
    """Hashing, then storing, with the files and bytes done (``PretrainedStore``'s progress callback), on stderr:
    a bar on a terminal, else a line per file and per GiB."""

    LABELS = {"hash": "Hashing", "store": "Storing"}
    LINE_EVERY = 1 << 30

    def __init__(self, files: int, total: int):
        self.files = files
        self.total = total
        self.interactive = sys.stderr.isatty()
        self.stage = ""
        self.bar: ProgressBar[str] | None = None
        self.done = 0
        self.said = 0
        self.seen: list[str] = []

    def __call__(self, stage: str, path: str, nbytes: int) -> None:
        if stage != self.stage:
            self._close()
            self.stage, self.done, self.said, self.seen = stage, 0, 0, []
            if self.interactive:
                self.bar = click.progressbar(length=max(self.total, 1), label=self.LABELS.get(stage, stage), file=sys.stderr,
                                             item_show_func=lambda item: self._counts(), show_eta=True)  # fmt: skip
                self.bar.__enter__()
        if not self.seen or self.seen[-1] != path:
            if self.seen and not self.interactive:
                self._say()
            self.seen.append(path)
        self.done += nbytes
        if self.bar is not None:
            self.bar.update(nbytes, current_item=path)
        elif self.done - self.said >= self.LINE_EVERY:
            self._say()

    def _counts(self) -> str:
        return f"{len(self.seen)}/{self.files} files  {format_size(self.done)} of {format_size(self.total)}"

    def _say(self) -> None:
        self.said = self.done
        click.echo(f"{self.LABELS.get(self.stage, self.stage)}: {self._counts()}", err=True)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        elif self.stage:
            self._say()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc) -> None:
        self._close()
