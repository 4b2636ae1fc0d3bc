"""What the platform commands share: the platform, the acting user, tables and JSON output."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from functools import wraps
from typing import Any

import click

USER_ENV = "FDD_USER"


def platform_command(function: Callable) -> Callable:
    """Turn the platform's user errors into clean CLI errors (no tracebacks)."""

    @wraps(function)
    def wrapper(*args, **kwargs):
        from nvflare_fdd.errors import FddError

        try:
            return function(*args, **kwargs)
        except FddError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def user_option(function: Callable) -> Callable:
    return click.option(
        "--user", "user_name", default=lambda: os.environ.get(USER_ENV) or getpass.getuser(), show_default="$FDD_USER or your login",
        help="Act as this platform user.",
    )(function)


def json_option(function: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(function)


def get_platform():
    from nvflare_fdd.platform.service import Platform

    return Platform()


def user_command(group: click.Group, name: str, *, json: bool = False) -> Callable[[Callable], click.Command]:
    """``group``'s command ``name``, acting as ``--user`` (and printing JSON with ``--json`` where ``json``).

    The function gets the platform and the acting user, then the command's own parameters (those of the
    decorators below this one); the platform's user errors become CLI errors.
    """

    def decorate(function: Callable) -> click.Command:
        @wraps(function)
        def act(user_name: str, **params):
            platform = get_platform()
            return function(platform, platform.user(user_name), **params)

        return _acting_user(group.command(name)(platform_command(act)), json)

    return decorate


def confirmed_command(group: click.Group, name: str, argument: str, question: str | Callable[..., str]
                      ) -> Callable[[Callable], click.Command]:  # fmt: skip
    """``group``'s command ``name`` on the record ARGUMENT, which asks ``question`` before it acts unless ``--yes``.

    ``question`` is either text, formatted with the argument's value and asked before the platform is opened
    (so a "no" leaves everything as it was), or a function of the platform, the user and the command's
    parameters, for a question that tells what it looked up. Then, as in :func:`user_command`, the function
    acts with the platform, the user, the argument's value and the command's other parameters.
    """

    def decorate(function: Callable) -> click.Command:
        @wraps(function)
        def act(yes: bool, user_name: str, **params):
            if not yes and isinstance(question, str):
                click.confirm(question.format(params[argument]), abort=True)
            platform = get_platform()
            user = platform.user(user_name)
            if not yes and not isinstance(question, str):
                click.confirm(question(platform, user, **params), abort=True)
            return function(platform, user, **params)

        act = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(act)
        return _acting_user(group.command(name)(click.argument(argument)(platform_command(act))), False)

    return decorate


def _acting_user(command: click.Command, json: bool) -> click.Command:
    """``--user`` (and ``--json``) after the command's own options."""
    user_option(command)
    if json:
        json_option(command)
    return command


def emit_records(records: Sequence[Any], as_json: bool, headers: Sequence[str], row: Callable[[Any], Sequence[Any]]) -> None:
    """A listing: ``records`` as JSON with ``--json``, else a table of ``row(record)`` under ``headers``."""
    if as_json:
        emit_json(records)
    else:
        emit_table(headers, [row(record) for record in records])


def plain(value: Any) -> Any:
    """Records, enums and datetimes as JSON-friendly data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def emit_json(value: Any) -> None:
    click.echo(json.dumps(plain(value), indent=2, ensure_ascii=False))


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """An aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            click.echo("  ".join("-" * width for width in widths))
    if not rows:
        click.echo("(none)")


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""
