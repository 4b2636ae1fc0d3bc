"""What a base image takes from this site: its package versions, its nvflare-fdd, and its package index settings."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from nvflare_fdd.envs import JobEnvironmentError

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# installed on their own terms (the requirements name them), never pinned to this site's copies
NOT_PINNED = {"nvflare-fdd", "torch", "uv", "nvflare-fdd-docker"}
CERT_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def version(distribution: str) -> str:
    """The installed version of ``distribution``.

    Raises:
        JobEnvironmentError: it is not installed.
    """
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise JobEnvironmentError(f"{distribution} is not installed on this site: pip install {distribution}") from exc


def torch_version() -> str:
    """This site's torch version without its local part (``2.13.0`` for ``2.13.0+cpu``)."""
    return version("torch").split("+")[0]


def uv_binary() -> str:
    """The uv executable of this site's uv package."""
    from uv import find_uv_bin

    return find_uv_bin()


def site_constraints() -> str:
    """``name==version`` of each package this site has from an index (local builds and the image's own excluded)."""
    lines = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name")
        if not name or normalized(name) in NOT_PINNED or "+" in dist.version:
            continue
        direct = dist.read_text("direct_url.json")
        if direct and "dir_info" in json.loads(direct):  # installed from a folder: not on any index
            continue
        lines.append(f"{normalized(name)}=={dist.version}")
    return "".join(f"{line}\n" for line in sorted(set(lines)))


@dataclass
class IndexSettings:
    """Where packages come from: uv's index flags, the folders to mount, and what job builds keep."""

    index_url: str = ""
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    cert: str = ""

    def uv_flags(self) -> list[str]:
        flags = ["--index-url", self.index_url] if self.index_url else []
        for url in self.extra_index_urls:
            flags += ["--extra-index-url", url]
        for link in self.find_links:
            flags += ["--find-links", link]
        return flags

    def mounted_folders(self) -> list[str]:
        """Local folders the build must see: find-links folders and ``file://`` indexes, at their own paths."""
        folders = []
        for location in [self.index_url, *self.extra_index_urls]:
            path = _local_path(location) if location.startswith("file://") else None
            if path is not None and os.path.isdir(path):  # its pages may link to files beside it: ../files/
                folders.append(os.path.dirname(os.path.abspath(path)))
        for location in self.find_links:
            path = _local_path(location)
            if path is not None and os.path.isdir(path):
                folders.append(os.path.abspath(path))
        return list(dict.fromkeys(folders))

    def image_env(self) -> dict[str, str]:
        """uv's variables for later job builds in the image: only indexes reachable from it (http(s))."""
        env = {}
        if self.index_url.startswith(("http://", "https://")):
            env["UV_INDEX_URL"] = self.index_url
        extra = [url for url in self.extra_index_urls if url.startswith(("http://", "https://")) and url != TORCH_CPU_INDEX]
        if extra:
            env["UV_EXTRA_INDEX_URL"] = " ".join(extra)
        return env

    def describe(self) -> str:
        cert = hashlib.sha256(Path(self.cert).read_bytes()).hexdigest() if self.cert else ""
        return json.dumps([self.index_url, self.extra_index_urls, self.find_links, cert])


def index_settings(
    index_url: str = "", extra_index_urls: Sequence[str] | None = None, find_links: Sequence[str] | None = None, cert: str = ""
) -> IndexSettings:
    """The settings given, else pip's configuration on this site (``pip config list``), else uv's defaults.

    Raises:
        JobEnvironmentError: a CA bundle or a find-links folder given does not exist.
    """
    pip = pip_configuration()
    settings = IndexSettings(
        index_url=index_url or pip.get("index-url", ""),
        extra_index_urls=list(extra_index_urls if extra_index_urls is not None else pip.get("extra-index-url", "").split()),
        find_links=list(find_links if find_links is not None else pip.get("find-links", "").split()),
        cert=cert or pip.get("cert", "") or next((os.environ[v] for v in CERT_VARIABLES if os.environ.get(v)), ""),
    )
    if settings.cert and not os.path.isfile(settings.cert):
        if cert:
            raise JobEnvironmentError(f"the CA bundle {cert} does not exist")
        settings.cert = ""
    for link in settings.find_links:
        if "://" not in link and not os.path.isdir(link):
            raise JobEnvironmentError(f"the find-links folder {link} does not exist")
    return settings


def pip_configuration() -> dict[str, str]:
    """pip's settings on this site (its variables first, then its files); empty when pip is not installed."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[str, tuple[int, str]] = {}
    rank = {":env:": 0, "global": 2, "install": 1}
    for line in done.stdout.splitlines():
        key, sep, raw = line.partition("=")
        section, _, name = key.rpartition(".")
        if not sep or section not in rank:
            continue
        try:
            [value] = shlex.split(raw) or [""]
        except ValueError:
            continue
        if name not in found or rank[section] < found[name][0]:
            found[name] = (rank[section], value)
    return {name: value for name, (_, value) in found.items()}


def has_torch_wheel(find_links: Sequence[str], torch: str, python: str) -> bool:
    """A find-links folder holds torch ``torch``'s CPU wheel for ``python``."""
    tag = "cp" + python.replace(".", "")
    for link in find_links:
        path = _local_path(link)
        if path and os.path.isdir(path) and any(Path(path).glob(f"torch-{torch}+cpu-{tag}-*.whl")):
            return True
    return False


def nvflare_fdd_requirement(
    out_dir: Path, image_dir: str, settings: IndexSettings, log: Callable[[str], None]
) -> tuple[str, str]:
    """``(requirement, fingerprint)`` of this site's nvflare-fdd for the image.

    From the source tree it runs from (an editable install), a wheel is built into ``out_dir`` (which
    the build sees as ``image_dir``) and the
    fingerprint is the hash of its file list (the same sources give the same fingerprint); otherwise
    the same version comes from the index.

    Raises:
        JobEnvironmentError: the wheel could not be built.
    """
    from nvflare_fdd import __version__

    source = _source_folder()
    if source is None:
        requirement = f"nvflare-fdd=={__version__}"
        log(f"      {requirement} from the package index")
        return requirement, requirement
    log(f"      building a wheel of {source}")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [uv_binary(), "build", "--quiet", "--out-dir", str(out_dir), *settings.uv_flags(), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    wheels = sorted(out_dir.glob("nvflare_fdd-*.whl"))
    if done.returncode != 0 or not wheels:
        output = done.stdout + done.stderr
        raise JobEnvironmentError(f"could not build a wheel of nvflare-fdd from {source}:\n{output[-4000:]}", (), output)
    wheel = wheels[-1]
    with zipfile.ZipFile(wheel) as archive:
        record = next(name for name in archive.namelist() if name.endswith(".dist-info/RECORD"))
        fingerprint = hashlib.sha256(archive.read(record)).hexdigest()[:24]
    return f"nvflare-fdd @ file://{image_dir}/{wheel.name}", f"nvflare-fdd {__version__} {fingerprint}"


def _source_folder() -> Path | None:
    """The source tree the running nvflare-fdd is imported from (an editable install), if any."""
    import nvflare_fdd

    folder = Path(nvflare_fdd.__file__).resolve().parent.parent
    setup = folder / "setup.cfg"
    if setup.is_file() and re.search(r"^name\s*=\s*nvflare-fdd\s*$", setup.read_text(), re.MULTILINE):
        return folder
    return None


def _local_path(location: str) -> str | None:
    """The folder a find-links entry or ``file://`` URL names; None for a remote URL."""
    if location.startswith("file://"):
        return unquote(urlparse(location).path)
    if "://" in location or not location:
        return None
    return location
