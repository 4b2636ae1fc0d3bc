"""The ``local`` environment backend: a cached virtual environment per requirements, built with uv.

The environment sits on top of the site's own Python environment: its packages
(torch, nvflare, pandas, ...) stay importable and count as installed, so only
what the bundle adds, or pins to another version, is installed. uv does not see
packages of an underlying environment, so each job environment carries a
metadata-only copy of the base's ``*.dist-info`` (what uv reads to decide what is
installed) and a ``.pth`` line that puts the base's site-packages behind its own:
a pinned version installed in the job environment shadows the base's copy, which
is never touched.

Environments are cached by the requirements and the base they were built on; a
second job with the same requirements starts without installing. Builders of
the same environment take a file lock; an environment is ready only once its
marker file is written, and a failed build is removed, never left half-built.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from functools import lru_cache
from pathlib import Path

from nvflare_fdd.envs import (
    CachedEnvironment,
    Environment,
    JobEnvironmentError,
    Logger,
    blamed_requirements,
    file_lock,
    requirement_lines,
)
from nvflare_fdd.envs.sandbox import bubblewrap_command, installer_env, python_dirs
from nvflare_fdd.plugin import hookimpl
from nvflare_fdd.results import atomic_write_bytes

CACHE_ENV = "FDD_ENV_CACHE"
MARKER = "fdd-env.json"
BASE_PTH = "_fdd_base.pth"
OVERLAY_INSTALLER = "nvflare-fdd-base"


def default_cache_dir() -> Path:
    """``$FDD_ENV_CACHE``, else ``~/.cache/nvflare-fdd/envs``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nvflare-fdd" / "envs")


class LocalBackend:
    """Builds job environments as uv virtual environments layered on the site's Python.

    Args:
        cache_dir: where environments are kept; default ``default_cache_dir()``.
        index_strategy: uv's ``--index-strategy`` (K-MELLODDY installs with ``unsafe-best-match``).
        timeout: seconds an install may take.
    """

    name = "local"

    def __init__(self, cache_dir: str | None = None, index_strategy: str = "unsafe-best-match", timeout: float = 1800,
                 sandboxed: bool = True):  # fmt: skip
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.index_strategy = index_strategy
        self.timeout = timeout
        self.sandboxed = sandboxed

    def prepare(self, requirements: str, log: Logger = lambda line: None) -> Environment:
        """The environment for ``requirements``: cached, or built now.

        Raises:
            JobEnvironmentError: the install failed; names the requirements the installer complained about.
        """
        if not requirement_lines(requirements):
            log("no requirements beyond the site's base environment")
            return Environment([sys.executable], description="the site's base environment")
        key = environment_key(requirements)
        folder = self.cache_dir / key
        if _ready(folder):
            log(f"reusing cached environment {key}")
            return _environment(folder, f"cached environment {key}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.cache_dir / f".{key}.lock"):
            if _ready(folder):  # another job built it while we waited
                log(f"reusing environment {key}, built by another job meanwhile")
                return _environment(folder, f"cached environment {key}")
            shutil.rmtree(folder, ignore_errors=True)  # leftovers of a build that died
            started = time.monotonic()
            try:
                self._build(folder, requirements, log)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            marker = {"key": key, "requirements": requirements, "built": time.time(), "python": sys.version}
            atomic_write_bytes(folder / MARKER, json.dumps(marker, indent=2).encode())
            log(f"built environment {key} in {time.monotonic() - started:.1f} s")
        return _environment(folder, f"new environment {key}")

    def cached(self) -> list[CachedEnvironment]:
        """The environments in the cache (``fdd env list``); a half-built one is not listed."""
        if not self.cache_dir.is_dir():
            return []
        running = _command_lines()
        entries = []
        for marker in sorted(self.cache_dir.glob(f"*/{MARKER}")):
            folder = marker.parent
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError):
                info = {}
            used = marker.stat().st_mtime
            lines = requirement_lines(str(info.get("requirements", "")))
            entries.append(CachedEnvironment(
                "local", folder.name, ", ".join(lines) or "(nothing to install)", float(info.get("built", used)), used,
                _size(folder), any(f"{folder}/" in line for line in running),
            ))  # fmt: skip
        return entries

    def remove(self, entry: CachedEnvironment) -> None:
        """Delete a cached environment (``fdd env prune``); the next job that needs it builds it again."""
        folder = self.cache_dir / entry.name
        with file_lock(self.cache_dir / f".{entry.name}.lock"):
            (folder / MARKER).unlink(missing_ok=True)  # not ready any more, even if the removal stops half-way
            shutil.rmtree(folder, ignore_errors=True)
        (self.cache_dir / f".{entry.name}.lock").unlink(missing_ok=True)

    def _build(self, folder: Path, requirements: str, log: Logger) -> None:
        uv = _uv()
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(folder)], "create the virtual environment", requirements)
        site_packages = _site_packages(folder)
        base_dirs = base_site_dirs()
        lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in base_dirs)
        (site_packages / BASE_PTH).write_text(lines)
        _write_overlay(site_packages)
        (folder / "requirements.txt").write_text(requirements)
        log(f"installing {len(requirement_lines(requirements))} requirement(s) with uv")
        command = [
            uv, "pip", "install", "--python", str(_python(folder)), "-r", str(folder / "requirements.txt"),
            "--index-strategy", self.index_strategy,
        ]  # fmt: skip
        env = None
        if self.sandboxed:  # packages' build scripts run here: they see the network, not the site
            uv_cache = Path(os.environ.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
            uv_cache.mkdir(parents=True, exist_ok=True)
            env = installer_env(folder, uv_cache)
            command = bubblewrap_command(command, env, [*python_dirs(), str(Path(uv).resolve().parent)],
                                         [str(folder), str(uv_cache)], network=True)  # fmt: skip
        output = _run(command, "install the bundle's requirements", requirements, self.timeout, env)
        for line in output.splitlines():
            if line.strip().startswith(("+", "-")):
                log(line.strip())


@hookimpl
def fdd_environment_backends(register) -> None:
    register("local", LocalBackend)


# -- the base environment ---------------------------------------------------------------------


def base_site_dirs() -> list[str]:
    """The running interpreter's site-packages folders (a virtual environment's own included)."""
    dirs = list(dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    return [path for path in dirs if os.path.isdir(path)]


@lru_cache(maxsize=1)
def base_distributions() -> tuple[tuple[str, str, str], ...]:
    """``(normalized name, version, METADATA text)`` of every distribution in the base, first one wins."""
    found: dict[str, tuple[str, str, str]] = {}
    for dist in importlib.metadata.distributions(path=base_site_dirs()):
        name = dist.metadata["Name"] if "Name" in dist.metadata else None
        if not name:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key not in found:
            metadata = dist.read_text("METADATA") or f"Metadata-Version: 2.1\nName: {name}\nVersion: {dist.version}\n"
            found[key] = (name, dist.version, metadata)
    return tuple(sorted(found.values()))


def environment_key(requirements: str) -> str:
    """Cache key: the requirements as written, the Python, and every base package's version."""
    digest = hashlib.sha256()
    digest.update(requirements.strip().encode())
    digest.update(sys.version.encode())
    digest.update(sysconfig.get_platform().encode())
    for name, version, _ in base_distributions():
        digest.update(f"\n{name}=={version}".encode())
    return digest.hexdigest()[:20]


def _write_overlay(site_packages: Path) -> None:
    """Metadata-only copies of the base's distributions, so uv counts them as installed."""
    for name, version, metadata in base_distributions():
        info = site_packages / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(metadata)
        (info / "INSTALLER").write_text(f"{OVERLAY_INSTALLER}\n")
        # RECORD lists only these files: uninstalling the overlay (a pinned other version) removes nothing else
        (info / "RECORD").write_text("".join(f"{info.name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD")))


# -- helpers ------------------------------------------------------------------------------------


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:  # pragma: no cover - uv is a dependency
        raise JobEnvironmentError("uv is not installed: pip install uv") from exc
    return find_uv_bin()


def _run(command: list[str], what: str, requirements: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise JobEnvironmentError(f"could not {what}: the installer took more than {timeout:.0f} s", (), str(exc.output or "")) from exc
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        blamed = blamed_requirements(requirements, output)
        names = f" ({', '.join(blamed)})" if blamed else ""
        raise JobEnvironmentError(f"could not {what}{names}:\n{output.strip()[-4000:]}", blamed, output)
    return output


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _command_lines() -> list[str]:
    """The command lines of this machine's processes (a job's worker names its environment's Python)."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return lines


def _ready(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _python(folder: Path) -> Path:
    return folder / "bin" / "python"


def _site_packages(folder: Path) -> Path:
    [path] = list((folder / "lib").glob("python*/site-packages"))
    return path


def _environment(folder: Path, description: str) -> Environment:
    os.utime(folder / MARKER)  # last use, for whoever prunes the cache
    return Environment([str(_python(folder))], description=description, system_dirs=[str(folder)])

