"""Building the bundle's model class for the server, outside the server (DESIGN §8).

The NVFlare server process holds the platform's secrets (its storage URL, through
which every user's models and jobs are reachable). The model developer's
``model.py`` therefore never runs in it: ``build_initial_model`` runs it in a
sandboxed child process, in the job's environment, with a timeout, and reads back
only the model's initial weights, as safetensors. The weights also give the
server the model's *spec* — each key's shape and dtype — which is all a site's
update may contain. While it builds, the model may ask the server for what
``model_manager`` offers (``download_model``: a pretrained model), over a Unix
socket only this build can authenticate to; the server answers with ``handlers``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

import numpy as np

from nvflare_fdd.client.worker import AUTHKEY_ENV
from nvflare_fdd.envs import Environment, Sandbox
from nvflare_fdd.envs.sandbox import user_code_env
from nvflare_fdd.errors import FddError, ServerModelError

BUILD_MODULE = "nvflare_fdd.persistors.build_worker"
DEFAULT_TIMEOUT = 600.0
OUTPUT_TAIL_CHARS = 6000
MAX_REQUEST_BYTES = 1 << 16

Handlers = Mapping[str, Callable[[dict], dict]]


@dataclass(frozen=True)
class TensorSpec:
    """What one tensor of the model is: its shape and numpy dtype."""

    shape: tuple[int, ...]
    dtype: str


ModelSpec = Mapping[str, TensorSpec]


def spec_of(weights: Mapping[str, np.ndarray]) -> dict[str, TensorSpec]:
    """The spec of a state dict of numpy arrays."""
    return {key: TensorSpec(tuple(value.shape), str(value.dtype)) for key, value in weights.items()}


def check_against_spec(weights: Mapping[str, Any], spec: ModelSpec, source: str) -> None:
    """Every tensor of ``weights`` (arrays, or what a stream announces of them) must be one of ``spec``'s, with its
    shape and dtype.

    Raises:
        ValueError: naming the first key that is not the model's, or has another shape or dtype.
    """
    for key, value in weights.items():
        expected = spec.get(key)
        if expected is None:
            raise ValueError(f"{source} sent tensor {key!r}, which the server's model does not have")
        if tuple(value.shape) != expected.shape or str(value.dtype) != expected.dtype:
            raise ValueError(
                f"{source} sent tensor {key!r} as {tuple(value.shape)} {value.dtype}; the server's model has "
                f"{expected.shape} {expected.dtype}"
            )


def build_initial_model(
    bundle_dir: str | Path,
    class_name: str,
    environment: Environment,
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    sandboxed: bool = True,
    read_only_dirs: Iterable[str] = (),
    log: Callable[[str], None] = lambda line: None,
    handlers: Handlers | None = None,
) -> dict[str, np.ndarray]:
    """The model's initial ``state_dict()``, built by ``model.py`` in a sandboxed child process.

    Args:
        bundle_dir: the job's bundle (the child sees it read-only).
        class_name: the registered ``nn.Module`` class.
        environment: the job's environment on the server (from the server's environment backend).
        seed: torch's seed before the class is built (a reproducible initial model).
        timeout: seconds the build may take.
        sandboxed: False only when the server's operator turned the sandbox off.
        read_only_dirs: more folders the child may read (pretrained models).
        log: receives the child's output lines.
        handlers: what the model may ask for while it builds, by name (``"pretrained"``): ``handler(arguments)``
            answers with a dict or raises ``FddError``, whose message the model's code gets as an exception.

    Raises:
        ServerModelError: the build failed, timed out or wrote no weights (the user's traceback in ``trace``).
    """
    from nvflare_fdd.streaming import read_arrays

    scratch = Path(tempfile.mkdtemp(prefix="fdd-model-"))
    out = scratch / "initial.safetensors"
    authkey = secrets.token_bytes(32)
    address = str(scratch / "build.sock")
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    server = threading.Thread(target=_serve, args=(listener, dict(handlers or {}), log), name="fdd-build-requests",
                              daemon=True)  # fmt: skip
    server.start()
    try:
        python = environment.argv_prefix[0] if environment.argv_prefix else ""
        sandbox = Sandbox(
            env=user_code_env(python, scratch / "home", sandboxed, **{AUTHKEY_ENV: authkey.hex()}),
            read_only=(str(Path(bundle_dir).resolve()), *read_only_dirs),
            writable=(str(scratch),),
            enabled=sandboxed,
        )
        arguments = ["--bundle", str(Path(bundle_dir).resolve()), "--model-class", class_name, "--seed", str(seed),
                     "--out", str(out), "--address", address]  # fmt: skip
        command = environment.command(BUILD_MODULE, arguments, sandbox)
        try:
            done = subprocess.run(command, env=environment.process_env(sandbox), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, start_new_session=True)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ServerModelError(f"building {class_name} from model.py took more than {timeout:.0f} s",
                                   _text(exc.stdout) + _text(exc.stderr)) from exc  # fmt: skip
        finally:
            environment.stop()
        output = (done.stdout or "") + (done.stderr or "")
        for line in output.splitlines():
            log(line)
        if done.returncode != 0 or not out.is_file():
            tail = output.strip()[-OUTPUT_TAIL_CHARS:]
            raise ServerModelError(f"the server could not build {class_name} from model.py:\n{tail}", output)
        return read_arrays(out)  # the model once in memory, not twice while it loads
    finally:
        _stop_serving(server, address, authkey)
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _serve(listener: Listener, handlers: Handlers, log: Callable[[str], None]) -> None:
    """Answer the build's requests until it closes its end (or ``_stop_serving`` connects to end the wait)."""
    try:
        connection = listener.accept()
    except Exception:  # the listener was closed, or a peer without the key
        return
    with connection:
        while True:
            try:
                message = json.loads(connection.recv_bytes(MAX_REQUEST_BYTES))
            except (EOFError, OSError, ValueError):
                return
            if not isinstance(message, dict) or message.get("kind") != "request":
                return
            what = str(message.get("what", ""))
            arguments = {key: value for key, value in message.items() if key not in ("kind", "what")}
            handler = handlers.get(what)
            try:
                if handler is None:
                    raise FddError(f"the server's model building cannot ask the platform for {what!r}")
                reply = {"kind": what, **handler(arguments)}
            except FddError as exc:
                reply = {"kind": "refused", "reason": "", "message": str(exc)}
            except Exception as exc:  # the platform's own failure: said in the server's log
                log(f"serving the model build's {what} request failed: {exc!r}")
                reply = {"kind": "refused", "reason": "", "message": f"the server could not serve {what!r}; its log says why"}
            try:
                connection.send_bytes(json.dumps(reply).encode())
            except OSError:
                return


def _stop_serving(server: threading.Thread, address: str, authkey: bytes) -> None:
    """End the request thread: a build that never connected leaves it waiting in ``accept``."""
    if server.is_alive():
        try:
            Client(address, family="AF_UNIX", authkey=authkey).close()
        except Exception:
            pass
    server.join(timeout=5)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
