"""The fdd_stats job folder and the class allow-list a deployment needs for it."""

from __future__ import annotations

import json

import pytest
from pyhocon import ConfigFactory

from nvflare_fdd.errors import FddError
from nvflare_fdd.jobs import template_dir
from nvflare_fdd.stats.job import STATS_CLASS_PREFIX, allow_stats_classes, create_stats_job


def test_the_job_folder_is_meta_and_one_app_for_the_chosen_sites_without_custom_code(tmp_path):
    job = create_stats_job(tmp_path / "stats_job", sites=["a", "b", "c"], server_vars={"task_timeout": 30})

    assert sorted(str(p.relative_to(job)) for p in job.rglob("*") if p.is_file()) == [
        "app/config/config_fed_client.conf", "app/config/config_fed_server.conf", "meta.conf",
    ]  # fmt: skip
    meta = ConfigFactory.parse_file(str(job / "meta.conf"))
    assert (meta["name"], meta["min_clients"], meta["deploy_map"]["app"]) == ("stats_job", 3, ["server", "a", "b", "c"])
    server = ConfigFactory.parse_file(str(job / "app/config/config_fed_server.conf"))
    (workflow,) = server["workflows"]
    assert workflow["path"] == "nvflare_fdd.stats.collector.FddStatsCollector"
    assert server["task_timeout"] == 30
    client = ConfigFactory.parse_file(str(job / "app/config/config_fed_client.conf"))
    assert client["executors"][0]["executor"]["path"] == "nvflare_fdd.stats.executor.FddStatsExecutor"
    assert client["executors"][0]["tasks"] == ["stats"]


def test_every_class_of_the_template_is_under_the_allow_list_prefix():
    folder = template_dir("fdd_stats")
    paths = []
    for name in ("config_fed_server.conf", "config_fed_client.conf"):
        text = (folder / name).read_text()
        paths += [line.split('"')[1] for line in text.splitlines() if line.strip().startswith("path =")]
    assert len(paths) == 2 and all(path.startswith(STATS_CLASS_PREFIX) for path in paths)
    for path in paths:  # and each is importable as written
        module, _, name = path.rpartition(".")
        assert getattr(__import__(module, fromlist=[name]), name)


def test_a_job_folder_must_be_new(tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "x").write_text("")
    with pytest.raises(FddError, match="not empty"):
        create_stats_job(tmp_path / "job")
    with pytest.raises(FddError, match="may use only"):
        create_stats_job(tmp_path / "other", name="bad name")


def test_the_allow_list_keeps_nvflare_defaults_and_adds_the_stats_prefix_once(tmp_path):
    path = allow_stats_classes(tmp_path / "local")
    allow_stats_classes(tmp_path / "local")

    resources = json.loads(path.read_text())
    assert resources["class_allow_list"].count(STATS_CLASS_PREFIX) == 1
    try:
        from nvflare.app_common.default_component_policy import DEFAULT_CLASS_ALLOW_LIST
    except ImportError:  # NVFlare 2.7 has no allow-list
        DEFAULT_CLASS_ALLOW_LIST = ()
    assert set(DEFAULT_CLASS_ALLOW_LIST) <= set(resources["class_allow_list"])


def test_the_allow_list_keeps_a_site_s_own_entries(tmp_path):
    (tmp_path / "resources.json").write_text(json.dumps({"format_version": 2, "class_allow_list": ["my_org."], "x": 1}))
    resources = json.loads(allow_stats_classes(tmp_path).read_text())
    assert resources == {"format_version": 2, "class_allow_list": ["my_org.", STATS_CLASS_PREFIX], "x": 1}


def test_a_provisioned_site_s_default_resources_are_kept(tmp_path):
    default = {"format_version": 2, "components": [{"id": "job_manager"}], "class_allow_list": ["nvflare.app_common."]}
    (tmp_path / "resources.json.default").write_text(json.dumps(default))
    resources = json.loads(allow_stats_classes(tmp_path).read_text())
    assert resources == dict(default, class_allow_list=["nvflare.app_common.", STATS_CLASS_PREFIX])
    assert json.loads((tmp_path / "resources.json.default").read_text()) == default
