"""``fdd env``: the job environments this site keeps (``list``, ``prune``), and the commands plugins add.

Each installed backend that keeps environments for later jobs (the ``local`` cache of
virtual environments, the ``docker`` plugin's job images) is asked for them; a backend
that cannot answer now (no Docker engine, say) is reported and skipped.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from nvflare_fdd.envs import CachedEnvironment, CachingBackend

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(ctx, param, value: str | None) -> float | None:
    """``30d``, ``12h``, ``1w2d``, ``90m``, ``45s`` → seconds; None stays None."""
    if value is None:
        return None
    text = value.strip().lower()
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise click.BadParameter(f"{value!r} is not a duration such as 30d, 12h, 90m or 1w2d")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


class _EnvGroup(click.Group):
    """``list`` and ``prune``, plus the subcommands plugins register (``fdd_env_commands``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_plugin_commands()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or _plugin_commands().get(cmd_name)


def _plugin_commands() -> dict[str, click.Command]:
    from nvflare_fdd.plugin.manager import plugin_manager

    return plugin_manager().env_commands()


site_config_option = click.option(
    "--site-config", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
    help="A site's local/ folder: its fdd_site.json's environment options apply to its backend.",
)  # fmt: skip


@click.group(cls=_EnvGroup)
def env() -> None:
    """Job environments: list and prune what the backends keep for later jobs.

    The local backend keeps virtual environments in $FDD_ENV_CACHE (default
    ~/.cache/nvflare-fdd/envs); the docker plugin keeps job images fdd-env:<key>
    and adds `fdd env build-base`.
    """


@env.command("list")
@site_config_option
def list_environments(site_config: Path | None) -> None:
    """Show each backend's cached environments: name, last use, size and requirements."""
    entries = _cached(site_config)
    if not entries:
        click.echo("No cached job environments.")
        return
    now = time.time()
    click.echo(f"{'BACKEND':<8} {'NAME':<30} {'LAST USED':>10} {'SIZE':>9}  REQUIREMENTS / CONTENTS")
    for _, entry in entries:
        flags = " (in use)" if entry.in_use else "" if entry.prunable else " (base, kept by prune)"
        click.echo(
            f"{entry.backend:<8} {entry.name:<30} {_age(now - entry.last_used):>10} {_size(entry.size):>9}  "
            f"{entry.description}{flags}"
        )


@env.command("prune")
@click.option("--older-than", callback=parse_duration, default=None, metavar="DURATION",
              help="Only those no job used for this long (30d, 12h, 90m)  [default: all that no job uses now]")
@click.option("--dry-run", is_flag=True, help="Show what would be removed, remove nothing.")
@site_config_option
def prune(older_than: float | None, dry_run: bool, site_config: Path | None) -> None:
    """Remove cached job environments no running job uses; jobs that need them again rebuild them.

    What job environments build on (the docker plugin's base image) is kept.
    """
    from nvflare_fdd.envs import JobEnvironmentError

    cutoff = time.time() - (older_than or 0.0)
    removed = kept = freed = 0
    for backend, entry in _cached(site_config):
        if not entry.prunable or entry.last_used > cutoff:
            continue
        if entry.in_use:
            click.echo(f"kept {entry.backend} {entry.name}: a running job uses it")
            kept += 1
            continue
        if not dry_run:
            try:
                backend.remove(entry)
            except JobEnvironmentError as exc:
                click.echo(f"kept {entry.backend} {entry.name}: {exc}", err=True)
                kept += 1
                continue
        removed += 1
        freed += entry.size or 0
        click.echo(f"{'would remove' if dry_run else 'removed'} {entry.backend} {entry.name} ({_size(entry.size)}, "
                   f"last used {_age(time.time() - entry.last_used)} ago)")  # fmt: skip
    verb = "would free" if dry_run else "freed"
    click.echo(f"{removed} environment(s) {'to remove' if dry_run else 'removed'}, {kept} kept; {verb} {_size(freed)}")


def _cached(site_config: Path | None) -> list[tuple[CachingBackend, CachedEnvironment]]:
    """``(backend, entry)`` for every entry of every backend that keeps environments."""
    from nvflare_fdd.envs import JobEnvironmentError, make_backend
    from nvflare_fdd.errors import FddError
    from nvflare_fdd.plugin.manager import plugin_manager
    from nvflare_fdd.site_config import environment_settings

    site_backend, site_options = environment_settings(site_config) if site_config else (None, {})
    found: list[tuple[CachingBackend, CachedEnvironment]] = []
    for name in sorted(plugin_manager().environment_backends()):
        options = site_options if name == site_backend else {}
        try:
            backend = make_backend(name, options, f"{site_config}/fdd_site.json" if options else f"the {name} backend")
            if not hasattr(backend, "cached"):
                continue
            found += [(backend, entry) for entry in backend.cached()]
        except (JobEnvironmentError, FddError) as exc:
            click.echo(f"{name}: cannot list its environments: {exc}", err=True)
    return found


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _size(size: int | None) -> str:
    from nvflare_fdd.bundle.contract import format_size

    return format_size(size) if size is not None else "?"
