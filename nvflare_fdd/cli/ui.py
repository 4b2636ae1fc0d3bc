"""``fdd ui``: serve a user interface of the platform (the web UI by default)."""

from __future__ import annotations

import click

from nvflare_fdd.cli.platform_common import get_platform, platform_command


@click.command()
@click.option("--host", default=None,
              help="Address to listen on.  [default: ui.host in platform.yaml, $FDD_UI_HOST, or 127.0.0.1]")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on.  [default: ui.port in platform.yaml, $FDD_UI_PORT, or 8765]")  # fmt: skip
@click.option("--backend", default="web", show_default=True, help="Which UI backend to serve (see `fdd plugins`).")
@platform_command
def ui(host: str | None, port: int | None, backend: str) -> None:
    """Serve the platform's UI, and run the job queue while it serves.

    With no platform.yaml this is the embedded platform: SQLite in $FDD_HOME, jobs in
    the NVFlare simulator on the demo institutions. Sign in with an account made by
    `fdd users add NAME --admin`.
    """
    from nvflare_fdd.web.settings import load_web_settings

    platform = get_platform()
    backends = platform.plugins.ui_backends()
    if backend not in backends:
        raise click.ClickException(f"no UI backend {backend!r}; installed: {', '.join(sorted(backends)) or 'none'}")
    settings = load_web_settings(platform.config)
    host = host or settings.host
    port = settings.port if port is None else port
    accounts = [u for u in platform.storage.list_users() if platform.storage.password_hash(u.name)]
    click.echo(f"Serving the {backend} UI at http://{host}:{port}/ over {platform.config.storage_url} "
               f"({platform.config.runner} runner); Ctrl-C to stop.")  # fmt: skip
    if not accounts:
        click.echo("No one can sign in yet: create an account with `fdd users add NAME --admin`.")
    backends[backend](platform).serve(host, port)
