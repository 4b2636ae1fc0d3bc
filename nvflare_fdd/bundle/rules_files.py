"""Rules about the bundle's file listing: layout, names, types and the weight limit.

These rules look only at names and sizes; no file is opened.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from nvflare_fdd.bundle.contract import (
    CONFIG_FILE,
    IGNORED_FOLDERS,
    IGNORED_NAMES,
    MAX_WEIGHTS_BYTES,
    OTHER_SUFFIXES,
    REQUIRED_FILES,
    WEIGHT_SUFFIXES,
    Problem,
    format_size,
)

SUBFOLDER_MESSAGE = (
    "subfolders are not allowed: the platform runs the bundle as one flat folder and cannot "
    "import or find files inside one; move the files you need to the top level, with unique names"
)

SUBFOLDER_EXAMPLE = "from utils.additional_utils import ..."
"""The guide's own example of code that needs a subfolder."""


def subfolder_problem(folder: str) -> Problem:
    """The problem of a subfolder in a bundle (a dropped folder, a zip entry, a folder bundle)."""
    return Problem(folder, SUBFOLDER_MESSAGE, code="bundle.subfolder", params={"folder": folder, "example": SUBFOLDER_EXAMPLE})


_ALLOWED = (
    f"allowed types are weights ({' '.join(WEIGHT_SUFFIXES)}) and other files ({' '.join(OTHER_SUFFIXES)})"
)

# suffix -> what to do instead, for the types users upload most often by mistake
_TYPE_HINTS = {
    "": "give it one of the allowed suffixes or remove it",
    ".bin": "save the weights as .safetensors or .pt",
    ".csv": "remove it: training data comes from each site's KDA, never from the bundle",
    ".xlsx": "remove it: training data comes from each site's KDA, never from the bundle",
    ".ipynb": "export the notebook as a .py file",
    ".pyc": "remove compiled files; the .py source is enough",
    ".sh": "remove it: shell scripts are never run; list packages in requirements.txt",
    ".whl": "remove it: reference the wheel by URL in requirements.txt (pkg @ https://...)",
    ".zip": "upload the files themselves, not an archive inside the bundle",
}

_CONFIG_LOOKALIKE_STEMS = frozenset({"config", "configs"})

# standard-library names no user code path imports; a helper with that name is harmless
_HARMLESS_STDLIB = frozenset({"test", "this", "antigravity", "idlelib", "turtledemo", "__phello__"})
KEY_PACKAGES = frozenset(
    {
        "torch", "torchvision", "torchaudio", "numpy", "pandas", "scipy", "sklearn", "yaml",
        "omegaconf", "safetensors", "nvflare", "nvflare_fdd", "transformers", "peft", "datasets",
        "tokenizers", "accelerate", "lightning", "pytorch_lightning", "rdkit", "datamol", "tqdm",
        "matplotlib", "torch_geometric", "dgl",
    }
)  # fmt: skip
"""Third-party packages the platform or typical bundles import; a helper must not take their name."""
STARTUP_HOOKS = frozenset({"sitecustomize", "usercustomize"})
"""Modules Python imports at start-up from anywhere on its path: a bundle file of that name would run in NVFlare's
own processes, which put the job's folder on their path."""
SHADOWING_NAMES = (frozenset(sys.stdlib_module_names) - _HARMLESS_STDLIB) | KEY_PACKAGES | STARTUP_HOOKS


def odd_name_reason(name: str) -> str | None:
    """Says why a file name cannot be carried safely to every site, or ``None`` when it can.

    Args:
        name: a bare file name (no folder part expected).

    Returns:
        a message naming the problem and the fix, or ``None``.
    """
    found = _odd_name(name)
    return found[1] if found else None


def _odd_name(name: str) -> tuple[str, str] | None:
    """``(code, message)`` of ``odd_name_reason``."""
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "bundle.name_control", "the name contains control characters: rename the file"
    if "/" in name or "\\" in name:
        return "bundle.name_separator", "the name contains a path separator: rename the file without '/' or '\\'"
    if name.startswith("-"):
        return "bundle.name_dash", "the name starts with '-', which tools read as an option: rename the file"
    return None


def scan_folder(folder: Path) -> tuple[dict[str, int], list[Problem]]:
    """Lists a bundle folder's top-level files and reports entries that cannot be part of a bundle.

    ``__pycache__/`` folders and ``.DS_Store`` files are skipped without a problem.

    Args:
        folder: the bundle folder.

    Returns:
        ``(files, problems)``: the usable files as name -> size in bytes, and one problem per
        subfolder, link, special file, oddly named or hidden file.
    """
    files: dict[str, int] = {}
    problems: list[Problem] = []
    for entry in sorted(os.scandir(folder), key=lambda item: item.name):
        name = entry.name
        if name in IGNORED_NAMES or (name in IGNORED_FOLDERS and entry.is_dir(follow_symlinks=False)):
            continue
        if entry.is_symlink():
            problems.append(Problem(name, "is a symbolic link: replace it with a copy of the file", code="bundle.symlink"))
        elif entry.is_dir():
            problems.append(subfolder_problem(f"{name}/"))
        elif not entry.is_file():
            problems.append(Problem(name, "is not a regular file: remove it", code="bundle.not_regular"))
        elif odd := _odd_name(name):
            problems.append(Problem(name, odd[1], code=odd[0]))
        elif name.startswith("."):
            problems.append(Problem(name, f"hidden files are not allowed ({_ALLOWED}): remove it", code="bundle.hidden"))
        else:
            files[name] = entry.stat().st_size
    return files, problems


def check_file_names(names: Iterable[str]) -> list[Problem]:
    """Checks the required files, the config file name, file types and module names.

    Args:
        names: the bundle's top-level file names.

    Returns:
        the problems found, in a stable order.
    """
    names = sorted(names)
    problems = [problem for name in names if (problem := _type_problem(name))]
    problems.extend(_missing_required(names))
    problems.extend(_config_lookalikes(names))
    problems.extend(_shadowing(names))
    return problems


def weights_total(files: dict[str, int]) -> int:
    """Sums the sizes of the weight files (``WEIGHT_SUFFIXES``) among ``files`` (name -> bytes)."""
    return sum(size for name, size in files.items() if _suffix(name) in WEIGHT_SUFFIXES)


def check_weights(files: dict[str, int]) -> list[Problem]:
    """Reports weight files that together exceed ``MAX_WEIGHTS_BYTES`` (name -> size in bytes)."""
    weights = {name: size for name, size in files.items() if _suffix(name) in WEIGHT_SUFFIXES}
    total = sum(weights.values())
    if total <= MAX_WEIGHTS_BYTES:
        return []
    largest = max(weights, key=lambda name: (weights[name], name))
    listing = ", ".join(f"{name} {format_size(size)}" for name, size in sorted(weights.items()))
    shown = format_size(total)
    if shown == format_size(MAX_WEIGHTS_BYTES):
        shown = f"{total:,} bytes"  # just over the limit: "1.00 GB" would not show why
    return [
        Problem(
            largest,
            f"weight files total {shown} ({listing}), over the 1 GB limit ({MAX_WEIGHTS_BYTES:,} bytes): "
            "remove or shrink them (e.g. save only trainable weights, or use half precision)",
            code="bundle.weights_too_large", params={"total": shown, "listing": listing},
        )
    ]


def _suffix(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _type_problem(name: str) -> Problem | None:
    suffix = _suffix(name)
    if suffix in WEIGHT_SUFFIXES or suffix in OTHER_SUFFIXES:
        return None
    shown = suffix or "(no suffix)"
    hint = _TYPE_HINTS.get(suffix, "remove it or convert it to an allowed type")
    kind = {"": "no_suffix", ".xlsx": "data", ".csv": "data"}.get(suffix, suffix[1:] if suffix in _TYPE_HINTS else "other")
    return Problem(name, f"file type {shown} is not allowed ({_ALLOWED}): {hint}", code=f"bundle.type_not_allowed.{kind}",
                   params={"suffix": shown})


def _missing_required(names: list[str]) -> list[Problem]:
    present = set(names)
    candidates = {name.lower(): name for name in names if name not in REQUIRED_FILES and name != CONFIG_FILE}
    problems = []
    for required in REQUIRED_FILES:
        if required in present:
            continue
        message = f"required file is missing (a bundle needs {', '.join(REQUIRED_FILES)})"
        close = difflib.get_close_matches(required, list(candidates), n=1, cutoff=0.75)
        params = {"file": required, "required": ", ".join(REQUIRED_FILES)}
        if close:
            lookalike = candidates.pop(close[0])
            message += f"; {lookalike} looks like it: rename it to {required}"
            problem = Problem(required, message, code="bundle.missing_lookalike", params={**params, "lookalike": lookalike})
        else:
            message += f": add {required}"
            problem = Problem(required, message, code="bundle.missing", params=params)
        problems.append(problem)
    return problems


def _config_lookalikes(names: list[str]) -> list[Problem]:
    if CONFIG_FILE in names:
        return []
    return [
        Problem(
            name,
            f"only a file named exactly {CONFIG_FILE} is read as the config, so this one would be "
            f"ignored: rename it to {CONFIG_FILE}",
            code="bundle.config_lookalike", params={"config": CONFIG_FILE},
        )
        for name in names
        if _suffix(name) in (".yaml", ".yml") and PurePosixPath(name).stem.lower() in _CONFIG_LOOKALIKE_STEMS
    ]


def _shadowing(names: list[str]) -> list[Problem]:
    return [
        Problem(
            name,
            f"a helper named {name} hides the '{name[:-3]}' module that Python, the platform or "
            "your own imports need: rename it (e.g. my_" + name + ")",
            code="bundle.shadowing", params={"module": name[:-3], "file": name},
        )
        for name in names
        if name.endswith(".py") and name[:-3] in SHADOWING_NAMES
    ]
