"""The executor's side of the user-code process (see ``nvflare_fdd.client.worker``).

``WorkerProcess`` starts the worker in the job's environment, in its own process
group, and drives it over a Unix socket. Whatever ends the worker (an exception,
``sys.exit``, a segfault, the out-of-memory killer, an operator's ``kill``)
surfaces as a ``RoundError`` with the phase that was running, the exit status
and the tail of the worker's output; stopping kills the whole process tree.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

from nvflare_fdd.client.phases import Phase, RoundError
from nvflare_fdd.client.worker import AUTHKEY_ENV, KDA_URL_ENV
from nvflare_fdd.envs import Environment

WORKER_MODULE = "nvflare_fdd.client.worker"
LOG_TAIL_CHARS = 3000
CONNECT_TIMEOUT = 300.0


class WorkerProcess:
    """One site's user-code process for one job.

    Args:
        environment: where to run it (from an environment backend).
        bundle_dir: the job's bundle folder.
        site: the site name (for errors).
        kda_url: the site's KDA, handed to the worker in its environment.
        device: ``cpu``/``cuda:N`` or ``""`` for the default.
        log_path: the worker's stdout and stderr go here.
        on_phase: receives the worker's phase events as they happen.
        should_stop: polled while waiting; returning True kills the worker (the job was aborted).
    """

    def __init__(
        self,
        environment: Environment,
        bundle_dir: str | Path,
        site: str,
        kda_url: str,
        device: str = "",
        log_path: str | Path | None = None,
        on_phase: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ):
        self.environment = environment
        self.bundle_dir = str(Path(bundle_dir).resolve())
        self.site = site
        self.kda_url = kda_url
        self.device = device
        self.exchange = Path(tempfile.mkdtemp(prefix="fdd-"))  # short path: Unix socket names are limited
        self.log_path = Path(log_path) if log_path else self.exchange / "worker.log"
        self.on_phase = on_phase
        self.should_stop = should_stop
        self.process: subprocess.Popen | None = None
        self._connection = None
        self._phase: tuple[int, int | None] | None = None  # (code, round) of the phase running now

    # -- life cycle -------------------------------------------------------------------------

    def start(self, shared_dirs: list[str] = ()) -> None:
        """Start the worker and wait for it to connect.

        Raises:
            RoundError: it exited or did not connect (code 1000: nothing of the bundle ran yet).
        """
        authkey = secrets.token_bytes(32)
        address = str(self.exchange / "worker.sock")
        listener = Listener(address, family="AF_UNIX", authkey=authkey)
        accepted: dict[str, Any] = {}

        def accept() -> None:
            try:
                accepted["connection"] = listener.accept()
            except Exception as exc:  # authentication failure, listener closed
                accepted["error"] = exc

        env = dict(os.environ, **self.environment.env, **{AUTHKEY_ENV: authkey.hex(), KDA_URL_ENV: self.kda_url})
        command = self.environment.command(
            WORKER_MODULE,
            ["--address", address, "--bundle", self.bundle_dir, "--site", self.site, "--device", self.device],
            shared_dirs=[self.bundle_dir, str(self.exchange), *shared_dirs],
            env_names=[AUTHKEY_ENV, KDA_URL_ENV],
        )
        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while thread.is_alive():
            thread.join(0.1)
            if self.process.poll() is not None or time.monotonic() > deadline or self.should_stop():
                listener.close()
                self.kill()
                raise self._died(Phase.CONFIG, None, "the user-code process did not start")
        listener.close()
        if "connection" not in accepted:
            self.kill()
            raise self._died(Phase.CONFIG, None, f"the user-code process could not connect: {accepted.get('error')}")
        self._connection = accepted["connection"]

    def setup(self) -> dict:
        """Config, data download, ``data_loader``, ``model_loader`` in the worker."""
        return self._call({"cmd": "setup"}, Phase.CONFIG, None)

    def run_round(self, round_num: int, params_path: str) -> dict:
        """One round on the weights in ``params_path`` (safetensors); the reply names the update's file."""
        return self._call({"cmd": "round", "round": round_num, "params": params_path}, Phase.LOAD_WEIGHTS, round_num)

    def stop(self, grace: float = 5.0) -> None:
        """Ask the worker to exit, then kill what is left of its process tree; remove the exchange folder."""
        if self._connection is not None and self.process is not None and self.process.poll() is None:
            try:
                self._connection.send_bytes(json.dumps({"cmd": "stop"}).encode())
                self.process.wait(timeout=grace)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        shutil.rmtree(self.exchange, ignore_errors=True)

    def kill(self) -> None:
        """Kill the worker's whole process group (data loader workers included)."""
        if self.process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        self.environment.stop()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- messaging --------------------------------------------------------------------------

    def _call(self, command: dict, first_phase: Phase, round_num: int | None) -> dict:
        if self._connection is None:
            raise RoundError(first_phase, self.site, round_num, "the user-code process is not running")
        self._phase = (first_phase.value, round_num)
        self._connection.send_bytes(json.dumps(command).encode())
        while True:
            if self.should_stop():
                self.kill()
                raise RoundError(Phase(self._phase[0]), self.site, round_num, "the job was stopped")
            try:
                ready = self._connection.poll(0.2)
            except (OSError, EOFError):
                ready = False
            if not ready:
                if self.process.poll() is not None:
                    raise self._died(Phase(self._phase[0]), self._phase[1], "the user-code process ended")
                continue
            try:
                message = json.loads(self._connection.recv_bytes())
            except (EOFError, OSError):
                if self.process.poll() is None:
                    self.process.wait(timeout=10)
                raise self._died(Phase(self._phase[0]), self._phase[1], "the user-code process ended") from None
            if message.get("kind") == "phase":
                self._note_phase(message)
                continue
            if message.get("ok"):
                return message
            raise RoundError.from_dict({**message["error"], "site": self.site})

    def _note_phase(self, message: dict) -> None:
        if message.get("event") == "start":
            self._phase = (message["code"], message.get("round"))
        if self.on_phase is not None:
            self.on_phase(message)

    def _died(self, phase: Phase, round_num: int | None, what: str) -> RoundError:
        code = self.process.poll() if self.process is not None else None
        if code is None:
            status = "did not respond"
        elif code < 0:
            name = signal.Signals(-code).name
            hint = " (the out-of-memory killer, or an operator)" if name == "SIGKILL" else ""
            status = f"was killed by {name}{hint}"
        else:
            status = f"exited with code {code}"
        return RoundError(phase, self.site, round_num, f"{what}: it {status} during {phase.label}", self._log_tail())

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]
