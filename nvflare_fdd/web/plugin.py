"""The built-in UI plugin: registers the web UI as the ``web`` UI backend."""

from __future__ import annotations

from nvflare_fdd.plugin import hookimpl


@hookimpl
def fdd_ui_backends(register) -> None:
    from nvflare_fdd.web.server import WebUI

    register("web", WebUI)
