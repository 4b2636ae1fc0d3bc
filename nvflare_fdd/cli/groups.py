"""``fdd groups``: saved site selections ("bookmarks")."""

from __future__ import annotations

import click

from nvflare_fdd.cli.platform_common import emit_records, user_command


@click.group()
def groups() -> None:
    """Saved groups of sites, to pick when creating jobs (--group NAME)."""


@user_command(groups, "save")
@click.argument("name")
@click.argument("sites", nargs=-1, required=True)
def save(platform, user, name: str, sites: tuple[str, ...]) -> None:
    """Save (or overwrite) group NAME with SITES."""
    group = platform.save_group(user, name, sites)
    click.echo(f"Saved {group.name}: {', '.join(group.sites)}.")


@user_command(groups, "list", json=True)
def list_(platform, user, as_json: bool) -> None:
    """Your site groups."""
    emit_records(platform.groups(user), as_json, ["group", "sites"], lambda g: [g.name, ", ".join(g.sites)])


@user_command(groups, "delete")
@click.argument("name")
def delete(platform, user, name: str) -> None:
    """Delete one of your site groups."""
    platform.delete_group(user, name)
    click.echo(f"Deleted {name}.")
