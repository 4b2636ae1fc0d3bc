"""What a pretrained model is: a plain name, and a manifest of files (relative path, size, sha256).

A model is a folder laid out like a Hugging Face model repository (subfolders allowed) or one
file. Its *digest* is the sha256 of its manifest, so two names with the same content share one
cache folder, and a changed model is a new folder. Every path is checked where it enters — when a
folder is added, and again when a site receives a manifest — so a path can never leave the
model's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvflare_fdd.errors import PretrainedError
from nvflare_fdd.platform.records import PretrainedFile

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PART = re.compile(r"^[A-Za-z0-9_.+=@,~-][A-Za-z0-9_.+=@,~ -]*$")
MAX_PART = 255
MAX_PATH = 1024
MAX_DEPTH = 32
KINDS = ("folder", "file")
SKIPPED_DIRS = (".git", ".cache")
"""Left out of a folder: version control and ``huggingface_hub``'s download bookkeeping, not the model."""
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MissingPretrained(PretrainedError):
    """The platform's store has no model of that name; the message names it and says how to add it."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(missing_message(name))


def missing_message(name: str) -> str:
    """What a job, the server or a user is told about a name the store lacks."""
    return f"no pretrained model named {name!r} in the platform's store; add it with `fdd pretrained add {name} PATH`"


def check_name(name: str) -> str:
    """``name`` if it is a plain model name (letters, digits, ``.``, ``_``, ``-``; starting with a letter or digit).

    Raises:
        PretrainedError: naming the bad name and the rule.
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PretrainedError(
            f"pretrained model name {name!r} must be 1–128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (a plain name, never a path), e.g. chemberta-77M"
        )
    return name


def check_relative_path(path: str) -> str:
    """``path`` if it is a safe relative path inside a model's folder (``/``-separated, no ``..``, no odd names).

    Raises:
        PretrainedError: naming the path and what is wrong with it.
    """
    if not isinstance(path, str) or not path:
        raise PretrainedError("a pretrained model's file has an empty path")
    if path.startswith("/") or "\\" in path or "\0" in path or re.match(r"^[A-Za-z]:", path):
        raise PretrainedError(f"{path!r}: a pretrained model's paths are relative, '/'-separated, inside its folder")
    if len(path.encode()) > MAX_PATH:
        raise PretrainedError(f"{path[:80]!r}...: paths inside a pretrained model are at most {MAX_PATH} bytes")
    parts = path.split("/")
    if len(parts) > MAX_DEPTH:
        raise PretrainedError(f"{path!r}: folders nest at most {MAX_DEPTH} deep inside a pretrained model")
    for part in parts:
        if part in ("", ".", ".."):
            raise PretrainedError(f"{path!r}: '..', '.' and empty parts are not allowed in a pretrained model's paths")
        if len(part.encode()) > MAX_PART or not PART.fullmatch(part) or part.endswith((" ", ".")):
            raise PretrainedError(
                f"{path!r}: the name {part!r} is not allowed; use letters, digits and _ . + = @ , ~ - "
                "(no control characters, no leading or trailing spaces, not ending in '.')"
            )
    return path


def manifest_digest(kind: str, files: Iterable[PretrainedFile]) -> str:
    """The sha256 naming a model's content: its kind and every file's path, size and sha256, in path order."""
    listed = sorted([f.path, int(f.size), f.sha256] for f in files)
    text = json.dumps({"kind": kind, "files": listed}, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What a site needs to fetch and verify a model: its name, kind, digest and files."""

    name: str
    kind: str
    digest: str
    files: tuple[PretrainedFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "digest": self.digest,
                "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files]}  # fmt: skip

    @classmethod
    def of(cls, model) -> Manifest:
        """The manifest of a stored ``PretrainedModel`` record."""
        return cls(model.name, model.kind, model.digest, tuple(model.files))

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """A manifest received from elsewhere, every field checked (paths, hashes, and the digest over them).

        Raises:
            PretrainedError: the manifest is malformed or its digest does not match its files.
        """
        try:
            name, kind, digest = check_name(data["name"]), data["kind"], data["digest"]
            files = tuple(PretrainedFile(check_relative_path(f["path"]), int(f["size"]), str(f["sha256"]))
                          for f in data["files"])  # fmt: skip
        except (TypeError, KeyError, ValueError) as exc:
            raise PretrainedError(f"malformed pretrained-model manifest: {exc!r}") from None
        if kind not in KINDS or not files or (kind == "file" and len(files) != 1):
            raise PretrainedError(f"malformed pretrained-model manifest for {name!r}: kind {kind!r}, {len(files)} files")
        if any(f.size < 0 or not SHA256.fullmatch(f.sha256) for f in files) or len({f.path for f in files}) != len(files):
            raise PretrainedError(f"malformed pretrained-model manifest for {name!r}: bad sizes, hashes or repeated paths")
        _check_no_prefix_clash(name, [f.path for f in files])
        if manifest_digest(kind, files) != digest:
            raise PretrainedError(f"the manifest of pretrained model {name!r} does not match its digest {digest}")
        return cls(name, kind, digest, files)


@dataclass(frozen=True)
class SourceFiles:
    """A model to add, as found on disk: its kind, each file's relative path → absolute path, and what was left out."""

    kind: str
    files: dict[str, Path]
    sizes: dict[str, int]
    skipped: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(self.sizes.values())


def scan_source(path: str | Path, max_bytes: int | None = None) -> SourceFiles:
    """The files of a model to add: ``path`` is a folder (all files below it) or one file.

    Symbolic links are followed only to files inside the folder; ``.git`` folders and ``.cache``
    at the top (``huggingface_hub``'s bookkeeping) are left out and listed in ``skipped``.

    Args:
        max_bytes: the store's limit for one model; ``None`` for none.

    Raises:
        PretrainedError: the path is missing or empty, a name is not allowed, a link leaves the folder,
            a file is not a regular file, or the model is larger than ``max_bytes``.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise PretrainedError(f"{source}: no such file or folder")
    if source.is_file():
        name = source.name
        check_relative_path(name)
        if "/" in name:
            raise PretrainedError(f"{source}: a single file's name cannot hold '/'")
        single = SourceFiles("file", {name: source.resolve()}, {name: source.stat().st_size})
        return _within_limit(single, source, max_bytes)
    if not source.is_dir():
        raise PretrainedError(f"{source}: not a regular file or folder")
    root = source.resolve()
    files: dict[str, Path] = {}
    sizes: dict[str, int] = {}
    skipped: list[str] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        relative_folder = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative_folder == "." else relative_folder + "/"
        for name in sorted(dirs):
            full = Path(folder) / name
            if name in SKIPPED_DIRS and (name == ".git" or not prefix):
                skipped.append(prefix + name + "/")
                dirs.remove(name)
            elif full.is_symlink():
                raise PretrainedError(f"{full}: a link to a folder; copy the folder in its place (e.g. `cp -rL`)")
        dirs.sort()
        for name in sorted(names):
            relative = check_relative_path(prefix + name)
            files[relative], sizes[relative] = _regular_file(Path(folder) / name, root)
    if not files:
        raise PretrainedError(f"{source}: the folder has no files")
    _check_no_prefix_clash(str(source), list(files))
    return _within_limit(SourceFiles("folder", files, sizes, skipped), source, max_bytes)


def _regular_file(path: Path, root: Path) -> tuple[Path, int]:
    try:
        target = path.resolve() if path.is_symlink() else path
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise PretrainedError(f"{path}: a link that cannot be followed: {exc}") from None
    if path.is_symlink() and root not in target.parents:
        raise PretrainedError(
            f"{path}: a link to {target}, outside the folder; give a folder of real files (Hugging Face's cache "
            "links its snapshots to blobs: copy it with `cp -rL`, or download with `hf download --local-dir`)"
        )
    try:
        info = target.stat()
    except OSError as exc:
        raise PretrainedError(f"{path}: cannot be read: {exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise PretrainedError(f"{path}: not a regular file (a link to nowhere, a pipe or a device)")
    return target, info.st_size


def _check_no_prefix_clash(where: str, paths: list[str]) -> None:
    """A path may not be both a file and a folder of others (``a`` and ``a/b``)."""
    present = set(paths)
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in present:
                raise PretrainedError(f"{where}: {'/'.join(parts[:depth])!r} is both a file and a folder")


def _within_limit(found: SourceFiles, source: Path, max_bytes: int | None) -> SourceFiles:
    if max_bytes is not None and found.size > max_bytes:
        raise PretrainedError(
            f"{source}: {found.size / 2**30:.2f} GiB is more than the store takes for one model "
            f"({max_bytes / 2**30:.2f} GiB); the operator raises it with `pretrained_max_gb` in platform.yaml"
        )
    return found
