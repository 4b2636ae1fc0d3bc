"""nvflare-fdd's plugin system (pluggy): hook specifications and the plugin manager.

Third-party packages extend nvflare-fdd by implementing hooks from
``nvflare_fdd.plugin.hookspecs`` with ``@nvflare_fdd.hookimpl`` and exposing the
module under the ``nvflare_fdd`` entry-point group::

    [options.entry_points]
    nvflare_fdd =
        docker = fdd_docker
"""

from __future__ import annotations

import pluggy

PROJECT = "nvflare_fdd"
ENTRY_POINT_GROUP = "nvflare_fdd"
DISABLE_AUTOLOAD_ENV = "FDD_DISABLE_PLUGIN_AUTOLOAD"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["DISABLE_AUTOLOAD_ENV", "ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]
