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

from nvflare_fdd.errors import SandboxUnavailable

BWRAP = "bwrap"
#: Top-level folders bound read-only when they exist (symbolic links, as on merged-/usr systems, are recreated).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The few files of /etc that the dynamic linker, Python and common libraries read.
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
    "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/os-release", "/etc/mime.types",
)  # fmt: skip
#: What a process that may use the network (an installer) also needs: name resolution and certificates.
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/gai.conf")
#: Variables an installer needs to reach package indexes (proxies, certificates, uv's own settings).
INSTALLER_VARIABLES = (
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_NATIVE_TLS",
    "UV_HTTP_TIMEOUT", "UV_CONCURRENT_DOWNLOADS",
)  # fmt: skip
GPU_DEVICE_GLOBS = ("/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/dri/*")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or, only if this site accepts that user code "
    'runs with the site\'s own view of the machine, set "sandbox": false in local/fdd_site.json'
)


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


#: Variables of the site's environment that user code may see: thread counts and which GPUs to use.
PASSED_VARIABLES = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TZ",
)  # fmt: skip


def user_code_env(python: str, home: str | Path, sandboxed: bool = True, **extra: str) -> dict[str, str]:
    """The whole environment of a user-code process: nothing of the platform's or the site's settings.

    Args:
        python: the interpreter that will run (its folder goes first on ``PATH``).
        home: the process's ``HOME`` (inside its writable scratch); created if missing.
        sandboxed: inside the sandbox ``TMPDIR`` is its private ``/tmp``, else ``home``.
        extra: more variables (the worker's authentication key).
    """
    Path(home).mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.pathsep.join(filter(None, [os.path.dirname(python), "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": str(home),
        "TMPDIR": "/tmp" if sandboxed else str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",  # the bundle is read-only
        "PYTHONNOUSERSITE": "1",
        "HF_HUB_OFFLINE": "1",  # no network: libraries should not try
        "TRANSFORMERS_OFFLINE": "1",
        **{name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ},
        **extra,
    }


def installer_env(home: str | Path, cache_dir: str | Path) -> dict[str, str]:
    """The environment of a sandboxed package installer: its cache, proxies and certificates, nothing of the platform."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "UV_CACHE_DIR": str(cache_dir),
        "LANG": "C.UTF-8",
        **{name: os.environ[name] for name in INSTALLER_VARIABLES if name in os.environ},
    }
    cert = os.environ.get("PIP_CERT")  # the site's pip trusts this bundle: uv should too
    if cert and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = cert
    return env


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
    network: bool = False,
) -> list[str]:
    """``argv`` wrapped in bubblewrap: no network, only ``read_only`` and ``writable`` (and the system) visible.

    Args:
        argv: the command to run inside; its executable must lie in a visible folder.
        env: the command's whole environment.
        read_only: host folders visible read-only at the same paths.
        writable: host folders visible read-write at the same paths.
        workdir: the working directory inside (default the first writable folder, else ``/tmp``).
        network: keep the machine's network (an installer fetching packages); never for user code.

    Raises:
        SandboxUnavailable: bubblewrap cannot run here.
    """
    bwrap = check_bubblewrap()
    writable = _outermost(str(Path(folder).resolve()) for folder in writable)
    read_only = [
        folder for folder in _outermost(str(Path(folder).resolve()) for folder in read_only)
        if not any(_inside(folder, w) for w in writable)
    ]  # fmt: skip
    command = [bwrap, "--unshare-all", *(["--share-net"] if network else []), "--die-with-parent", "--new-session",
               "--clearenv"]  # fmt: skip
    command += _bind_system()
    if network:
        certificates = [env[name] for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE") if env.get(name)]
        for path in dict.fromkeys([*NETWORK_FILES, *certificates]):
            if os.path.exists(path) and not any(_inside(path, folder) for folder in read_only):
                command += ["--ro-bind", path, path]
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
