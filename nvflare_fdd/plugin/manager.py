"""The plugin manager: built-in plugins, then entry-point plugins, checked once, loaded on first use."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import pluggy

from nvflare_fdd.errors import PluginError
from nvflare_fdd.plugin import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP, PROJECT, hookspecs

# Built-in features are plugins too; each module holds @hookimpl functions.
BUILTIN_PLUGINS = ("nvflare_fdd.envs.local", "nvflare_fdd.platform.builtin", "nvflare_fdd.web.plugin")

EVENT_HOOKS = ("fdd_job_state_changed", "fdd_round_progress", "fdd_metrics_recorded")

log = logging.getLogger(__name__)


class FddPluginManager:
    """Typed access to the hooks, so the rest of the code never calls ``pm.hook.x`` untyped.

    Args:
        autoload: load third-party plugins from the ``nvflare_fdd`` entry-point group;
            default: yes unless ``$FDD_DISABLE_PLUGIN_AUTOLOAD`` is set.
        plugins: extra plugin objects to register (tests, embedding applications).
    """

    def __init__(self, autoload: bool | None = None, plugins: tuple[object, ...] = ()):
        if autoload is None:
            autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if autoload:
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        for name in BUILTIN_PLUGINS:
            self.pm.register(importlib.import_module(name), name=name)
        for plugin in plugins:
            self.pm.register(plugin)
        self.pm.check_pending()  # a misspelled hook in a plugin fails here, not silently
        for hook_name in EVENT_HOOKS:
            for implementation in getattr(self.pm.hook, hook_name).get_hookimpls():
                if not (implementation.hookwrapper or getattr(implementation, "wrapper", False)):
                    implementation.function = _logging_failures(implementation.function, implementation.plugin_name,
                                                                hook_name)  # fmt: skip

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins (built-in and third-party)."""
        return sorted(name for name, _ in self.pm.list_name_plugin())

    def environment_backends(self) -> dict[str, Callable[..., Any]]:
        """Backend name → factory, from every plugin's ``fdd_environment_backends``."""
        return self._collect(self.pm.hook.fdd_environment_backends, "environment backend")

    def env_commands(self) -> dict[str, Any]:
        """Name → ``click.Command`` of ``fdd env``, from every plugin's ``fdd_env_commands``."""
        return self._collect(self.pm.hook.fdd_env_commands, "fdd env command")

    def storage_backends(self) -> dict[str, Callable[..., Any]]:
        """Backend name → ``factory(url)``, from every plugin's ``fdd_storage_backends``."""
        return self._collect(self.pm.hook.fdd_storage_backends, "storage backend")

    def ui_backends(self) -> dict[str, Callable[..., Any]]:
        """UI name → ``factory(platform)``, from every plugin's ``fdd_ui_backends``."""
        return self._collect(self.pm.hook.fdd_ui_backends, "UI backend")

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Tell every plugin of a platform event (one of ``EVENT_HOOKS``); a failing plugin is logged, not raised."""
        if hook_name not in EVENT_HOOKS:
            raise ValueError(f"{hook_name} is not a platform event; events are {', '.join(EVENT_HOOKS)}")
        getattr(self.pm.hook, hook_name)(**kwargs)  # pluggy's order (tryfirst/trylast) and wrappers apply

    def _collect(self, hook, what: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for implementation in hook.get_hookimpls():
            plugin_name = implementation.plugin_name

            def register(name: str, value: Any, plugin_name: str = plugin_name) -> None:
                if name in found:
                    raise PluginError(f"{what} {name!r} is registered by both {owners[name]} and {plugin_name}")
                found[name] = value
                owners[name] = plugin_name

            implementation.function(register=register)
        return found


def _logging_failures(function: Callable, plugin_name: str, hook_name: str) -> Callable:
    """``function`` (an event hook implementation), with its exceptions logged instead of raised: one failing
    plugin must not keep the others from an event, nor break the platform."""
    import functools

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:
            log.exception("plugin %s failed in %s", plugin_name, hook_name)
            return None

    return call


_manager: FddPluginManager | None = None


def plugin_manager() -> FddPluginManager:
    """The process-wide plugin manager, created on first use."""
    global _manager
    if _manager is None:
        _manager = FddPluginManager()
    return _manager
