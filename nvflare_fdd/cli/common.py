"""Options shared by several command groups."""

from __future__ import annotations

import os

import click

from nvflare_fdd import env_vars

KDA_URL_ENV = env_vars.KDA_URL


def _kda_default(ctx, param, value: str | None) -> str:
    """The KDA's own default when neither ``--kda`` nor ``$FDD_KDA_URL`` names one (imported late: it is not small)."""
    if value is not None:
        return value
    from nvflare_fdd.kda import DEFAULT_URL

    return DEFAULT_URL


kda_option = click.option(
    "--kda",
    "--db",
    "kda",
    envvar=KDA_URL_ENV,
    callback=_kda_default,
    metavar="URL",
    help=f"The site's KDA database: a SQLAlchemy URL, or an SQLite file path ending in .db, .sqlite or .sqlite3 "
    f"(--db is the same).  [default: ${KDA_URL_ENV}, else kda.db in this folder]",
)


def model_class_option(*aliases: str):
    """``--model-class NAME``: the class the server builds; ``aliases`` are older names a command still accepts."""
    return click.option(
        "--model-class",
        *aliases,
        "model_class",
        default=None,
        metavar="NAME",
        help="The torch.nn.Module class in model.py that the server builds  [default: the only one there]",
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
        f"model.py has {len(found)} torch.nn.Module classes ({listed}); name the one the server builds with --model-class"
    )


def parse_env_options(ctx, param, values: tuple[str, ...]) -> dict[str, object]:
    """``KEY=VALUE`` pairs → options; a VALUE that is JSON (a number, true/false, a list) is read as JSON, else as text."""
    import json

    options: dict[str, object] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE (e.g. base_image=nvflare-fdd:latest, or gpus= for none)")
        try:
            parsed: object = json.loads(text)
        except ValueError:
            parsed = text
        options[key.strip()] = parsed if text.strip() else ""
    return options


def env_backend_options(command):
    """``--env-backend NAME`` and repeatable ``--env-option KEY=VALUE``: the job environment of every site."""
    command = click.option(
        "--env-option", "env_options", multiple=True, callback=parse_env_options, metavar="KEY=VALUE",
        help="An option of the environment backend, as in fdd_site.json's \"environment\"; repeatable "
             "(base_image=nvflare-fdd:latest, gpus= for none).",
    )(command)  # fmt: skip
    return click.option(
        "--env-backend", default=None, metavar="NAME",
        help="Where user code runs: local (a cached virtual environment) or docker (a container)  "
             "[default: $FDD_ENV_BACKEND, else local]",
    )(command)  # fmt: skip


def checked_environment(backend: str | None, options: dict[str, object]) -> tuple[str, dict[str, object]] | None:
    """``(backend, options)`` once the backend accepts the options (checked as a site checks fdd_site.json).

    None when neither was given (the sites' own settings apply).
    """
    from nvflare_fdd.envs import JobEnvironmentError, make_backend
    from nvflare_fdd.site_config import DEFAULT_BACKEND, ENV_BACKEND_ENV

    if backend is None and not options:
        return None
    backend = backend or os.environ.get(ENV_BACKEND_ENV) or DEFAULT_BACKEND
    try:
        make_backend(backend, options, "--env-option" if options else "--env-backend")
    except JobEnvironmentError as exc:
        raise click.ClickException(str(exc)) from None
    return backend, options


def algorithm_options(command=None, *, default: str = "fedavg"):
    """``--algorithm fedavg|fedprox|scaffold``, ``--fedprox-mu MU`` (DESIGN §9) and ``--local-baseline``.

    Used bare (``@algorithm_options``) or with another default algorithm (``@algorithm_options(default="fedprox")``).
    """
    if command is None:
        return lambda decorated: algorithm_options(decorated, default=default)
    from nvflare_fdd.client.runtime import ALGORITHMS, DEFAULT_FEDPROX_MU

    command = click.option(
        "--fedprox-mu", type=click.FloatRange(min=0), default=DEFAULT_FEDPROX_MU, show_default=True,
        help="FedProx's coefficient, sent to the sites with each task (controller_manager.FLFedProx() uses it).",
    )(command)  # fmt: skip
    command = click.option(
        "--local-baseline", is_flag=True,
        help="Each site also trains a local-only copy of the model with the same budget a round; its metrics are "
             "reported as kind 'baseline': what the site would reach alone.",
    )(command)  # fmt: skip
    return click.option(
        "--algorithm", type=click.Choice(ALGORITHMS), default=default, show_default=True,
        help="fedavg, fedprox (FedAvg plus the bundle's FLFedProx term) or scaffold (SCAFFOLD's control variates "
             "for the bundle's FLScaffold).",
    )(command)  # fmt: skip
