"""``DockerEnvironment``: the supervised ``docker run`` line for a sandbox, and the clean-up after the worker.

The command lines are checked as lists and the clean-up against a fake client; the
real engine runs them in ``test_docker_engine.py``.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from fdd_docker import DockerBackend, DockerEnvironment
from fdd_docker.environment import USER_CODE_UID
from nvflare_fdd.envs import Environment, JobEnvironmentError, Sandbox

MODULE = "nvflare_fdd.client.worker"
ARGS = ["--address", "/tmp/fdd-x1/worker.sock", "--bundle", "/srv/jobs/j1/custom", "--site", "site-1", "--device", ""]
SANDBOX = Sandbox(
    env={"FDD_WORKER_AUTHKEY": "00ff", "HOME": "/tmp/fdd-x1/home", "PATH": "/usr/bin", "OMP_NUM_THREADS": "1"},
    read_only=("/srv/jobs/j1/custom", "/srv/models"),
    writable=("/tmp/fdd-x1",),
)
OPEN = Sandbox(env=SANDBOX.env, read_only=SANDBOX.read_only, writable=SANDBOX.writable, enabled=False)


def make_environment(docker: str = "docker", **options) -> DockerEnvironment:
    return DockerBackend(docker=docker, **{"gpus": "", **options})._environment("fdd-env:0123456789abcdef0123", "test")


def option_values(command: list[str], option: str) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command) if part == option]


def docker_run(command: list[str]) -> list[str]:
    """The ``docker run`` line the supervisor runs (after its ``--``)."""
    return command[command.index("--") + 1 :]


@pytest.fixture(autouse=True)
def docker_on_path(fake_docker, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_docker.folder}{os.pathsep}{os.environ['PATH']}")


def test_the_command_runs_the_module_under_the_supervisor_in_a_named_throwaway_container(fake_docker):
    environment = make_environment()

    command = environment.command(MODULE, ARGS, SANDBOX)

    assert isinstance(environment, Environment)
    assert command[:4] == [sys.executable, "-I", "-m", "fdd_docker.supervise"]  # -I: the sandbox's PYTHONPATH is ignored
    run = docker_run(command)
    assert run[:4] == [str(fake_docker.path), "run", "--rm", "--init"]
    [name] = option_values(run, "--name")
    assert re.fullmatch(r"fdd-worker-[0-9a-f]{12}", name)
    assert option_values(command[: command.index("--")], "--name") == [name]
    assert run[-len(ARGS) - 4 :] == ["fdd-env:0123456789abcdef0123", "python", "-m", MODULE, *ARGS]
    assert environment.containers == [name]


def test_the_sandbox_takes_the_network_the_root_file_system_and_the_capabilities_away():
    run = docker_run(make_environment().command(MODULE, ARGS, SANDBOX))

    assert option_values(run, "--network") == ["none"]
    assert "--read-only" in run
    assert option_values(run, "--tmpfs") == ["/tmp:rw,nosuid,nodev,mode=1777"]
    assert option_values(run, "--cap-drop") == ["ALL"]
    assert option_values(run, "--security-opt") == ["no-new-privileges"]
    expected_user = f"{USER_CODE_UID}:{USER_CODE_UID}" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"
    assert option_values(run, "--user") == [expected_user]


def test_folders_are_mounted_at_their_own_paths_read_only_or_writable():
    run = docker_run(make_environment().command(MODULE, ARGS, SANDBOX))

    assert option_values(run, "-v") == ["/srv/jobs/j1/custom:/srv/jobs/j1/custom:ro", "/srv/models:/srv/models:ro",
                                        "/tmp/fdd-x1:/tmp/fdd-x1"]  # fmt: skip


def test_variables_are_passed_by_name_and_their_values_only_through_the_process_environment(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/site-docker.sock")
    monkeypatch.setenv("SITE_SECRET", "kda-password")
    environment = make_environment()

    command = environment.command(MODULE, ARGS, SANDBOX)
    env = environment.process_env(SANDBOX)

    names = option_values(docker_run(command), "-e")
    assert names == ["FDD_WORKER_AUTHKEY", "HOME", "OMP_NUM_THREADS", "PYTHONDONTWRITEBYTECODE"]  # PATH: the image's
    assert not any("00ff" in part for part in command)
    assert {name: env[name] for name in names} == {**{n: SANDBOX.env[n] for n in names[:3]}, "PYTHONDONTWRITEBYTECODE": "1"}
    assert env["DOCKER_HOST"] == "unix:///run/site-docker.sock"  # the client's own settings, not the container's
    assert env["PATH"] == os.environ["PATH"] and "DOCKER_CONFIG" in env
    assert "SITE_SECRET" not in env


def test_without_the_sandbox_the_container_keeps_the_older_looser_settings():
    run = docker_run(make_environment(network="host", user="1000:1000").command(MODULE, ARGS, OPEN))

    assert option_values(run, "--network") == ["host"]
    assert option_values(run, "--user") == ["1000:1000"]
    assert "--read-only" not in run and "--cap-drop" not in run


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"--gpus": []}),
        ({"gpus": "all"}, {"--gpus": ["all"]}),
        ({"gpus": "device=0,1", "user": "1000:1000"}, {"--gpus": ["device=0,1"], "--user": ["1000:1000"]}),
    ],
)
def test_gpus_and_user_follow_the_options(options, expected):
    run = docker_run(make_environment(**options).command(MODULE, ARGS, SANDBOX))

    assert {option: option_values(run, option) for option in expected} == expected


def test_gpus_auto_passes_gpus_only_where_the_host_has_them(monkeypatch):
    import fdd_docker.backend

    monkeypatch.setattr(fdd_docker.backend, "host_gpus", lambda: "")
    assert make_environment(gpus="auto").gpus == ""
    monkeypatch.setattr(fdd_docker.backend, "host_gpus", lambda: "all")
    assert make_environment(gpus="auto").gpus == "all"


def test_extra_run_args_and_python_go_right_before_the_module():
    run = docker_run(make_environment(extra_run_args=["--shm-size", "8g"], python="python3").command(MODULE, ARGS, SANDBOX))

    start = run.index("--shm-size")
    assert run[start : start + 6] == ["--shm-size", "8g", "fdd-env:0123456789abcdef0123", "python3", "-m", MODULE]


def test_each_command_names_a_new_container():
    environment = make_environment()

    names = [option_values(environment.command(MODULE, ARGS, SANDBOX), "--name")[0] for _ in range(3)]

    assert len(set(names)) == 3
    assert environment.containers == names


@pytest.mark.parametrize(
    ("sandbox", "options", "message"),
    [
        (Sandbox(env={}, read_only=("relative/folder",)), {}, "must be absolute"),
        (Sandbox(env={}, writable=("/data/run:1",)), {}, "cannot hold ':'"),
        (Sandbox(env={"FDD_KDA_URL=sqlite:////x": "1"}), {}, "not a variable name"),
        (SANDBOX, {"user": "0"}, "not root"),
        (SANDBOX, {"user": "root:root"}, "not root"),
    ],
)
def test_unusable_folders_names_and_users_are_refused(sandbox, options, message):
    with pytest.raises(JobEnvironmentError, match=message):
        make_environment(**options).command(MODULE, ARGS, sandbox)


def test_stop_removes_each_container_by_name(fake_docker):
    environment = make_environment(docker=str(fake_docker.path))
    names = [option_values(environment.command(MODULE, ARGS, SANDBOX), "--name")[0] for _ in range(2)]

    environment.stop()  # the fake says "No such container": stop stays quiet
    environment.stop()  # nothing left to stop

    assert [call["argv"] for call in fake_docker.calls()] == [["rm", "--force", name] for name in names]
    assert environment.containers == []


def test_stop_is_quiet_without_a_docker_client(fake_docker, tmp_path):
    environment = make_environment(docker=str(fake_docker.path))
    environment.command(MODULE, ARGS, SANDBOX)
    environment.docker = str(tmp_path / "no-docker-here")

    environment.stop()

    assert environment.containers == []


def test_a_missing_client_is_named_when_the_command_is_formed(tmp_path):
    with pytest.raises(JobEnvironmentError, match="docker client .* was not found"):
        make_environment(docker=str(tmp_path / "no-docker-here")).command(MODULE, ARGS, SANDBOX)
