"""Bundles uploaded as ``.zip`` archives: listing them safely and extracting them to a flat folder.

An archive is refused when an entry could land outside the extraction folder (absolute path,
``..``), is a symbolic link or encrypted, when two entries share a name (also when the names
differ only in case), when an entry sits in a subfolder, or when the declared sizes add up to
more than a bundle can hold (zip bomb guard; extraction also stops if an entry yields more bytes
than it declares).

Zipping a folder usually gives entries like ``mybundle/model.py``. When *all* entries are inside
one top folder, that folder is taken as the bundle: its contents are the bundle's files.
``__MACOSX/``, ``__pycache__/`` and ``.DS_Store`` entries are skipped.
"""

from __future__ import annotations

import contextlib
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nvflare_fdd.bundle.contract import (
    IGNORED_FOLDERS,
    IGNORED_NAMES,
    MAX_WEIGHTS_BYTES,
    Problem,
    format_size,
)
from nvflare_fdd.bundle.rules_files import subfolder_problem
from nvflare_fdd.errors import ArchiveError, BundleError

ARCHIVE_MARGIN_BYTES = 256 << 20
"""Room for code, vocabularies and configs on top of the weight limit."""
MAX_ARCHIVE_BYTES = MAX_WEIGHTS_BYTES + ARCHIVE_MARGIN_BYTES
"""Most uncompressed bytes an archive may declare (and yield) in total."""

_CHUNK_BYTES = 1 << 20
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveListing:
    """What a bundle archive holds, read from its directory without extracting anything.

    Attributes:
        members: flat bundle file name -> the entry to extract for it (safe entries only).
        problems: one problem per unsafe, duplicate or nested entry, or for the archive as a whole.
        extractable: ``False`` when nothing should be extracted at all (unreadable, too large).
        top_folder: the single top folder whose contents are the bundle, if the zip has one.
    """

    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()
    extractable: bool = True
    top_folder: str | None = None


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a file to treat as a zip bundle (a ``.zip`` name, or zip content)."""
    return path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path))


def list_archive(path: Path) -> ArchiveListing:
    """Reads a bundle archive's directory and applies the archive rules.

    Args:
        path: the ``.zip`` file.

    Returns:
        the safe flat members and the problems found; nothing is extracted.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        problem = Problem(path.name, f"is not a readable zip archive ({error}): create the zip again",
                          code="bundle.zip_unreadable", params={"error": str(error)})
        return ArchiveListing(problems=(problem,), extractable=False)
    problems: list[Problem] = []
    kept: list[tuple[list[str], zipfile.ZipInfo]] = []
    for info in infos:
        parts = [part for part in info.filename.replace("\\", "/").split("/") if part not in ("", ".")]
        if unsafe := _unsafe_reason(info):
            problems.append(Problem(info.filename, unsafe[1], code=unsafe[0]))
        elif parts and not any(part in IGNORED_FOLDERS for part in parts) and parts[-1] not in IGNORED_NAMES:
            kept.append((parts, info))
    top_folder = _single_top_folder(kept)
    if top_folder:
        kept = [(parts[1:], info) for parts, info in kept if len(parts) > 1]
    members, flat_problems = _flat_members(kept, top_folder)
    problems.extend(flat_problems)
    declared = sum(info.file_size for info in members.values())
    if declared > MAX_ARCHIVE_BYTES:
        problems.append(
            Problem(
                path.name,
                f"the archive declares {format_size(declared)} of uncompressed files, more than a bundle can "
                f"hold (1 GB of weights plus {format_size(ARCHIVE_MARGIN_BYTES)}): remove large files",
                code="bundle.zip_too_large", params={"declared": format_size(declared), "margin": format_size(ARCHIVE_MARGIN_BYTES)},
            )
        )
        return ArchiveListing(members, tuple(problems), extractable=False, top_folder=top_folder)
    return ArchiveListing(members, tuple(problems), top_folder=top_folder)


def extract_members(path: Path, listing: ArchiveListing, destination: Path) -> None:
    """Writes the listing's members into ``destination`` as plain files, counting every byte.

    Args:
        path: the ``.zip`` file the listing was read from.
        listing: its listing (``list_archive``), with ``extractable`` true.
        destination: an empty folder.

    Raises:
        ArchiveError: an entry cannot be read, or yields more bytes than it declares.
    """
    if not listing.extractable:
        raise ArchiveError(str(path), list(listing.problems))
    written_total = 0
    with zipfile.ZipFile(path) as archive:
        for name, info in listing.members.items():
            try:
                with archive.open(info) as source, open(destination / name, "xb") as sink:
                    written = 0
                    while chunk := source.read(_CHUNK_BYTES):
                        written += len(chunk)
                        written_total += len(chunk)
                        if written > info.file_size or written_total > MAX_ARCHIVE_BYTES:
                            message = (
                                "holds more data than the archive declares (corrupt or crafted zip): "
                                "create the zip again"
                            )
                            raise ArchiveError(str(path), [Problem(info.filename, message, code="bundle.zip_overflow")])
                        sink.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as error:
                message = f"cannot be extracted ({error}): create the zip again with standard (deflate) compression"
                problem = Problem(info.filename, message, code="bundle.zip_extract_failed", params={"error": str(error)})
                raise ArchiveError(str(path), [problem]) from error


@contextlib.contextmanager
def open_bundle(path: str | Path) -> Iterator[Path]:
    """Gives a bundle as a flat folder: a folder as it is, a zip safely extracted to a temporary one.

    The temporary folder is removed when the ``with`` block ends. A folder is not validated here;
    use ``validate_bundle`` for that.

    Args:
        path: a bundle folder or ``.zip`` archive.

    Yields:
        the folder holding the bundle's files.

    Raises:
        ArchiveError: the archive is unreadable or breaks an archive rule (all problems listed).
        BundleError: ``path`` is neither a folder nor a zip archive.
    """
    path = Path(path)
    if path.is_dir():
        yield path
        return
    if not is_archive(path):
        raise BundleError(f"{path}: not a bundle: give a folder or a .zip archive")
    listing = list_archive(path)
    if listing.problems:
        raise ArchiveError(str(path), list(listing.problems))
    with tempfile.TemporaryDirectory(prefix="fdd-bundle-") as temporary:
        extract_members(path, listing, Path(temporary))
        yield Path(temporary)


def _unsafe_reason(info: zipfile.ZipInfo) -> tuple[str, str] | None:
    """``(code, message)`` when the entry is unsafe to extract."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        return "bundle.zip_absolute", "absolute path in the archive: zip the bundle's files by their bare names"
    if ".." in name.split("/"):
        return "bundle.zip_dotdot", "the path leaves the bundle folder ('..'): zip the bundle's files by their bare names"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "bundle.zip_symlink", "is a symbolic link: zip a copy of the file instead"
    if info.flag_bits & 0x1:
        return "bundle.zip_encrypted", "is encrypted: create the zip without a password"
    return None


def _single_top_folder(kept: list[tuple[list[str], zipfile.ZipInfo]]) -> str | None:
    firsts = {parts[0] for parts, _ in kept}
    if len(firsts) != 1:
        return None
    only_dir_entries = all(len(parts) > 1 or info.is_dir() for parts, info in kept)
    return firsts.pop() if only_dir_entries else None


def _flat_members(
    kept: list[tuple[list[str], zipfile.ZipInfo]], top_folder: str | None
) -> tuple[dict[str, zipfile.ZipInfo], list[Problem]]:
    prefix = f"{top_folder}/" if top_folder else ""
    members: dict[str, zipfile.ZipInfo] = {}
    by_lower_name: dict[str, str] = {}
    subfolders: dict[str, None] = {}
    reported: set[str] = set()
    problems: list[Problem] = []
    for parts, info in kept:
        if len(parts) > 1 or info.is_dir():
            subfolders.setdefault(f"{prefix}{parts[0]}/")
            continue
        name = parts[0]
        if name in members:
            if name not in reported:
                reported.add(name)
                problems.append(Problem(info.filename, "the archive holds this name more than once: keep one copy",
                                        code="bundle.zip_duplicate"))
        elif name.lower() in by_lower_name:
            other = by_lower_name[name.lower()]
            problems.append(
                Problem(
                    info.filename,
                    f"differs from {other} only in case; the two collide on some systems: rename or remove one",
                    code="bundle.zip_case_collision", params={"other": other},
                )
            )
        else:
            members[name] = info
            by_lower_name[name.lower()] = name
    problems.extend(subfolder_problem(folder) for folder in subfolders)
    return members, problems
