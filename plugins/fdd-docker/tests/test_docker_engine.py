"""The backend against the real Docker engine: the base image, job images, the sandbox and the clean-up.

Skipped without an engine (failing instead under ``$FDD_REQUIRE_DOCKER``). The base
image is built once per session (``conftest.base_image``). User code here is a small
probe module, mounted read-only and started through ``DockerEnvironment.command()``
exactly as the executor starts the worker; it reports what it can see and do over the
exchange folder's Unix socket.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing.connection import Listener
from pathlib import Path

import pytest

from fdd_docker import DockerBackend
from fdd_docker.backend import LABEL_KEY
from fdd_docker.base_image import LABEL_INPUTS, BaseImageSpec, build_base_image
from fdd_docker.client import DockerClient
from fdd_docker.environment import USER_CODE_UID
from nvflare_fdd import __version__
from nvflare_fdd.envs import JobEnvironmentError, Sandbox

AUTHKEY = b"fdd-test-authkey"
BAD_REQUIREMENT = "fdd-no-such-package-anywhere==1.0"

PROBE = '''
import json, os, socket, sys, time
from multiprocessing.connection import Client

mode, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "die":
    os.kill(os.getpid(), 9)
connection = Client(address, family="AF_UNIX", authkey=bytes.fromhex(os.environ["PROBE_AUTHKEY"]))
if mode == "sleep":
    connection.send({"pid": os.getpid()})
    time.sleep(300)


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__ + ": " + str(exc)


def tcp_to_host():
    with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
        conn.recv(16)


def udp_route():  # connect() on UDP only looks the route up: nothing is sent
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1, never routed


def write(path):
    def action():
        with open(path, "w") as handle:
            handle.write("x")
    return action


status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
here = os.path.dirname(os.path.abspath(__file__))
connection.send({
    "uid": os.getuid(), "env": dict(os.environ), "cap_eff": status["CapEff"].strip(),
    "no_new_privs": status.get("NoNewPrivs", "").strip(),
    "interfaces": [name for _, name in socket.if_nameindex()],
    "routes": open("/proc/net/route").read().splitlines()[1:],
    "tcp_to_host": attempt(tcp_to_host), "udp_route": attempt(udp_route),
    "write_root": attempt(write("/usr/probe")), "write_bundle": attempt(write(os.path.join(here, "probe.out"))),
    "write_tmp": attempt(write("/tmp/probe")), "write_home": attempt(write(os.path.join(os.environ["HOME"], "probe"))),
})
'''


class Probe:
    """The probe as a job's user code: its bundle folder, its exchange folder with the socket, its sandbox."""

    def __init__(self, root: Path):
        self.bundle = root / "bundle"
        self.bundle.mkdir(parents=True)
        (self.bundle / "fdd_probe.py").write_text(textwrap.dedent(PROBE))
        self.exchange = root / "exchange"
        (self.exchange / "home").mkdir(parents=True)
        self.exchange.chmod(0o700)  # as WorkerProcess makes it (mkdtemp)
        self.address = str(self.exchange / "worker.sock")
        self.listener = Listener(self.address, family="AF_UNIX", authkey=AUTHKEY)
        self.sandbox = Sandbox(
            env={"PROBE_AUTHKEY": AUTHKEY.hex(), "PYTHONPATH": str(self.bundle), "HOME": str(self.exchange / "home"),
                 "TMPDIR": "/tmp", "PATH": "/usr/bin:/bin"},
            read_only=(str(self.bundle),), writable=(str(self.exchange),),
        )  # fmt: skip

    def start(self, environment, mode: str, port: int = 9) -> subprocess.Popen:
        command = environment.command("fdd_probe", [mode, self.address, str(port)], self.sandbox)
        return subprocess.Popen(command, env=environment.process_env(self.sandbox), stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip

    def accept(self, timeout: float = 60) -> object:
        """The probe's first message (once it connected)."""
        accepted: dict = {}
        thread = threading.Thread(target=lambda: accepted.update(conn=self.listener.accept()), daemon=True)
        thread.start()
        thread.join(timeout)
        assert "conn" in accepted, "the probe did not connect"
        self.connection = accepted["conn"]
        assert self.connection.poll(timeout), "the probe sent nothing"
        return self.connection.recv()


def containers(name: str) -> list[str]:
    done = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", f"name=^{name}$"], capture_output=True, text=True)
    return done.stdout.split()


def dangling_images() -> set[str]:
    done = subprocess.run(["docker", "image", "ls", "--quiet", "--filter", "dangling=true"], capture_output=True, text=True)
    return set(done.stdout.split())


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def backend(base_image, engine_cache) -> DockerBackend:
    return DockerBackend(base_image=base_image.tag, gpus="")


@pytest.fixture
def probe(tmp_path: Path) -> Probe:
    return Probe(tmp_path)


# -- the base image ---------------------------------------------------------------------------


def test_the_base_image_holds_this_nvflare_fdd_torch_and_uv_and_owns_its_python(base_image, docker_engine):
    labels = base_image.labels
    assert labels["org.nvflare-fdd.base.version"] == __version__
    assert labels["org.nvflare-fdd.base.torch"].endswith("+cpu")  # never a multi-GB CUDA build in tests
    assert labels["org.nvflare-fdd.base.python"].startswith("3.11.")
    assert any(tag.startswith("nvflare-fdd-test:") and "-torch" in tag and tag.endswith("-cpu") for tag in base_image.tags)
    check = ("import os, sysconfig, pwd, nvflare_fdd; "
             "print(os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')), "
             f"pwd.getpwuid({USER_CODE_UID}).pw_name, nvflare_fdd.__version__)")  # fmt: skip
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", base_image.tag, "python", "-c", check],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.stdout.split() == ["False", "fdd", __version__], done.stderr


def test_building_the_base_image_again_with_the_same_inputs_keeps_it(base_image, docker_engine):
    started = time.monotonic()
    again = build_base_image(BaseImageSpec(tag=base_image.tag), DockerClient(docker_engine), log=lambda line: None)

    assert again.reused and again.image_id == base_image.image_id
    assert again.labels[LABEL_INPUTS] == base_image.labels[LABEL_INPUTS]
    assert time.monotonic() - started < 60


# -- job images -------------------------------------------------------------------------------


def test_a_job_image_adds_what_the_base_lacks_and_a_second_job_builds_nothing(backend, docker_engine):
    requirements = "tabulate==0.9.0\n"
    lines: list[str] = []
    first = backend.prepare(requirements, log=lines.append)
    assert first.image.startswith("fdd-env:") and first.description.startswith("new image")
    assert any("uv pip install -r requirements.txt --system --index-strategy unsafe-best-match" in line for line in lines)
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", first.image, "python", "-c",
                           "import tabulate; print(tabulate.__version__)"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "0.9.0", done.stderr

    started = time.monotonic()
    second = backend.prepare(requirements, log=lines.append)

    assert second.image == first.image and second.description.startswith("cached image")
    assert lines[-1] == f"reusing image {first.image}"
    assert time.monotonic() - started < 5
    subprocess.run(["docker", "image", "rm", first.image], capture_output=True, timeout=120)  # the next session builds it anew


def test_an_uninstallable_requirement_fails_naming_it_and_leaves_no_image(backend, docker_engine):
    requirements = f"tabulate==0.9.0\n{BAD_REQUIREMENT}\n"
    before = set(DockerClient().image_ids(LABEL_KEY))
    dangling_before = dangling_images()

    with pytest.raises(JobEnvironmentError) as caught:
        backend.prepare(requirements)

    assert caught.value.requirements == [BAD_REQUIREMENT]
    assert f"({BAD_REQUIREMENT})" in str(caught.value).splitlines()[0]
    assert "not found in the package registry" in str(caught.value)
    assert set(DockerClient().image_ids(LABEL_KEY)) == before
    assert dangling_images() <= dangling_before  # nor the step images the legacy builder keeps
    stopped = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", "status=exited"], capture_output=True, text=True)
    assert stopped.stdout.split() == []  # --force-rm: the failed step's container is gone too


# -- the sandbox ------------------------------------------------------------------------------


def test_user_code_in_the_container_reaches_no_address_and_writes_only_its_exchange_folder(backend, probe, docker_engine):
    with socket.socket() as server:  # a service on the host's loopback: the container must not reach it
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(10)
        port = server.getsockname()[1]
        environment = backend.prepare("")
        process = probe.start(environment, "report", port)
        report = probe.accept()
        assert process.wait(60) == 0
        with socket.create_connection(("127.0.0.1", port), timeout=3):  # the host itself reaches it
            server.accept()[0].close()

    assert report["interfaces"] == ["lo"] and report["routes"] == []
    assert report["tcp_to_host"].startswith("ConnectionRefusedError")  # the container's own, empty loopback
    assert "Network is unreachable" in report["udp_route"]
    assert report["uid"] != 0 and report["uid"] == (USER_CODE_UID if os.geteuid() == 0 else os.getuid())
    assert report["cap_eff"] == "0000000000000000" and report["no_new_privs"] == "1"
    assert "Read-only file system" in report["write_root"]
    assert "Read-only file system" in report["write_bundle"] or "Permission denied" in report["write_bundle"]
    assert report["write_tmp"] == "ok" and report["write_home"] == "ok"
    assert set(probe.sandbox.env) - {"PATH"} <= set(report["env"])
    assert not set(report["env"]) & {"DOCKER_HOST", "DOCKER_CONFIG", "FDD_ENV_CACHE", "VIRTUAL_ENV"}


# -- clean-up ---------------------------------------------------------------------------------


def test_stopping_the_worker_removes_its_container(backend, probe, docker_engine):
    environment = backend.prepare("")
    process = probe.start(environment, "sleep")
    probe.accept()
    [name] = environment.containers
    assert containers(name)

    os.killpg(process.pid, signal.SIGTERM)  # what WorkerProcess.kill() does first
    process.wait(30)

    assert wait_until(lambda: not containers(name), 10), "the supervisor left the container running"
    environment.stop()  # and then this: quiet, nothing left
    assert environment.containers == []


def test_a_killed_executor_leaves_no_container_behind(backend, probe, docker_engine, tmp_path):
    environment = backend.prepare("")
    command = environment.command("fdd_probe", ["sleep", probe.address, "9"], probe.sandbox)
    [name] = environment.containers
    executor = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import json, subprocess, sys, time
        spec = json.loads(sys.stdin.readline())
        subprocess.Popen(spec["command"], env=spec["env"], stdin=subprocess.DEVNULL, start_new_session=True)
        time.sleep(600)
    """)], stdin=subprocess.PIPE, text=True)  # fmt: skip
    executor.stdin.write(json.dumps({"command": command, "env": environment.process_env(probe.sandbox)}) + "\n")
    executor.stdin.flush()
    probe.accept()
    assert containers(name)

    executor.kill()  # SIGKILL: the executor cleans up nothing
    executor.wait(10)

    assert wait_until(lambda: not containers(name), 15), "a container outlived the executor that started it"


def test_a_worker_killed_in_the_container_ends_the_supervisor_by_the_same_signal(backend, probe, docker_engine):
    environment = backend.prepare("")
    process = probe.start(environment, "die")

    assert process.wait(60) == -signal.SIGKILL  # WorkerProcess then reports "killed by SIGKILL", as for a local worker
