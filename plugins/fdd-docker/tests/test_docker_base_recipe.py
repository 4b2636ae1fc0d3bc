"""What a base image takes from the site (pins, index settings, torch's wheel) and the recipe's checks: no engine needed."""

from __future__ import annotations

import subprocess

import pytest

from fdd_docker import site_packages
from fdd_docker.base_image import BaseImageSpec, _contents_tag, _suite, build_base_image
from fdd_docker.site_packages import IndexSettings, index_settings
from nvflare_fdd.envs import JobEnvironmentError


def test_site_constraints_pin_what_the_site_runs_but_not_what_the_image_installs_itself():
    lines = site_packages.site_constraints().splitlines()
    names = {line.split("==")[0] for line in lines}

    assert lines == sorted(lines) and all("==" in line and "+" not in line for line in lines)
    assert "click" in names and "pandas" in names
    assert not names & {"torch", "uv", "nvflare-fdd", "nvflare-fdd-docker"}


def test_pip_configuration_is_read_variables_first(monkeypatch):
    listing = ("global.index-url='https://pypi.site.example/simple'\n"
               "global.find-links='/srv/wheels'\n:env:.find-links='/opt/wheels'\n"
               "global.extra-index-url='file:///srv/pypi/simple https://mirror.example/simple'\n")  # fmt: skip
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, listing, ""))

    assert site_packages.pip_configuration() == {
        "index-url": "https://pypi.site.example/simple",
        "find-links": "/opt/wheels",
        "extra-index-url": "file:///srv/pypi/simple https://mirror.example/simple",
    }


def test_index_settings_mount_local_indexes_and_folders_and_keep_only_reachable_ones_for_job_builds(tmp_path, monkeypatch):
    (tmp_path / "pypi" / "simple").mkdir(parents=True)
    (tmp_path / "wheels").mkdir()
    monkeypatch.setattr(site_packages, "pip_configuration", lambda: {})
    settings = index_settings(
        "https://pypi.site.example/simple",
        [f"file://{tmp_path}/pypi/simple", site_packages.TORCH_CPU_INDEX, "https://mirror.example/simple"],
        [str(tmp_path / "wheels")],
    )

    assert settings.mounted_folders() == [str(tmp_path / "pypi"), str(tmp_path / "wheels")]  # pages link to ../files
    assert settings.uv_flags()[:2] == ["--index-url", "https://pypi.site.example/simple"]
    assert settings.image_env() == {"UV_INDEX_URL": "https://pypi.site.example/simple",
                                    "UV_EXTRA_INDEX_URL": "https://mirror.example/simple"}  # fmt: skip


def test_missing_folders_and_ca_bundles_given_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(site_packages, "pip_configuration", lambda: {})
    with pytest.raises(JobEnvironmentError, match="find-links folder .*nowhere does not exist"):
        index_settings(find_links=[str(tmp_path / "nowhere")])
    with pytest.raises(JobEnvironmentError, match="CA bundle .*none.pem does not exist"):
        index_settings(cert=str(tmp_path / "none.pem"))


def test_torch_cpu_wheel_is_found_in_a_find_links_folder(tmp_path):
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")

    assert site_packages.has_torch_wheel([str(tmp_path)], "2.13.0", "3.11")
    assert not site_packages.has_torch_wheel([str(tmp_path)], "2.13.0", "3.12")
    assert not site_packages.has_torch_wheel(["https://example.org/wheels"], "2.13.0", "3.11")


def test_debian_python_versions_and_their_suites():
    assert _suite("3.11") == "bookworm" and _suite("3.13") == "trixie"
    with pytest.raises(JobEnvironmentError, match="not 3.12: .*--from IMAGE"):
        _suite("3.12")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("nvflare-fdd:latest", "nvflare-fdd:0.1.0-py3.11-torch2.13.0-cpu"),
     ("registry.example:5000/site/fdd:v1", "registry.example:5000/site/fdd:0.1.0-py3.11-torch2.13.0-cpu"),
     ("fdd", "fdd:0.1.0-py3.11-torch2.13.0-cpu")],
)  # fmt: skip
def test_the_second_tag_names_what_is_inside(tag, expected):
    manifest = {"nvflare-fdd": "0.1.0", "python": "3.11.2", "torch": "2.13.0+cpu"}

    assert _contents_tag(tag, manifest, cuda=False) == expected


def test_a_missing_from_image_is_named_before_anything_is_built(fake_docker):
    from fdd_docker.client import DockerClient

    with pytest.raises(JobEnvironmentError, match="the image 'site/python:3.11' is not on this host"):
        build_base_image(BaseImageSpec(from_image="site/python:3.11"), DockerClient(str(fake_docker.path)), log=lambda line: None)
    assert fake_docker.builds() == []


def test_index_settings_describe_their_ca_bundle_by_content(tmp_path):
    cert = tmp_path / "ca.pem"
    cert.write_text("one")
    first = IndexSettings(cert=str(cert)).describe()
    cert.write_text("two")

    assert IndexSettings(cert=str(cert)).describe() != first  # a changed CA bundle rebuilds the image
