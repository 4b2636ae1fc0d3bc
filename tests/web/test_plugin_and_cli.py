"""The web UI as the ``web`` UI backend, and ``fdd ui``."""

from __future__ import annotations

import time
import urllib.request

from click.testing import CliRunner

from nvflare_fdd.cli import ui as ui_module
from nvflare_fdd.web.server import WebUI, start_server
from nvflare_fdd.web.settings import WebSettings


def test_the_web_ui_is_the_web_ui_backend(make_plugins):
    assert make_plugins().ui_backends()["web"] is WebUI


def test_fdd_ui_serves_the_chosen_backend(monkeypatch, platform):
    served = []
    monkeypatch.setattr(ui_module, "get_platform", lambda: platform)
    monkeypatch.setattr(WebUI, "serve", lambda self, host, port: served.append((self.platform, host, port)))

    result = CliRunner().invoke(ui_module.ui, ["--port", "9123"])

    assert result.exit_code == 0, result.output
    assert served == [(platform, "127.0.0.1", 9123)]
    assert "http://127.0.0.1:9123/" in result.output


def test_fdd_ui_names_the_installed_backends_for_an_unknown_one(monkeypatch, platform):
    monkeypatch.setattr(ui_module, "get_platform", lambda: platform)

    result = CliRunner().invoke(ui_module.ui, ["--backend", "tui"])

    assert result.exit_code == 1
    assert "no UI backend 'tui'; installed: web" in result.output


def test_the_server_runs_the_queue_while_it_serves(platform, stats_store, tiny_bundle):
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.create_job(alice, "queued", "TinyRegressor:1.0", 1, ["site_a"])
    platform.start_job(alice, "queued")
    server = start_server(platform, settings=WebSettings(secret_key="k", tick_interval=0.1), stats=stats_store)
    try:
        with urllib.request.urlopen(f"{server.url}/signin") as response:
            assert response.status == 200
        deadline = time.monotonic() + 10
        while platform.storage.get_job("queued").state.value != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.close()

    assert platform.storage.get_job("queued").state.value == "running"
