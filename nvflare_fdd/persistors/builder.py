"""Building the bundle's model class for the server, outside the server (DESIGN §8).

The NVFlare server process holds the platform's secrets (its storage URL, through
which every user's models and jobs are reachable). The model developer's
``model.py`` therefore never runs in it: ``build_initial_model`` runs it in a
sandboxed child process, in the job's environment, with a timeout, and reads back
only the model's initial weights, as safetensors. The weights also give the
server the model's *spec* — each key's shape and dtype — which is all a site's
update may contain.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nvflare_fdd.envs import Environment, Sandbox
from nvflare_fdd.envs.sandbox import user_code_env
from nvflare_fdd.errors import ServerModelError

BUILD_MODULE = "nvflare_fdd.persistors.build_worker"
DEFAULT_TIMEOUT = 600.0
OUTPUT_TAIL_CHARS = 6000


@dataclass(frozen=True)
class TensorSpec:
    """What one tensor of the model is: its shape and numpy dtype."""

    shape: tuple[int, ...]
    dtype: str


ModelSpec = Mapping[str, TensorSpec]


def spec_of(weights: Mapping[str, np.ndarray]) -> dict[str, TensorSpec]:
    """The spec of a state dict of numpy arrays."""
    return {key: TensorSpec(tuple(value.shape), str(value.dtype)) for key, value in weights.items()}


def check_against_spec(weights: Mapping[str, np.ndarray], spec: ModelSpec, source: str) -> None:
    """Every tensor of ``weights`` must be one of ``spec``'s, with its shape and dtype.

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

    Raises:
        ServerModelError: the build failed, timed out or wrote no weights (the user's traceback in ``trace``).
    """
    from safetensors.numpy import load_file

    scratch = Path(tempfile.mkdtemp(prefix="fdd-model-"))
    out = scratch / "initial.safetensors"
    try:
        python = environment.argv_prefix[0] if environment.argv_prefix else ""
        sandbox = Sandbox(
            env=user_code_env(python, scratch / "home", sandboxed),
            read_only=(str(Path(bundle_dir).resolve()), *read_only_dirs),
            writable=(str(scratch),),
            enabled=sandboxed,
        )
        arguments = ["--bundle", str(Path(bundle_dir).resolve()), "--model-class", class_name, "--seed", str(seed),
                     "--out", str(out)]  # fmt: skip
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
        return load_file(str(out))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
