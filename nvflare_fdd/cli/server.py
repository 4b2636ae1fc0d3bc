"""``fdd server``: the platform service's settings, sites and queue loop."""

from __future__ import annotations

import time

import click

from nvflare_fdd.cli.platform_common import emit_json, get_platform, json_option, platform_command


@click.group()
def server() -> None:
    """The platform service: settings (platform.yaml), sites, and the queue loop."""


@server.command("config")
@json_option
@platform_command
def config(as_json: bool) -> None:
    """Show the settings in effect and where they come from."""
    from nvflare_fdd.platform.config import CONFIG_ENV, load_config

    settings = load_config()
    values = {
        "config file": str(settings.source) if settings.source else f"(none: set ${CONFIG_ENV} or write {settings.home}/platform.yaml)",
        "home": str(settings.home),
        "storage_backend": settings.storage_backend,
        "storage_url": settings.storage_url,
        "runner": settings.runner,
        "capacity": settings.capacity,
        "max_queued_per_user": settings.max_queued_per_user,
        "simulator sites": settings.simulator_sites or "(the demo institutions)",
        "flare": settings.flare or "(not configured)",
    }
    if as_json:
        return emit_json(values)
    for key, value in values.items():
        click.echo(f"{key:>20}: {value}")


@server.command("sites")
@json_option
@platform_command
def sites(as_json: bool) -> None:
    """The sites jobs can use."""
    found = get_platform().sites()
    if as_json:
        return emit_json(found)
    for site in found:
        click.echo(site)


@server.command("run")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between queue checks.")
@click.option("--once", is_flag=True, help="Check the queue once and exit.")
@platform_command
def run(interval: float, once: bool) -> None:
    """Run the queue: settle finished jobs and start queued ones while capacity allows."""
    platform = get_platform()
    click.echo(f"Queue of {platform.config.storage_url} on the {platform.config.runner} runner "
               f"(capacity {platform.config.capacity}); Ctrl-C to stop.")  # fmt: skip
    for name in platform.reconcile():
        job = platform.storage.get_job(name)
        click.echo(f"  reconciled {name}: {job.state.value}")
    while True:
        platform.tick()
        if once:
            return
        time.sleep(interval)
