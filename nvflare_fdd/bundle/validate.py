"""Validating a user bundle (DESIGN §2): every rule, every problem, without running user code.

Python files are read as text and parsed with ``ast``; nothing from the bundle is imported or
executed. A zip bundle is checked against the archive rules first; its safe top-level entries
are then extracted to a temporary folder and checked like a folder bundle, so one run reports
everything at once.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from nvflare_fdd.bundle.archive import extract_members, is_archive, list_archive
from nvflare_fdd.bundle.contract import CONFIG_FILE, Problem
from nvflare_fdd.bundle.pysource import parse_sources
from nvflare_fdd.bundle.requirements import FILE as REQUIREMENTS_FILE
from nvflare_fdd.bundle.requirements import check_requirements, index_warnings
from nvflare_fdd.bundle.rules_config import check_config
from nvflare_fdd.bundle.rules_files import check_file_names, check_weights, scan_folder, weights_total
from nvflare_fdd.bundle.rules_model import check_model_class
from nvflare_fdd.bundle.rules_platform import check_platform_imports, cuda_warnings
from nvflare_fdd.bundle.rules_python import check_entry_points, check_relative_imports
from nvflare_fdd.errors import ArchiveError, BundleError


@dataclass(frozen=True)
class BundleReport:
    """The outcome of validating one bundle.

    Attributes:
        problems: every problem found; empty when the bundle is valid.
        files: the bundle's usable top-level file names, sorted.
        weights_bytes: total size of its weight files.
    """

    problems: tuple[Problem, ...]
    files: tuple[str, ...] = ()
    weights_bytes: int = 0
    warnings: tuple[Problem, ...] = ()
    """Things that may fail on some sites but do not make the bundle invalid."""

    @property
    def ok(self) -> bool:
        """Whether the bundle is valid."""
        return not self.problems


def validate_bundle(path: str | Path, model_class: str | None = None) -> list[Problem]:
    """Checks a bundle folder or ``.zip`` against the bundle contract.

    Args:
        path: the bundle folder or zip archive.
        model_class: the class name the model is (to be) registered with; when given,
            ``model.py`` must define it as a ``torch.nn.Module`` subclass.

    Returns:
        all problems found; an empty list means the bundle is valid.

    Raises:
        BundleError: ``path`` does not exist or is neither a folder nor a zip archive.
    """
    return list(inspect_bundle(path, model_class).problems)


def inspect_bundle(path: str | Path, model_class: str | None = None) -> BundleReport:
    """Like ``validate_bundle``, but also says which files the bundle holds and its weight total.

    Args:
        path: the bundle folder or zip archive.
        model_class: see ``validate_bundle``.

    Returns:
        the report.

    Raises:
        BundleError: ``path`` does not exist or is neither a folder nor a zip archive.
    """
    path = Path(path)
    if path.is_dir():
        return _inspect_folder(path, model_class)
    if not path.exists():
        raise BundleError(f"{path}: no such folder or file")
    if not is_archive(path):
        raise BundleError(f"{path}: not a bundle: give a folder or a .zip archive")
    listing = list_archive(path)
    if not listing.extractable:
        return BundleReport(listing.problems)
    with tempfile.TemporaryDirectory(prefix="fdd-validate-") as temporary:
        try:
            extract_members(path, listing, Path(temporary))
        except ArchiveError as error:
            return BundleReport((*listing.problems, *error.problems))
        report = _inspect_folder(Path(temporary), model_class)
    return BundleReport((*listing.problems, *report.problems), report.files, report.weights_bytes, report.warnings)


def _inspect_folder(folder: Path, model_class: str | None) -> BundleReport:
    files, problems = scan_folder(folder)
    warnings: list[Problem] = []
    names = sorted(files)
    problems.extend(check_file_names(names))
    problems.extend(check_weights(files))
    if REQUIREMENTS_FILE in files and (text := _read_text(folder, REQUIREMENTS_FILE, problems)) is not None:
        problems.extend(check_requirements(text))
        warnings.extend(index_warnings(text))
    trees, syntax_problems = parse_sources(folder, names)
    problems.extend(syntax_problems)
    problems.extend(check_relative_imports(trees))
    problems.extend(check_entry_points(trees))
    problems.extend(check_platform_imports(trees))
    warnings.extend(cuda_warnings(trees))
    if model_class is not None:
        problems.extend(check_model_class(trees, model_class))
    if CONFIG_FILE in files and (text := _read_text(folder, CONFIG_FILE, problems)) is not None:
        problems.extend(check_config(text))
    return BundleReport(tuple(problems), tuple(names), weights_total(files), tuple(warnings))


def _read_text(folder: Path, name: str, problems: list[Problem]) -> str | None:
    try:
        return (folder / name).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(Problem(name, f"is not UTF-8 text (byte {error.start}): save it as UTF-8", code="bundle.not_utf8",
                                params={"byte": error.start}))
        return None
