"""The executor's side of the user-code process (see ``nvflare_fdd.client.worker``): the site's trust boundary.

``WorkerProcess`` starts the worker in the job's environment, inside the site's
sandbox (DESIGN §8: no network, no KDA credentials, nothing of the site readable
but what the worker needs, nothing writable but the job's exchange folder), in its
own process group, and drives it over a Unix socket. It reads the site's data
itself, when the worker asks for it in phase 2000, and hands the frames over as
files.

Nothing the worker sends is taken as is: phase events are checked against the
phases of the running command and time-stamped here; replies must have the
expected shape and point at the expected files; a failure is reduced to what may
leave the site (``nvflare_fdd.client.boundary.failure_from_worker``); whatever ends
the worker (an exception, ``sys.exit``, a segfault, the out-of-memory killer, an
operator's ``kill``) becomes a ``RoundError`` with the phase that was running. The
worker's own output and messages stay in the site's log (``detail``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any, NoReturn

from nvflare_fdd.client.boundary import failure_from_worker
from nvflare_fdd.client.handover import readable_to_worker, write_raw_datas
from nvflare_fdd.client.phases import Phase, PhaseTiming, RoundError, now
from nvflare_fdd.client.requests import Refusal
from nvflare_fdd.client.worker import AUTHKEY_ENV
from nvflare_fdd.envs import Environment, Sandbox
from nvflare_fdd.envs.sandbox import user_code_env
from nvflare_fdd.errors import FddError

WORKER_MODULE = "nvflare_fdd.client.worker"
LOG_TAIL_CHARS = 3000
CONNECT_TIMEOUT = 300.0
MAX_MESSAGE_BYTES = 1 << 20
MAX_ARGUMENT_CHARS = 256
SETUP_PHASES = (Phase.CONFIG, Phase.DATA_DOWNLOAD, Phase.DATA_LOADER, Phase.MODEL)
ROUND_PHASES = (Phase.RECEIVE, Phase.LOAD_WEIGHTS, Phase.GLOBAL_EVAL, Phase.TRAIN, Phase.LOCAL_EVAL, Phase.BASELINE,
                Phase.SEND)  # fmt: skip
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d{1,3})?|xpu(:\d{1,3})?)$")

RawDatas = Callable[[], Mapping[str, Any]]


@dataclass
class WorkerReply:
    """A reply of the worker after the executor checked its shape (its values are judged by the executor).

    Attributes:
        phases: the command's phases, timed here as their events arrived.
        device: where the model is (setup).
        params: the update's file, always ``<exchange>/update-<round>.safetensors`` (round).
        num_samples, global_metrics, local_metrics, baseline_metrics: as the worker sent them (round).
    """

    phases: list[PhaseTiming] = field(default_factory=list)
    device: str = ""
    params: Path | None = None
    control_diff: Path | None = None
    """SCAFFOLD: the file of the site's control differences, ``<exchange>/control-diff-<round>.safetensors``."""
    num_samples: Any = None
    global_metrics: Any = None
    local_metrics: Any = None
    baseline_metrics: Any = None


class WorkerProcess:
    """One site's user-code process for one job.

    Args:
        environment: where to run it (from an environment backend).
        bundle_dir: the job's bundle folder (the worker sees it read-only).
        site: the site name (for errors).
        raw_datas: reads the site's KDA as ``{test_key: DataFrame}`` (called once, in phase 2000).
        device: ``cpu``/``cuda:N`` or ``""`` for the default.
        log_path: the worker's stdout and stderr go here (the site's log).
        on_phase: receives ``{"site", "round", "code", "phase", "event", "time"}`` as phases start and end.
        should_stop: polled while waiting; returning True kills the worker (the job was aborted).
        sandboxed: False only when the site turned the sandbox off.
        read_only_dirs: more host folders the worker may read (pretrained models).
        share_error_messages: failures carry the exception's message too (a site's choice).
        handlers: what user code may ask for besides the site's data, by name: ``handler(arguments)`` answers
            with a dict, raises ``Refusal`` (user code gets an exception) or ``FddError`` (which ends the command
            with its message).
        exchange_parent: where the exchange folder is made (``exchange_parent_for``); default the temp folder.
    """

    def __init__(
        self,
        environment: Environment,
        bundle_dir: str | Path,
        site: str,
        raw_datas: RawDatas,
        device: str = "",
        log_path: str | Path | None = None,
        on_phase: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        sandboxed: bool = True,
        read_only_dirs: Iterable[str] = (),
        share_error_messages: bool = False,
        handlers: Mapping[str, Callable[[dict], dict]] | None = None,
        exchange_parent: str | None = None,
    ):
        self.environment = environment
        self.bundle_dir = str(Path(bundle_dir).resolve())
        self.site = site
        self.raw_datas = raw_datas
        self.device = device
        self.exchange = Path(tempfile.mkdtemp(prefix="fdd-", dir=exchange_parent))  # short: Unix socket names are limited
        self.log_path = Path(log_path) if log_path else self.exchange / "worker.log"
        self.on_phase = on_phase
        self.should_stop = should_stop
        self.sandboxed = sandboxed
        self.read_only_dirs = [str(Path(folder).resolve()) for folder in read_only_dirs]
        self.share_error_messages = share_error_messages
        self.handlers = dict(handlers or {})
        self.served_rows = 0
        """Rows of the site's KDA handed to user code for this job (the bound of its sample count)."""
        self.process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self._phase: Phase = Phase.CONFIG  # the phase running now, as far as the executor knows
        self._round: int | None = None
        self._timings: dict[Phase, list[float]] = {}

    # -- life cycle -------------------------------------------------------------------------

    def sandbox(self, authkey: str) -> Sandbox:
        """What the worker may see: its environment, the bundle (read-only) and the exchange folder."""
        python = self.environment.argv_prefix[0] if self.environment.argv_prefix else ""
        env = user_code_env(python, self.exchange / "home", self.sandboxed, **{AUTHKEY_ENV: authkey})
        return Sandbox(env=env, read_only=(self.bundle_dir, *self.read_only_dirs), writable=(str(self.exchange),),
                       enabled=self.sandboxed)  # fmt: skip

    def start(self) -> None:
        """Start the worker and wait for it to connect.

        Raises:
            RoundError: it exited or did not connect (code 1000: nothing of the bundle ran yet).
            FddError: the environment cannot start it (e.g. the sandbox is unavailable).
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

        sandbox = self.sandbox(authkey.hex())
        command = self.environment.command(
            WORKER_MODULE, ["--address", address, "--bundle", self.bundle_dir, "--site", self.site, "--device", self.device],
            sandbox,
        )  # fmt: skip
        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=self.environment.process_env(sandbox), start_new_session=True)  # fmt: skip
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
            raise self._died(Phase.CONFIG, None, "the user-code process could not connect")
        self._connection = accepted["connection"]

    def setup(self, **job: Any) -> WorkerReply:
        """Config, data download (the executor reads the KDA), ``data_loader``, ``model_loader``.

        Args:
            job: the job's ``algorithm`` and ``fedprox_mu``, as the server sent them.
        """
        message = self._call({"cmd": "setup", **job}, None, SETUP_PHASES)
        shutil.rmtree(self.exchange / "raw_datas", ignore_errors=True)  # the worker holds its copy in memory
        device = message.get("device")
        return WorkerReply(phases=self._phase_list(), device=device if isinstance(device, str) and _DEVICE.match(device) else "unknown")

    def run_round(self, round_num: int, params_path: str | Path, controls_path: str | Path | None = None,
                  **job: Any) -> WorkerReply:  # fmt: skip
        """One round on the weights in ``params_path`` (safetensors, in the exchange folder).

        Args:
            controls_path: SCAFFOLD's global controls (safetensors); the reply then names the control differences.
            job: the job's ``algorithm`` and ``fedprox_mu``, as the server sent them with the task.
        """
        expected = Path(params_path).with_name(f"update-{round_num}.safetensors")
        expected_diff = expected.with_name(f"control-diff-{round_num}.safetensors")
        for stale in (expected, expected_diff):
            stale.unlink(missing_ok=True)
        readable_to_worker(Path(params_path))
        command = {"cmd": "round", "round": round_num, "params": str(params_path), **job}
        if controls_path is not None:
            readable_to_worker(Path(controls_path))
            command["controls"] = str(controls_path)
        message = self._call(command, round_num, ROUND_PHASES)
        if message.get("params") != str(expected) or not expected.is_file():
            self.kill()
            raise RoundError(Phase.SEND, self.site, round_num, "the user-code process did not write the update where asked")
        diff = message.get("control_diff")
        if controls_path is not None and (diff != str(expected_diff) or not expected_diff.is_file()):
            self.kill()
            raise RoundError(Phase.SEND, self.site, round_num,
                             "the user-code process did not write the SCAFFOLD control differences where asked")  # fmt: skip
        return WorkerReply(
            phases=self._phase_list(), params=expected, num_samples=message.get("num_samples"),
            global_metrics=message.get("global_metrics"), local_metrics=message.get("local_metrics"),
            baseline_metrics=message.get("baseline_metrics"), control_diff=expected_diff if controls_path is not None else None,
        )  # fmt: skip

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

    def _call(self, command: dict, round_num: int | None, phases: tuple[Phase, ...]) -> dict:
        # the connection is held for the whole call: a stop from another thread closes it (then reads fail) but
        # does not take it away between two reads
        connection, process = self._connection, self.process
        if connection is None or process is None:
            raise RoundError(phases[0], self.site, round_num, "the user-code process is not running")
        self._phase, self._round, self._timings = phases[0], round_num, {}
        connection.send_bytes(json.dumps(command).encode())
        while True:
            message = self._receive(connection, process)
            kind = message.get("kind")
            if kind == "phase":
                self._note_phase(message, phases)
            elif kind == "request" and message.get("what") == "raw_datas" and self._phase == Phase.DATA_DOWNLOAD:
                self._hand_over_raw_datas(connection)
            elif kind == "request" and message.get("what") in self.handlers:
                self._answer(connection, message)
            elif kind is not None:
                self._protocol_error(f"an unexpected {str(kind)[:20]!r} message")
            elif message.get("ok") is True:
                return message
            else:
                error = failure_from_worker(message.get("error"), bundle_dir=self.bundle_dir, site=self.site,
                                            round_num=round_num, phase=self._phase,
                                            share_messages=self.share_error_messages)  # fmt: skip
                self._emit(self._phase, "failed")
                raise error

    def _receive(self, connection: Connection, process: subprocess.Popen) -> dict:
        """The worker's next message; a dead worker, a stop request or a malformed message ends the call."""
        while True:
            if self.should_stop():
                self.kill()
                raise RoundError(self._phase, self.site, self._round, "the job was stopped")
            try:
                ready = connection.poll(0.2)
            except (OSError, EOFError):
                ready = False
            if not ready:
                if process.poll() is not None:
                    raise self._died(self._phase, self._round, "the user-code process ended")
                continue
            try:
                data = connection.recv_bytes(MAX_MESSAGE_BYTES)
            except (EOFError, OSError):
                if process.poll() is None:
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        self._protocol_error("a message over the size limit")
                raise self._died(self._phase, self._round, "the user-code process ended") from None
            try:
                message = json.loads(data)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                self._protocol_error("a message that is not a JSON object")
            return message

    def _hand_over_raw_datas(self, connection: Connection) -> None:
        """Phase 2000: read the site's KDA (platform code) and give the worker the frames as files."""
        folder = self.exchange / "raw_datas"
        try:
            frames = self.raw_datas()
        except FddError as error:  # the platform's own words, such as "KDA not found at ..."
            self.kill()
            raise RoundError(Phase.DATA_DOWNLOAD, self.site, None, str(error)) from error
        except Exception as exc:
            self.kill()
            raise RoundError(Phase.DATA_DOWNLOAD, self.site, None, f"the site's KDA could not be read ({type(exc).__name__})",
                             detail=str(exc)) from exc  # fmt: skip
        self.served_rows = write_raw_datas(frames, folder)
        del frames
        readable_to_worker(folder)
        connection.send_bytes(json.dumps({"kind": "raw_datas", "dir": str(folder)}).encode())

    def _answer(self, connection: Connection, message: dict) -> None:
        """Serve one request of user code with its handler (platform code); a refusal ends the command."""
        what = message["what"]
        arguments = {key: value for key, value in message.items() if key not in ("kind", "what")}
        if not all(isinstance(value, str) and len(value) <= MAX_ARGUMENT_CHARS for value in arguments.values()):
            self._protocol_error(f"a {what} request with arguments that are not short text")
        try:
            answer = self.handlers[what](arguments)
        except Refusal as refusal:  # user code gets it as an exception, where it asked
            connection.send_bytes(json.dumps({"kind": "refused", "reason": refusal.reason,
                                              "message": str(refusal)}).encode())  # fmt: skip
            return
        except FddError as error:  # the platform's own words
            self.kill()
            raise RoundError(self._phase, self.site, self._round, str(error)) from error
        connection.send_bytes(json.dumps({"kind": what, **answer}).encode())

    def _note_phase(self, message: dict, phases: tuple[Phase, ...]) -> None:
        code, event = message.get("code"), message.get("event")
        if event not in ("start", "end", "failed") or code not in {phase.value for phase in phases}:
            self._protocol_error("a phase event that is not one of this step's")
        phase = Phase(code)
        stamp = now()
        if event == "start":
            self._phase = phase
            self._timings.setdefault(phase, [stamp, stamp])
        elif event == "end" and phase in self._timings:
            self._timings[phase][1] = stamp  # a phase run in two parts (8000) keeps its first start
        self._emit(phase, event, stamp)

    def _emit(self, phase: Phase, event: str, stamp: float | None = None) -> None:
        if self.on_phase is not None:
            self.on_phase({"site": self.site, "round": self._round, "code": phase.value, "phase": phase.label,
                           "event": event, "time": stamp or now()})  # fmt: skip

    def _phase_list(self) -> list[PhaseTiming]:
        ordered = sorted(self._timings.items(), key=lambda item: item[1][0])
        return [PhaseTiming(phase.value, phase.label, start, end) for phase, (start, end) in ordered]

    def _protocol_error(self, what: str) -> NoReturn:
        self.kill()
        raise RoundError(self._phase, self.site, self._round, f"the user-code process broke the protocol: it sent {what}")

    def _died(self, phase: Phase, round_num: int | None, what: str) -> RoundError:
        code = self.process.poll() if self.process is not None else None
        if code is not None and self.sandboxed and code > 128 and code - 128 in signal.valid_signals():
            code = 128 - code  # bubblewrap exits with 128 + the signal that killed what it ran
        if code is None:
            status = "did not respond"
        elif code < 0:
            name = signal.Signals(-code).name
            hint = " (the out-of-memory killer, or an operator)" if name == "SIGKILL" else ""
            status = f"was killed by {name}{hint}"
        else:
            status = f"exited with code {code}"
        return RoundError(phase, self.site, round_num, f"{what}: it {status} during {phase.label}", detail=self._log_tail())

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]
