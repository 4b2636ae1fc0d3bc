"""The web UI, the platform's default UI backend (``fdd ui``): the pages of the K-MELLODDY guide
(section III) over ``nvflare_fdd.platform.service.Platform``.

- ``create_app(platform, settings)``: the Flask application (any WSGI server can serve it).
- ``WebUI(platform).serve(host, port)``: what ``fdd ui`` runs; the queue ticks every second beside it.
- ``nvflare_fdd.web.plugin``: registers ``WebUI`` as the ``web`` UI backend.

Every action goes through ``Platform``, so the web UI can do nothing the CLI cannot, and the
platform, not the page, decides who may change what.
"""

from __future__ import annotations

import importlib

# Imported on first use, so loading the plugin (every ``fdd`` command does) does not import Flask.
_EXPORTS = {"create_app": "nvflare_fdd.web.app", "WebUI": "nvflare_fdd.web.server", "start_server": "nvflare_fdd.web.server"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
