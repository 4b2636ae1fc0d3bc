"""Options shared by several command groups."""

from __future__ import annotations

import os

import click

KDA_URL_ENV = "FDD_KDA_URL"


def kda_option(*names: str, help: str):
    """A required KDA URL option that falls back to ``$FDD_KDA_URL``."""
    return click.option(
        *names,
        "kda",
        default=lambda: os.environ.get(KDA_URL_ENV),
        required=True,
        metavar="URL",
        help=f"{help} Default: ${KDA_URL_ENV}.",
    )


def checked_bundle(bundle, model_class: str | None) -> None:
    """Validate ``bundle`` (folder or zip); print every problem and stop when there are any."""
    from nvflare_fdd.bundle import validate_bundle
    from nvflare_fdd.errors import FddError

    try:
        problems = validate_bundle(bundle, model_class=model_class)
    except FddError as exc:
        raise click.ClickException(str(exc)) from None
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in {bundle}; fix them and try again (fdd validate)")


def resolve_model_class(bundle_dir, model_class: str | None) -> str:
    """The class the server builds: the one given, else the only ``nn.Module`` class of ``model.py``."""
    if model_class:
        return model_class
    from nvflare_fdd.bundle import model_classes

    found = model_classes(bundle_dir)
    if len(found) == 1:
        return found[0]
    listed = ", ".join(found) if found else "none"
    raise click.ClickException(
        f"model.py has {len(found)} torch.nn.Module classes ({listed}); name the one to register with --model-class"
    )
