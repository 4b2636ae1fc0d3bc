"""``DockerBackend.prepare`` against a fake docker client (see ``conftest.py``).

What is tested: the image recipe, the ``docker`` command lines, caching by key and
the failure reports. The real engine's part is in ``test_docker_engine.py``.
"""

from __future__ import annotations

import threading

import pytest
from fdd_docker_fakes import BAD_PACKAGE, BASE_IMAGE

from fdd_docker import DockerBackend, DockerEnvironment, dockerfile, image_key
from fdd_docker.backend import LABEL_BASE, LABEL_KEY, LABEL_REQUIREMENTS
from nvflare_fdd.envs import JobEnvironmentError

REQUIREMENTS = "--extra-index-url https://download.example.org/simple\nrdkit>=2023.9\ndatamol  # chemistry\n"


def env_images(fake_docker) -> list[str]:
    return sorted(name for name in fake_docker.state()["images"] if name.startswith("fdd-env:"))


def test_first_prepare_builds_the_image_with_the_recipe_and_labels(fake_docker):
    backend = DockerBackend(docker=str(fake_docker.path))
    key = image_key(BASE_IMAGE, fake_docker.state()["images"][BASE_IMAGE], REQUIREMENTS)

    environment = backend.prepare(REQUIREMENTS)

    [build] = fake_docker.builds()
    labels = ["--label", f"{LABEL_KEY}={key}", "--label", f"{LABEL_BASE}={BASE_IMAGE}",
              "--label", f"{LABEL_REQUIREMENTS}=rdkit>=2023.9, datamol"]  # fmt: skip
    assert build["argv"][:10] == ["build", "--tag", f"fdd-env:{key}", "--force-rm", *labels]
    assert build["argv"][10:12] == ["--network", "host"]  # the installer reaches what the site reaches
    assert len(build["argv"]) == 13  # then the build context, only
    assert build["dockerfile"] == dockerfile(BASE_IMAGE)
    assert build["requirements"] == REQUIREMENTS
    assert isinstance(environment, DockerEnvironment)
    assert environment.image == f"fdd-env:{key}"
    assert env_images(fake_docker) == [f"fdd-env:{key}"]


def test_second_prepare_reuses_the_image(fake_docker):
    DockerBackend(docker=str(fake_docker.path)).prepare(REQUIREMENTS)
    lines: list[str] = []

    environment = DockerBackend(docker=str(fake_docker.path)).prepare(REQUIREMENTS, log=lines.append)

    assert len(fake_docker.builds()) == 1
    assert environment.image == env_images(fake_docker)[0]
    assert any("reusing image" in line for line in lines)


def test_other_requirements_get_another_image(fake_docker):
    backend = DockerBackend(docker=str(fake_docker.path))

    first = backend.prepare(REQUIREMENTS)
    second = backend.prepare(REQUIREMENTS + "pyyaml\n")

    assert first.image != second.image
    assert len(fake_docker.builds()) == 2


def test_a_rebuilt_base_image_gets_new_job_images(fake_docker):
    backend = DockerBackend(docker=str(fake_docker.path))
    first = backend.prepare(REQUIREMENTS)
    fake_docker.set_state(images={**fake_docker.state()["images"], BASE_IMAGE: "sha256:" + "c" * 64})

    second = backend.prepare(REQUIREMENTS)

    assert first.image != second.image
    assert len(fake_docker.builds()) == 2


def test_a_failed_build_names_the_bad_requirement_and_leaves_no_image(fake_docker):
    requirements = f"pip>=23\n{BAD_PACKAGE}==1.0\nrdkit\n"
    backend = DockerBackend(docker=str(fake_docker.path))

    with pytest.raises(JobEnvironmentError) as caught:
        backend.prepare(requirements)

    error = caught.value
    assert error.requirements == [f"{BAD_PACKAGE}==1.0"]  # not pip, which the echoed uv command names
    assert f"({BAD_PACKAGE}==1.0)" in str(error)
    assert "No solution found" in str(error)
    assert env_images(fake_docker) == []
    with pytest.raises(JobEnvironmentError):
        backend.prepare(requirements)  # a failure is not cached: the next job tries again
    assert len(fake_docker.builds()) == 2


@pytest.mark.parametrize("requirements", ["", "\n# nothing to install\n", "--extra-index-url https://example.org/simple\n"])
def test_no_installable_requirements_run_on_the_base_image(fake_docker, requirements):
    environment = DockerBackend(docker=str(fake_docker.path)).prepare(requirements)

    assert environment.image == BASE_IMAGE
    assert fake_docker.builds() == []


def test_a_missing_base_image_is_reported_before_any_build(fake_docker):
    backend = DockerBackend(docker=str(fake_docker.path), base_image="site/nvflare-fdd:9")

    with pytest.raises(JobEnvironmentError, match="the base image 'site/nvflare-fdd:9' is not on this host"):
        backend.prepare(REQUIREMENTS)

    assert fake_docker.builds() == []


def test_a_stopped_daemon_is_reported_as_such(fake_docker):
    fake_docker.set_state(down=True)

    with pytest.raises(JobEnvironmentError, match="Is the docker daemon running"):
        DockerBackend(docker=str(fake_docker.path)).prepare(REQUIREMENTS)


def test_a_missing_docker_client_is_reported(tmp_path):
    backend = DockerBackend(docker=str(tmp_path / "no-docker-here"))

    with pytest.raises(JobEnvironmentError, match="docker client .* was not found"):
        backend.prepare(REQUIREMENTS)


def test_a_build_past_its_timeout_fails(fake_docker):
    fake_docker.set_state(build_delay=5)
    backend = DockerBackend(docker=str(fake_docker.path), build_timeout=0.5)

    with pytest.raises(JobEnvironmentError, match="took more than"):
        backend.prepare(REQUIREMENTS)

    assert env_images(fake_docker) == []


def test_extra_build_args_and_the_build_network_come_before_the_context(fake_docker):
    backend = DockerBackend(docker=str(fake_docker.path), build_network="default", extra_build_args=["--build-arg", "X=1"])

    backend.prepare(REQUIREMENTS)

    [build] = fake_docker.builds()
    assert "--network" not in build["argv"]  # "default": docker's own choice
    assert build["argv"][10:12] == ["--build-arg", "X=1"]
    assert len(build["argv"]) == 13


def test_the_build_output_streams_to_the_log(fake_docker):
    lines: list[str] = []

    DockerBackend(docker=str(fake_docker.path)).prepare(REQUIREMENTS, log=lines.append)

    assert any("naming to docker.io/library/fdd-env:" in line for line in lines)
    assert lines[-1].startswith("built image fdd-env:")


def test_jobs_preparing_the_same_image_at_once_build_it_once(fake_docker):
    fake_docker.set_state(build_delay=0.5)
    images: list[str] = []
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            images.append(DockerBackend(docker=str(fake_docker.path)).prepare(REQUIREMENTS).image)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(fake_docker.builds()) == 1
    assert len(images) == 2 and images[0] == images[1]
