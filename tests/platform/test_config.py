"""platform.yaml: a misspelt key is refused by name instead of silently running on the default."""

from __future__ import annotations

import textwrap

import pytest

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.config import load_config


def write(tmp_path, text: str):
    path = tmp_path / "platform.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_known_settings_and_plugin_sections_load(tmp_path, monkeypatch):
    monkeypatch.delenv("FDD_STORAGE_URL", raising=False)
    monkeypatch.delenv("FDD_RUNNER", raising=False)
    path = write(tmp_path, """\
        capacity: 3
        simulator:
          sites: {pharma_a: "sqlite:///a.db"}
        flare: {username: admin, startup_kit: /kit, timeout: 10}
        mlflow: {tracking_uri: "http://127.0.0.1:5000"}
        ui: {language: en}
        """)
    config = load_config(path)
    assert config.capacity == 3
    assert config.simulator_sites == {"pharma_a": "sqlite:///a.db"}


@pytest.mark.parametrize("text, named, hint", [
    ("capcity: 4\n", "'capcity'", "did you mean 'capacity'?"),
    ("max_queue: 2\n", "'max_queue'", "the platform's settings are"),
    ("simulater:\n  sites: {}\n", "'simulater'", "did you mean 'simulator'?"),
    ("simulator:\n  site: {a: 'sqlite:///a.db'}\n", "simulator.site", "simulator takes sites, environment"),
    ("flare:\n  user: admin\n", "flare.user", "flare takes username"),
])  # fmt: skip
def test_an_unknown_key_is_refused_by_name(tmp_path, text, named, hint):
    path = write(tmp_path, text)
    with pytest.raises(FddError) as raised:
        load_config(path)
    assert named in str(raised.value) and hint in str(raised.value) and str(path) in str(raised.value)
    assert raised.value.code == "platform.unknown_setting"


def test_the_storage_url_has_one_name_and_the_former_ones_still_work_with_a_warning(tmp_path, monkeypatch, caplog):
    from nvflare_fdd.site_config import server_storage_backend, server_storage_url

    monkeypatch.delenv("FDD_STORAGE_URL", raising=False)
    monkeypatch.setenv("FDD_PLATFORM_URL", "sqlite:///former.db")
    assert load_config(write(tmp_path, "capacity: 1\n")).storage_url == "sqlite:///former.db"
    assert "$FDD_PLATFORM_URL is the former name of $FDD_STORAGE_URL" in caplog.text
    monkeypatch.setenv("FDD_STORAGE_URL", "sqlite:///current.db")
    assert load_config(write(tmp_path, "capacity: 1\n")).storage_url == "sqlite:///current.db"

    # a job's server: its fdd_site.json over the environment
    assert server_storage_url({"storage_url": "sqlite:///site.db"}) == "sqlite:///site.db"
    caplog.clear()
    assert server_storage_url({"platform_url": "sqlite:///old-site.db"}) == "sqlite:///old-site.db"
    assert "'platform_url' is the former name of 'storage_url'" in caplog.text
    assert server_storage_url({}) == "sqlite:///current.db"
    assert server_storage_backend({"platform_storage_backend": "mine"}) == "mine"
    assert server_storage_backend({}) == "sql"
