"""``fdd groups``: saved site selections ("bookmarks")."""

from __future__ import annotations

import click

from nvflare_fdd.cli.platform_common import emit_json, emit_table, get_platform, json_option, platform_command, user_option


@click.group()
def groups() -> None:
    """Saved groups of sites, to pick when creating jobs (--group NAME)."""


@groups.command("save")
@click.argument("name")
@click.argument("sites", nargs=-1, required=True)
@user_option
@platform_command
def save(name: str, sites: tuple[str, ...], user_name: str) -> None:
    """Save (or overwrite) group NAME with SITES."""
    platform = get_platform()
    group = platform.save_group(platform.user(user_name), name, sites)
    click.echo(f"Saved {group.name}: {', '.join(group.sites)}.")


@groups.command("list")
@user_option
@json_option
@platform_command
def list_(user_name: str, as_json: bool) -> None:
    """Your site groups."""
    platform = get_platform()
    found = platform.groups(platform.user(user_name))
    if as_json:
        return emit_json(found)
    emit_table(["group", "sites"], [[g.name, ", ".join(g.sites)] for g in found])


@groups.command("delete")
@click.argument("name")
@user_option
@platform_command
def delete(name: str, user_name: str) -> None:
    """Delete one of your site groups."""
    platform = get_platform()
    platform.delete_group(platform.user(user_name), name)
    click.echo(f"Deleted {name}.")
