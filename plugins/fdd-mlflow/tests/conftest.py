"""Fixtures of the fdd-mlflow tests: a real MLflow tracking server for the session, and ``platform.yaml`` files.

The server is ``mlflow server`` with a SQLite backend store, serving artifacts from a temporary
folder (clients upload and download them through the server, as in a deployment), on a free
port of 127.0.0.1. It is started once, waited for until ``/health`` answers, and stopped with
its process group at the end of the session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fdd_mlflow.settings import HTTP_DEFAULTS

START_TIMEOUT = 180  # seconds; about 15 s on an idle 2-core machine


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running MLflow tracking server: its URI, ``http://127.0.0.1:<port>``."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    # The server's job runner (GenAI evaluation jobs, seven worker processes) is not needed here.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited with {process.returncode} before it was ready:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer on {uri}/health within {START_TIMEOUT} s:\n{_tail(log_path)}")
            time.sleep(0.5)
        yield uri
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """End the server and the workers it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def mlflow_client(mlflow_server: str):
    """MLflow's own client on the test server, to read back what the plugin logged."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(mlflow_server)


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    """An experiment name of this test's own, so tests never see each other's runs."""
    return f"{request.node.name[:60]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def platform_yaml(tmp_path: Path, experiment: str) -> Callable[..., Path]:
    """``platform_yaml(tracking_uri, **mlflow_keys)``: a ``platform.yaml`` with a fresh SQLite storage and an ``mlflow`` section."""

    def write(tracking_uri: str | None, **keys: object) -> Path:
        path = tmp_path / "platform.yaml"
        lines = [f"storage_url: sqlite:///{tmp_path / 'platform.db'}", f"home: {tmp_path / 'home'}"]
        if tracking_uri is not None:
            lines += ["mlflow:", f"  tracking_uri: {tracking_uri}", f"  experiment: {experiment}"]
            lines += [f"  {key}: {value}" for key, value in keys.items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


@pytest.fixture
def unreachable_uri() -> str:
    """A tracking URI where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(autouse=True)
def mlflow_client_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without MLflow's HTTP variables (the plugin sets its defaults) and leaves none behind."""
    for name in HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    yield
    for name in HTTP_DEFAULTS:
        os.environ.pop(name, None)  # before monkeypatch restores whatever was set before the test
