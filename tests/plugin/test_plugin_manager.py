"""The plugin manager: built-ins are plugins, duplicates and misspelled hooks fail fast, autoload can be off."""

from __future__ import annotations

import pluggy
import pytest
from click.testing import CliRunner

import nvflare_fdd
from nvflare_fdd.cli.main import main
from nvflare_fdd.plugin.manager import FddPluginManager, PluginError


class SecondLocal:
    @nvflare_fdd.hookimpl
    def fdd_environment_backends(self, register):
        register("local", object)


class Remote:
    @nvflare_fdd.hookimpl
    def fdd_environment_backends(self, register):
        register("remote", dict)


class Misspelled:
    @nvflare_fdd.hookimpl
    def fdd_environment_backend(self, register):  # missing "s"
        register("x", object)


def test_the_local_backend_is_a_built_in_plugin():
    manager = FddPluginManager(autoload=False)
    assert "nvflare_fdd.envs.local" in manager.plugin_names()
    assert manager.environment_backends()["local"].__name__ == "LocalBackend"


def test_a_plugin_adds_a_backend():
    backends = FddPluginManager(autoload=False, plugins=(Remote(),)).environment_backends()
    assert backends["remote"] is dict and "local" in backends


def test_a_duplicate_name_names_both_plugins():
    with pytest.raises(PluginError, match="'local' is registered by both"):
        FddPluginManager(autoload=False, plugins=(SecondLocal(),)).environment_backends()


def test_a_misspelled_hook_fails_when_the_plugin_loads():
    with pytest.raises(pluggy.PluginValidationError, match="fdd_environment_backend"):
        FddPluginManager(autoload=False, plugins=(Misspelled(),))


def test_autoload_follows_the_environment_variable(monkeypatch):
    loaded = []
    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints", lambda self, group: loaded.append(group))
    monkeypatch.setenv("FDD_DISABLE_PLUGIN_AUTOLOAD", "1")
    FddPluginManager()
    assert loaded == []
    monkeypatch.delenv("FDD_DISABLE_PLUGIN_AUTOLOAD")
    FddPluginManager()
    assert loaded == ["nvflare_fdd"]


def test_fdd_plugins_lists_plugins_and_backends():
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "nvflare_fdd.envs.local" in result.output
    assert "local" in result.output.split("Environment backends:")[1]


def test_events_follow_pluggys_order_and_wrappers_and_a_failing_plugin_stops_no_other():
    from nvflare_fdd.plugin import hookimpl

    calls = []

    class First:
        @hookimpl(tryfirst=True)
        def fdd_job_state_changed(self, job, new_state):
            calls.append(("first", job, new_state))

    class Broken:
        @hookimpl
        def fdd_job_state_changed(self, job):
            raise RuntimeError("this plugin is broken")

    class Last:
        @hookimpl(trylast=True)
        def fdd_job_state_changed(self, job):
            calls.append(("last", job))

    class Around:
        @hookimpl(wrapper=True)
        def fdd_job_state_changed(self, job):
            calls.append(("before", job))
            result = yield
            calls.append(("after", job))
            return result

    manager = FddPluginManager(autoload=False, plugins=(Last(), Broken(), First(), Around()))
    manager.notify("fdd_job_state_changed", job="j", old_state=None, new_state="ready", reason="created")

    assert calls == [("before", "j"), ("first", "j", "ready"), ("last", "j"), ("after", "j")]
