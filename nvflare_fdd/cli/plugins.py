"""``fdd plugins``: what is loaded and what it provides."""

from __future__ import annotations

import click


@click.command()
def plugins() -> None:
    """List the loaded plugins and the backends they provide."""
    from nvflare_fdd.plugin.manager import plugin_manager

    manager = plugin_manager()
    click.echo("Plugins:")
    for name in manager.plugin_names():
        click.echo(f"  {name}")
    click.echo("Environment backends: " + ", ".join(sorted(manager.environment_backends())))
    click.echo("Storage backends: " + ", ".join(sorted(manager.storage_backends())))
    click.echo("UI backends: " + (", ".join(sorted(manager.ui_backends())) or "(none)"))
