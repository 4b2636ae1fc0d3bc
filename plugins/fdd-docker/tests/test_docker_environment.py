"""``DockerEnvironment``: the ``docker run`` line and the clean-up after the worker is killed.

The command lines are checked as lists and the clean-up against a fake client;
no container is started (no Docker engine runs where these tests do).
"""

from __future__ import annotations

import re

import pytest
from nvflare_fdd.envs import Environment, JobEnvironmentError

from fdd_docker import DockerBackend, DockerEnvironment

MODULE = "nvflare_fdd.client.worker"
ARGS = ["--address", "/tmp/fdd-x1/worker.sock", "--bundle", "/srv/jobs/j1/custom", "--site", "site-1", "--device", ""]
SHARED = ["/srv/jobs/j1/custom", "/tmp/fdd-x1", "/data/kda"]
ENV_NAMES = ["FDD_WORKER_AUTHKEY", "FDD_KDA_URL"]


def make_environment(docker: str = "docker", **options) -> DockerEnvironment:
    return DockerBackend(docker=docker, **options)._environment("fdd-env:0123456789abcdef0123", "test")


def option_values(command: list[str], option: str) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command) if part == option]


def test_the_command_runs_the_module_in_a_named_throwaway_container():
    environment = make_environment()

    command = environment.command(MODULE, ARGS, SHARED, ENV_NAMES)

    assert isinstance(environment, Environment)
    assert command[:5] == ["docker", "run", "--rm", "-i", "--init"]
    [name] = option_values(command, "--name")
    assert re.fullmatch(r"fdd-worker-[0-9a-f]{12}", name)
    assert command[-len(ARGS) - 4 :] == ["fdd-env:0123456789abcdef0123", "python", "-m", MODULE, *ARGS]
    assert environment.containers == [name]


def test_shared_folders_are_mounted_at_their_own_paths():
    command = make_environment().command(MODULE, ARGS, [*SHARED, SHARED[0]], ENV_NAMES)

    assert option_values(command, "-v") == [f"{folder}:{folder}" for folder in SHARED]


def test_variables_are_passed_by_name_so_values_stay_off_the_command_line():
    environment = make_environment()
    environment.env["CUDA_VISIBLE_DEVICES"] = "1"

    command = environment.command(MODULE, ARGS, SHARED, ENV_NAMES)

    assert option_values(command, "-e") == [*ENV_NAMES, "CUDA_VISIBLE_DEVICES", "PYTHONDONTWRITEBYTECODE=1"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"--gpus": ["all"], "--network": ["host"], "--user": []}),
        ({"gpus": ""}, {"--gpus": [], "--network": ["host"], "--user": []}),
        (
            {"gpus": "device=0,1", "network": "fdd-net", "user": "1000:1000"},
            {"--gpus": ["device=0,1"], "--network": ["fdd-net"], "--user": ["1000:1000"]},
        ),
    ],
)
def test_gpus_network_and_user_follow_the_options(options, expected):
    command = make_environment(**options).command(MODULE, ARGS, SHARED, ENV_NAMES)

    assert {option: option_values(command, option) for option in expected} == expected


def test_extra_run_args_and_python_go_right_before_the_module():
    environment = make_environment(extra_run_args=["--shm-size", "8g"], python="python3")

    command = environment.command(MODULE, ARGS, SHARED, ENV_NAMES)

    start = command.index("--shm-size")
    assert command[start : start + 6] == ["--shm-size", "8g", "fdd-env:0123456789abcdef0123", "python3", "-m", MODULE]


def test_each_command_names_a_new_container():
    environment = make_environment()

    names = [option_values(environment.command(MODULE, ARGS, SHARED, ENV_NAMES), "--name")[0] for _ in range(3)]

    assert len(set(names)) == 3
    assert environment.containers == names


@pytest.mark.parametrize(
    ("shared", "names", "message"),
    [
        (["relative/folder"], [], "must be absolute"),
        (["/data/run:1"], [], "cannot hold ':'"),
        ([], ["FDD_KDA_URL=sqlite:////x"], "not a variable name"),
    ],
)
def test_unusable_folders_and_names_are_refused(shared, names, message):
    with pytest.raises(JobEnvironmentError, match=message):
        make_environment().command(MODULE, ARGS, shared, names)


def test_stop_kills_and_removes_each_container_by_name(fake_docker):
    environment = make_environment(docker=str(fake_docker.path))
    names = [option_values(environment.command(MODULE, ARGS, SHARED, ENV_NAMES), "--name")[0] for _ in range(2)]

    environment.stop()  # the fake says "No such container": stop stays quiet
    environment.stop()  # nothing left to stop

    expected = [argv for name in names for argv in (["kill", name], ["rm", "--force", name])]
    assert [call["argv"] for call in fake_docker.calls()] == expected
    assert environment.containers == []


def test_stop_is_quiet_without_a_docker_client(tmp_path):
    environment = make_environment(docker=str(tmp_path / "no-docker-here"))
    environment.command(MODULE, ARGS, SHARED, ENV_NAMES)

    environment.stop()

    assert environment.containers == []
