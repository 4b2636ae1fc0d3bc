"""``fdd users``: platform accounts (an operator's command)."""

from __future__ import annotations

import click

from nvflare_fdd.cli.platform_common import emit_records, get_platform, json_option, platform_command, when


@click.group()
def users() -> None:
    """Platform users (for the web UI's sign-in; CLI users are created on first use)."""


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May change everyone's models and jobs.")
@click.password_option(help="Password for signing in to the web UI.")
@platform_command
def add(name: str, admin: bool, password: str) -> None:
    """Create user NAME with a password (stored hashed)."""
    from werkzeug.security import generate_password_hash

    get_platform().storage.create_user(name, generate_password_hash(password), is_admin=admin)
    click.echo(f"Created user {name}{' (admin)' if admin else ''}.")


@users.command("list")
@json_option
@platform_command
def list_(as_json: bool) -> None:
    """All users."""
    emit_records(get_platform().storage.list_users(), as_json, ["user", "admin", "created"],
                 lambda u: [u.name, "yes" if u.is_admin else "", when(u.created_at)])  # fmt: skip
