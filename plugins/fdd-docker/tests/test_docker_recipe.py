"""The image recipe and the backend's options: pure functions and boundary checks, no docker needed."""

from __future__ import annotations

import pytest

from fdd_docker import DockerBackend, docker_backend, dockerfile, image_key
from fdd_docker.backend import installer_output
from nvflare_fdd.envs import JobEnvironmentError


@pytest.mark.parametrize(
    "base_image",
    ["nvflare-fdd:latest", "registry.example.com:5000/pharma/nvflare-fdd:2.1", "nvflare-fdd@sha256:" + "a" * 64],
)
def test_dockerfile_installs_the_requirements_on_the_base_image(base_image):
    expected = (
        f"FROM {base_image}\n"
        "COPY requirements.txt /tmp/fdd-build/requirements.txt\n"
        # K-MELLODDY's install command, word for word
        "RUN cd /tmp/fdd-build && uv pip install -r requirements.txt --system --index-strategy unsafe-best-match \\\n"
        "    && cd / && rm -rf /tmp/fdd-build\n"
    )

    assert dockerfile(base_image) == expected


@pytest.mark.parametrize(
    ("other", "same"),
    [
        (("nvflare-fdd:2", "sha256:1", "rdkit\n"), False),  # another base image name
        (("nvflare-fdd:1", "sha256:2", "rdkit\n"), False),  # the same name, rebuilt
        (("nvflare-fdd:1", "sha256:1", "rdkit==2024.3\n"), False),  # other requirements
        (("nvflare-fdd:1", "sha256:1", "\nrdkit\n\n"), True),  # only surrounding blank lines differ
    ],
)
def test_image_key_changes_with_the_base_image_and_the_requirements(other, same):
    key = image_key("nvflare-fdd:1", "sha256:1", "rdkit\n")

    assert len(key) == 20 and int(key, 16) >= 0
    assert (image_key(*other) == key) is same


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"base_image": "nvflare-fdd:latest", "gpus": "auto", "network": "host", "user": "", "extra_run_args": [],
              "build_network": "host"}),
        ({"gpus": ""}, {"gpus": ""}),
        ({"gpus": 2}, {"gpus": "2"}),
        ({"gpus": 0}, {"gpus": ""}),
        ({"build_timeout": 60}, {"build_timeout": 60.0}),
        ({"extra_run_args": ["--shm-size", "8g"]}, {"extra_run_args": ["--shm-size", "8g"]}),
        ({"extra_build_args": ["--network", "host"]}, {"extra_build_args": ["--network", "host"]}),
    ],
)
def test_valid_options_are_kept(options, expected):
    backend = DockerBackend(**options)

    assert {name: getattr(backend, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"base_image": ""}, "environment.base_image"),
        ({"base_image": "nvflare-fdd:latest\nRUN rm -rf /"}, "environment.base_image"),
        ({"base_image": "--privileged"}, "environment.base_image"),
        ({"gpus": True}, "environment.gpus"),
        ({"gpus": ["all"]}, "environment.gpus"),
        ({"network": ""}, "environment.network"),
        ({"build_network": ""}, "environment.build_network"),
        ({"docker": None}, "environment.docker"),
        ({"build_timeout": 0}, "environment.build_timeout"),
        ({"build_timeout": "1h"}, "environment.build_timeout"),
        ({"extra_run_args": "--shm-size 8g"}, "environment.extra_run_args"),
        ({"extra_build_args": [1]}, "environment.extra_build_args"),
    ],
)
def test_invalid_options_are_refused_by_name(options, named):
    with pytest.raises(JobEnvironmentError, match=named):
        DockerBackend(**options)


def test_the_registered_factory_names_unknown_options_and_the_known_ones():
    with pytest.raises(JobEnvironmentError) as caught:
        docker_backend(base_image="nvflare-fdd:latest", gpu="all")

    assert "'gpu'" in str(caught.value)
    assert "known: base_image, docker, gpus" in str(caught.value)


def test_the_registered_factory_passes_known_options_on():
    backend = docker_backend(base_image="site/fdd:3", gpus="", network="bridge")

    assert (backend.base_image, backend.gpus, backend.network) == ("site/fdd:3", "", "bridge")


def test_the_constructor_takes_keyword_options_only():
    with pytest.raises(TypeError):
        DockerBackend("nvflare-fdd:latest")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("#7 [3/3] RUN cd /tmp/fdd-build && uv pip install -r requirements.txt --system --index-strategy unsafe-best-match", False),
        ("#5 [1/3] FROM docker.io/library/nvflare-fdd:latest", False),
        ("#6 [2/3] COPY requirements.txt /tmp/fdd-build/requirements.txt", False),
        ("Step 3/3 : RUN cd /tmp/fdd-build && uv pip install -r requirements.txt --system", False),
        ("#7 0.41   Because rdkit-nope was not found in the package registry", True),
    ],
)
def test_installer_output_drops_the_lines_that_echo_the_dockerfile(line, kept):
    assert (installer_output(line, "nvflare-fdd:latest") == line) is kept
