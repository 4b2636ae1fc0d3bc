"""The site's base image, built from Debian's packages and the package index alone (``fdd env build-base``).

No image registry is needed. The build has three steps:

1. a Debian root file system (``debootstrap --variant=minbase``, Python from Debian), imported as the
   image ``nvflare-fdd-rootfs:<suite>`` and reused by later builds; ``--from IMAGE`` starts from an
   image the site already has instead;
2. a container of it installs, with uv, this site's nvflare-fdd (a wheel built from its source, or the
   same version from the index), torch and uv, pinned to the versions this site runs. The Python is
   made the image's own (Debian's ``EXTERNALLY-MANAGED`` marker goes), so K-MELLODDY's
   ``uv pip install -r requirements.txt --system ...`` installs a job's requirements into it;
3. the container is committed as the base image, labelled with what it holds, and checked by running
   the bundle runner's entry point in it without network.

The package index settings are the ones given, else pip's own configuration on this site (index URLs,
find-links folders and the CA bundle), so a site with its own index or wheel folder needs no flags.
Folders and ``file://`` indexes are mounted into the build at their own paths.

A build whose inputs (root file system, packages, pins, index settings, recipe) match the labels of the
existing image is skipped: the same inputs give the same image.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fdd_docker import site_packages
from fdd_docker.client import DockerClient, stream_command
from nvflare_fdd.envs import JobEnvironmentError

DEFAULT_TAG = "nvflare-fdd:latest"
DEBIAN_SUITES = {"3.11": "bookworm", "3.13": "trixie"}
DEBIAN_MIRROR = "http://deb.debian.org/debian"
ROOTFS_REPOSITORY = "nvflare-fdd-rootfs"
LABEL_PREFIX = "org.nvflare-fdd.base."
LABEL_VERSION = LABEL_PREFIX + "version"
LABEL_INPUTS = LABEL_PREFIX + "inputs"
LABEL_ROOTFS = "org.nvflare-fdd.rootfs.suite"
USER_CODE_UID = 10001
SHARE = "/usr/local/share/nvflare-fdd"
CA_IN_IMAGE = f"{SHARE}/ca-certificates.crt"
BUILD_DIR = "/fdd-build"
MANIFEST_MARK = "FDD-MANIFEST "
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Logger = Callable[[str], None]

INSTALL_SCRIPT = """\
set -eu
PY="$(command -v python{python} || true)"
if [ -z "$PY" ]; then
    echo "the image has no python{python}: start from an image with Python {python}, or pick --python" >&2
    exit 3
fi
# uv pip install --system installs into this Python: it is the image's own, not Debian's to manage
rm -f "$("$PY" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED"
[ -e /usr/local/bin/python ] || ln -s "$PY" /usr/local/bin/python
mkdir -p {share}
if [ -f {build}/ca.crt ]; then cp {build}/ca.crt {ca}; export SSL_CERT_FILE={ca}; fi
grep -q '^[^:]*:[^:]*:{uid}:' /etc/passwd || echo 'fdd:x:{uid}:{uid}:nvflare-fdd user code:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
grep -q '^[^:]*:[^:]*:{uid}:' /etc/group || echo 'fdd:x:{uid}:' >> /etc/group
export UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never
{build}/uv pip install --system --python "$PY" --compile-bytecode --index-strategy unsafe-best-match \\
    --constraint {build}/constraints.txt {index_flags} -r {build}/requirements.txt
"$PY" - <<'EOF' > {share}/image.json
import importlib.metadata as metadata, json, platform, torch
packages = sorted(f"{{d.metadata['Name']}}=={{d.version}}" for d in metadata.distributions())
print(json.dumps({{"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda or "",
                  "nvflare-fdd": metadata.version("nvflare-fdd"), "uv": metadata.version("uv"), "packages": packages}}))
EOF
echo "{mark}$(cat {share}/image.json)"
rm -rf /root/.cache /tmp/* 2>/dev/null || true
"""


@dataclass
class BaseImageSpec:
    """What goes into a base image.

    Attributes:
        tag: the image's tag; a second tag names its contents (``nvflare-fdd:0.1.0-py3.11-torch2.13.0-cpu``).
        python: the Python version (Debian's: 3.11 on bookworm, 3.13 on trixie; any with ``from_image``).
        torch: torch's version; default the one this site runs.
        cuda: torch's CUDA build from the package index; default the CPU build.
        from_image: start from this image (which has that Python) instead of Debian's packages.
        index_url: the package index; default pip's configuration, else PyPI.
        extra_index_urls: more indexes; default pip's configuration.
        find_links: wheel folders (or URLs); default pip's configuration.
        cert: a CA bundle for the index, kept in the image for job builds; default pip's or ``$SSL_CERT_FILE``.
        mirror: the Debian mirror for debootstrap.
        pin_site_versions: install the versions of this site's packages where nvflare-fdd needs them.
        rebuild: build even when an image with the same inputs exists.
        timeout: seconds each step may take.
    """

    tag: str = DEFAULT_TAG
    python: str = "3.11"
    torch: str = ""
    cuda: bool = False
    from_image: str = ""
    index_url: str = ""
    extra_index_urls: tuple[str, ...] | None = None
    find_links: tuple[str, ...] | None = None
    cert: str = ""
    mirror: str = DEBIAN_MIRROR
    pin_site_versions: bool = True
    rebuild: bool = False
    timeout: float = 3600


@dataclass
class BaseImage:
    """A built (or already current) base image."""

    tag: str
    image_id: str
    tags: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    reused: bool = False


def build_base_image(spec: BaseImageSpec, client: DockerClient | None = None, log: Logger = print) -> BaseImage:
    """Build the base image ``spec`` describes, or keep the existing one when its inputs are the same.

    Raises:
        JobEnvironmentError: a step failed; the message names it, the fix, and ends with its output.
    """
    client = client or DockerClient()
    started = time.monotonic()
    torch_version = spec.torch or site_packages.torch_version()
    settings = site_packages.index_settings(spec.index_url, spec.extra_index_urls, spec.find_links, spec.cert)
    torch_requirement = f"torch=={torch_version}" if spec.cuda else f"torch=={torch_version}+cpu"
    if not spec.cuda and not site_packages.has_torch_wheel(settings.find_links, torch_version, spec.python):
        settings.extra_index_urls.append(site_packages.TORCH_CPU_INDEX)
    with tempfile.TemporaryDirectory(prefix="fdd-base-") as work:
        build = Path(work)
        log(f"[1/4] root file system: {spec.from_image or f'Debian {_suite(spec.python)} with Python {spec.python}'}")
        source, source_id = _root_file_system(spec, client, build, log)
        log("[2/4] nvflare-fdd for the image")
        nvflare_fdd, fingerprint = site_packages.nvflare_fdd_requirement(build / "dist", f"{BUILD_DIR}/dist", settings, log)
        uv_version = site_packages.version("uv")
        requirements = f"{nvflare_fdd}\n{torch_requirement}\nuv=={uv_version}\n"
        constraints = site_packages.site_constraints() if spec.pin_site_versions else ""
        script = INSTALL_SCRIPT.format(
            python=spec.python, share=SHARE, build=BUILD_DIR, ca=CA_IN_IMAGE, uid=USER_CODE_UID, mark=MANIFEST_MARK,
            index_flags=" ".join(shlex.quote(flag) for flag in settings.uv_flags()),
        )  # fmt: skip
        inputs = _digest(source_id, script, requirements.replace(nvflare_fdd, fingerprint), constraints, settings.describe())
        previous = client.image_id(spec.tag)
        current = _current(client, spec.tag, inputs)
        if current is not None and not spec.rebuild:
            log(f"{spec.tag} is up to date (the same inputs built it); --rebuild builds it anew")
            return BaseImage(spec.tag, current["Id"], _tags(current), current["Config"]["Labels"] or {}, time.monotonic() - started, True)
        (build / "requirements.txt").write_text(requirements)
        (build / "constraints.txt").write_text(constraints)
        (build / "install.sh").write_text(script)
        shutil.copy2(site_packages.uv_binary(), build / "uv")
        if settings.cert:
            shutil.copy2(settings.cert, build / "ca.crt")
        log(f"[3/4] installing {nvflare_fdd.split(' @ ')[0]}, {torch_requirement}, uv=={uv_version} with uv")
        container = f"fdd-base-build-{secrets.token_hex(4)}"
        mounts = ["-v", f"{build}:{BUILD_DIR}:ro"]
        for folder in settings.mounted_folders():
            mounts += ["-v", f"{folder}:{folder}:ro"]
        try:
            code, output = client.stream(
                ["run", "--name", container, "--network", "host", *mounts, source, "sh", f"{BUILD_DIR}/install.sh"],
                "install the base image's packages", _progress(log), spec.timeout,
            )  # fmt: skip
            if code != 0:
                raise JobEnvironmentError(f"could not install the base image's packages (exit {code}):\n{output[-4000:]}", (), output)
            manifest = _manifest(output)
            labels = _labels(manifest, spec, source, inputs)
            tags = [spec.tag, _contents_tag(spec.tag, manifest, spec.cuda)]
            log(f"[4/4] saving the image as {', '.join(tags)}")
            changes = [f"ENV {name}={json.dumps(value)}" for name, value in _image_env(settings).items()]
            changes += [f"LABEL {name}={json.dumps(value)}" for name, value in labels.items()]
            changes += ["USER root", "WORKDIR /", 'CMD ["python"]']
            commit = ["commit", *[part for change in changes for part in ("--change", change)], container, tags[0]]
            client.check(commit, f"save the image {tags[0]}", spec.timeout)
        finally:
            client.run(["rm", "--force", container], "remove the build container")
    for extra in tags[1:]:
        client.check(["tag", tags[0], extra], f"tag the image {extra}")
    _check_runner(client, tags[0])
    image_id = client.image_id(tags[0]) or ""
    if previous and previous != image_id:
        _remove_if_untagged(client, previous, log)
    return BaseImage(tags[0], image_id, tags, labels, time.monotonic() - started)


def _remove_if_untagged(client: DockerClient, image_id: str, log: Logger) -> None:
    """Remove the image a rebuild replaced, unless it keeps a tag or job images build on it."""
    images = client.inspect_images([image_id])
    if images and not images[0].get("RepoTags"):
        code, _ = client.run(["image", "rm", image_id], "remove the replaced base image")
        log(f"      removed the replaced image {image_id[7:19]}" if code == 0 else
            f"      kept the replaced image {image_id[7:19]}: job images build on it (fdd env prune removes them)")  # fmt: skip


def _progress(log: Logger) -> Logger:
    def show(line: str) -> None:
        if not line.startswith(MANIFEST_MARK):
            log(f"      {line}")

    return show


def _suite(python: str) -> str:
    if python not in DEBIAN_SUITES:
        known = ", ".join(f"{version} ({suite})" for version, suite in DEBIAN_SUITES.items())
        raise JobEnvironmentError(
            f"Debian has Python {known}, not {python}: pick one of those, or start from an image with Python {python} (--from IMAGE)"
        )
    return DEBIAN_SUITES[python]


def _root_file_system(spec: BaseImageSpec, client: DockerClient, work: Path, log: Logger) -> tuple[str, str]:
    """``(image, its ID)`` to install into: ``spec.from_image``, or Debian's root file system (built once)."""
    if spec.from_image:
        image_id = client.image_id(spec.from_image)
        if image_id is None:
            raise JobEnvironmentError(f"the image {spec.from_image!r} is not on this host: `docker pull` it first")
        return spec.from_image, image_id
    suite = _suite(spec.python)
    tag = f"{ROOTFS_REPOSITORY}:{suite}"
    image_id = client.image_id(tag)
    if image_id is not None and not spec.rebuild:
        log(f"      reusing {tag} (remove it, or --rebuild, to fetch Debian's packages anew)")
        return tag, image_id
    if shutil.which("debootstrap") is None:
        raise JobEnvironmentError("debootstrap is not installed: apt-get install debootstrap, or start from an image (--from IMAGE)")
    if os.geteuid() != 0:
        raise JobEnvironmentError("debootstrap needs root: run `fdd env build-base` as root, or start from an image (--from IMAGE)")
    root = work / "rootfs"
    command = ["debootstrap", "--variant=minbase", "--include=python3,ca-certificates", suite, str(root), spec.mirror]
    code, output = stream_command(command, "fetch Debian's packages", lambda line: log(f"      {line}"), spec.timeout)
    if code != 0:
        raise JobEnvironmentError(f"debootstrap failed (exit {code}); is {spec.mirror} reachable?\n{output[-4000:]}", (), output)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):  # downloaded packages and indexes: not needed
        for path in (root / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    changes = [f"ENV PATH={PATH}", "ENV LANG=C.UTF-8", f"LABEL {LABEL_ROOTFS}={suite}", 'CMD ["bash"]']
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    try:
        code, output = client.run(
            ["import", *[part for change in changes for part in ("--change", change)], "-", tag],
            f"import the root file system as {tag}", spec.timeout, stdin=tar.stdout,
        )  # fmt: skip
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    shutil.rmtree(root, ignore_errors=True)
    if code != 0:
        raise JobEnvironmentError(f"could not import the root file system as {tag}:\n{output[-4000:]}", (), output)
    return tag, client.image_id(tag) or ""


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def _current(client: DockerClient, tag: str, inputs: str) -> dict | None:
    """The image tagged ``tag`` when the same inputs built it."""
    if client.image_id(tag) is None:
        return None
    [image] = client.inspect_images([tag])
    labels = image.get("Config", {}).get("Labels") or {}
    return image if labels.get(LABEL_INPUTS) == inputs else None


def _tags(image: dict) -> list[str]:
    return list(image.get("RepoTags") or [])


def _manifest(output: str) -> dict:
    for line in reversed(output.splitlines()):
        if line.startswith(MANIFEST_MARK):
            return json.loads(line[len(MANIFEST_MARK) :])
    raise JobEnvironmentError(f"the base image's install did not report what it installed:\n{output[-4000:]}", (), output)


def _labels(manifest: dict, spec: BaseImageSpec, source: str, inputs: str) -> dict[str, str]:
    return {
        LABEL_VERSION: manifest["nvflare-fdd"],
        LABEL_PREFIX + "python": manifest["python"],
        LABEL_PREFIX + "torch": manifest["torch"],
        LABEL_PREFIX + "cuda": manifest["cuda"] or "none",
        LABEL_PREFIX + "uv": manifest["uv"],
        LABEL_PREFIX + "source": source,
        LABEL_PREFIX + "packages": str(len(manifest["packages"])),
        LABEL_INPUTS: inputs,
    }


def _contents_tag(tag: str, manifest: dict, cuda: bool) -> str:
    """``repository:<nvflare-fdd>-py<X.Y>-torch<version>-<cpu|cuda>``, the repository of ``tag``."""
    repository = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
    python = ".".join(manifest["python"].split(".")[:2])
    torch = manifest["torch"].split("+")[0]
    return f"{repository}:{manifest['nvflare-fdd']}-py{python}-torch{torch}-{'cuda' if cuda else 'cpu'}"


def _image_env(settings: site_packages.IndexSettings) -> dict[str, str]:
    """The image's variables: job builds compile bytecode, trust the site's CA and use its (http) indexes."""
    env = {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "UV_COMPILE_BYTECODE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    if settings.cert:
        env["SSL_CERT_FILE"] = CA_IN_IMAGE
    env.update(settings.image_env())
    return env


def _check_runner(client: DockerClient, tag: str) -> None:
    """The bundle runner starts in the image as user code would: no network, read-only, not root."""
    check = [
        "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", "--user", f"{USER_CODE_UID}:{USER_CODE_UID}",
        tag, "python", "-c", "import nvflare_fdd.client.worker, torch, safetensors",
    ]  # fmt: skip
    code, output = client.run(check, f"check the image {tag}", 300)
    if code != 0:
        raise JobEnvironmentError(f"the image {tag} was built, but its bundle runner does not start:\n{output[-4000:]}", (), output)
