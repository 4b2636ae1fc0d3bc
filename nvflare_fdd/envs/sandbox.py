"""The sandbox user code runs in on this machine: bubblewrap, no network, a read-only view of what it needs.

DESIGN §8: a model developer's code is untrusted wherever it runs. On a site (the
``local`` environment backend) and on the server (building the model class), the
platform starts it inside ``bwrap`` with

- no network at all (a new network namespace: not even 127.0.0.1 reaches the host);
- a new process, IPC, UTS and cgroup namespace, no capabilities, ``no_new_privs``;
- a file system made only of what it needs, read-only: the system's ``/usr`` and
  libraries, the Python installation and its packages, the job environment, the
  bundle and the folders the ``Sandbox`` names; writable only its own scratch (the
  job's exchange folder) and a private ``/tmp``. The site's NVFlare workspace (its
  keys), its KDA, the platform's home and everything else on the machine are absent;
- exactly the environment variables the ``Sandbox`` lists (``--clearenv``);
- GPUs still usable: the NVIDIA device files are bound in when the machine has them.

A site turns it off only explicitly (``"sandbox": false`` in ``local/fdd_site.json``),
and the job records that it ran unsandboxed.
"""

from __future__ import annotations

import glob
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from nvflare_fdd.errors import FddError

BWRAP = "bwrap"
#: Top-level folders bound read-only when they exist (symbolic links, as on merged-/usr systems, are recreated).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The few files of /etc that the dynamic linker, Python and common libraries read.
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
    "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/os-release", "/etc/mime.types",
)  # fmt: skip
GPU_DEVICE_GLOBS = ("/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/dri/*")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or, only if this site accepts that user code "
    'runs with the site\'s own view of the machine, set "sandbox": false in local/fdd_site.json'
)


class SandboxUnavailable(FddError):
    """User code must run sandboxed and this machine cannot start the sandbox."""


@lru_cache(maxsize=1)
def check_bubblewrap() -> str:
    """The ``bwrap`` executable, after a trial run that shows namespaces work here.

    Raises:
        SandboxUnavailable: bubblewrap is missing or cannot create its namespaces (the message says what to do).
    """
    path = shutil.which(BWRAP)
    if path is None:
        raise SandboxUnavailable(f"user code runs sandboxed with bubblewrap, which is not installed: {INSTALL_HINT}")
    trial = [path, "--unshare-all", "--die-with-parent", *_bind_system(), "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(trial, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap ({path}) could not start: {exc}; {INSTALL_HINT}") from exc
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap ({path}) cannot create its namespaces on this machine: {done.stderr.strip()[-500:]}; "
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run the site as root, "
            f"or {INSTALL_HINT.split(', or, ', 1)[1]}"
        )
    return path


def python_dirs() -> list[str]:
    """The folders this Python needs to run the platform's code: its installation, packages and nvflare_fdd itself."""
    import nvflare_fdd

    paths = sysconfig.get_paths()
    candidates = [
        sys.base_prefix, sys.prefix, sys.exec_prefix, paths["stdlib"], paths["platstdlib"], paths["purelib"],
        paths["platlib"], *site.getsitepackages(), str(Path(nvflare_fdd.__file__).resolve().parent),
    ]  # fmt: skip
    return _outermost(str(Path(path).resolve()) for path in candidates if path and os.path.isdir(path))


def bubblewrap_command(
    argv: Sequence[str],
    env: dict[str, str],
    read_only: Iterable[str] = (),
    writable: Iterable[str] = (),
    workdir: str | None = None,
) -> list[str]:
    """``argv`` wrapped in bubblewrap: no network, only ``read_only`` and ``writable`` (and the system) visible.

    Args:
        argv: the command to run inside; its executable must lie in a visible folder.
        env: the command's whole environment.
        read_only: host folders visible read-only at the same paths.
        writable: host folders visible read-write at the same paths.
        workdir: the working directory inside (default the first writable folder, else ``/tmp``).

    Raises:
        SandboxUnavailable: bubblewrap cannot run here.
    """
    bwrap = check_bubblewrap()
    writable = _outermost(str(Path(folder).resolve()) for folder in writable)
    read_only = [
        folder for folder in _outermost(str(Path(folder).resolve()) for folder in read_only)
        if not any(_inside(folder, w) for w in writable)
    ]  # fmt: skip
    command = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    command += _bind_system()
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for device in gpu_devices():
        command += ["--dev-bind", device, device]
    for folder in read_only:
        if not _inside(folder, "/usr"):  # already visible
            command += ["--ro-bind", folder, folder]
    for folder in writable:
        command += ["--bind", folder, folder]
    for name, value in env.items():
        command += ["--setenv", name, value]
    command += ["--chdir", workdir or (writable[0] if writable else "/tmp"), "--", *argv]
    return command


def gpu_devices() -> list[str]:
    """The GPU device files of this machine (none on a machine without GPUs)."""
    found = []
    for pattern in GPU_DEVICE_GLOBS:
        found += [path for path in sorted(glob.glob(pattern)) if not os.path.isdir(path)]
    return found


def _bind_system() -> list[str]:
    options = []
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            options += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            options += ["--ro-bind", folder, folder]
    for path in ETC_FILES:
        if os.path.exists(path):
            options += ["--ro-bind", path, path]
    return options


def _outermost(folders: Iterable[str]) -> list[str]:
    """The folders without those inside another one of them, first occurrence order kept."""
    unique = list(dict.fromkeys(folders))
    return [folder for folder in unique if not any(other != folder and _inside(folder, other) for other in unique)]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
