"""``prepare_poc`` without starting anything: the provisioned kits and the nvflare-fdd settings of each site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nvflare_fdd.platform.poc import PocError, load_poc, prepare_poc


def test_prepare_configures_each_site_and_the_server(tmp_path):
    sites = {"site-a": "sqlite:////data/a.db", "site-b": "sqlite:////data/b.db"}
    user_config = Path.home() / ".nvflare" / "config.conf"
    before = user_config.read_text() if user_config.is_file() else None

    deployment = prepare_poc(tmp_path / "poc", sites, storage_url="sqlite:////srv/platform.db", port=18123,
                             env_cache=tmp_path / "envs")  # fmt: skip

    assert (deployment.admin_startup_kit / "startup" / "fed_admin.json").is_file()
    admin = json.loads((deployment.admin_startup_kit / "startup" / "fed_admin.json").read_text())["admin"]
    assert (admin["host"], admin["port"]) == ("localhost", 18123)
    for site, url in sites.items():
        settings = json.loads((deployment.site_dir(site) / "local" / "fdd_site.json").read_text())
        assert settings == {"kda_url": url, "environment": {"backend": "local", "cache_dir": str(tmp_path / "envs")},
                            "pretrained_cache": str(deployment.site_dir(site) / "pretrained_cache")}  # fmt: skip
    assert json.loads((deployment.server_dir / "local" / "fdd_site.json").read_text()) == {
        "storage_url": "sqlite:////srv/platform.db", "pretrained_cache": str(deployment.server_dir / "pretrained_cache")
    }
    project = yaml.safe_load((deployment.workspace / "project.yml").read_text())
    assert sorted(p["name"] for p in project["participants"] if p["type"] == "client") == sorted(sites)
    # NVFlare's CLI settings (the active startup kit) go to the deployment's folder, not the user's
    assert (deployment.root / "nvflare_home" / ".nvflare").is_dir()
    assert (user_config.read_text() if user_config.is_file() else None) == before
    assert deployment.processes() == []

    again = load_poc(tmp_path / "poc")
    assert again == deployment


@pytest.mark.parametrize("name", ["server", "admin@nvidia.com", "site 1", "", "../x"])
def test_prepare_refuses_bad_site_names(tmp_path, name):
    with pytest.raises(PocError, match="site name"):
        prepare_poc(tmp_path / "poc", {name: "sqlite:////data/a.db"})


def test_load_needs_a_prepared_folder(tmp_path):
    with pytest.raises(PocError, match="no POC deployment"):
        load_poc(tmp_path)


def test_log_tails_prefer_a_jobs_own_log_and_keep_the_end(tmp_path):
    deployment = prepare_poc(tmp_path / "poc", {"site-a": "sqlite:////a.db", "site-b": "sqlite:////b.db"}, port=18124)
    (deployment.server_dir / "log.txt").write_text("server start\n" + "x" * 50 + "server end\n")
    (deployment.server_dir / "job-1").mkdir()
    (deployment.server_dir / "job-1" / "log.txt").write_text("job-1 on the server\n")
    (deployment.site_dir("site-a") / "log.txt").write_text("site-a parent\n")

    everything = deployment.log_tails()
    of_job = deployment.log_tails("job-1", chars=20)

    assert "server end" in everything and "site-a parent" in everything and "job-1" not in everything
    assert "site-b" not in everything  # no log there yet
    assert "job-1 on the server" in of_job and "server end" not in of_job  # the job's own log, not the parent's
    assert "site-a parent" in of_job  # a site without the job's log: its parent's
    assert "server start" not in deployment.log_tails(chars=20)
