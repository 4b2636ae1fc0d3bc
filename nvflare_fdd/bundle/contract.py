"""The bundle contract as data: file names, allowed types, limits, and the ``Problem`` record.

Everything here restates DESIGN §2; the rule modules read these names instead of
repeating literals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REQUIRED_FILES = ("model.py", "data.py", "train_eval.py", "requirements.txt")
CONFIG_FILE = "config.yaml"
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
OTHER_SUFFIXES = (".py", ".txt", ".json", ".yaml", ".yml")
MAX_WEIGHTS_BYTES = 1 << 30
"""Total size of all weight files; messages call it "1 GB" as the K-MELLODDY guide does."""

IGNORED_NAMES = frozenset({".DS_Store"})
"""Files that operating systems drop into folders; skipped, never reported, never extracted."""
IGNORED_FOLDERS = frozenset({"__pycache__", "__MACOSX"})
"""Folders skipped as a whole: Python's byte-code cache and macOS Finder's zip metadata."""

ENTRY_POINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "model.py": {"model_loader": ("configs",)},
    "data.py": {"data_loader": ("raw_datas", "configs")},
    "train_eval.py": {
        "train": ("model", "data", "configs"),
        "evaluate": ("model", "data", "configs"),
    },
}
"""Per required Python file: function name -> the positional arguments the platform passes."""


@dataclass(frozen=True)
class Problem:
    """One way a bundle breaks the contract.

    Attributes:
        file: the bundle file (or archive entry) the problem is about.
        message: what is wrong and how to fix it, in one line.
        line: 1-based line in ``file``, when the problem has one.
        code: a stable key of the kind of problem (e.g. ``"bundle.subfolder"``), for interfaces that say it in
            their own words; ``params``: the values the message names. Neither takes part in equality.
    """

    file: str
    message: str
    line: int | None = None
    code: str | None = field(default=None, compare=False)
    params: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        file = self.file if self.file.isprintable() else ascii(self.file)[1:-1]  # no raw control characters
        where = f"{file}:{self.line}" if self.line is not None else file
        return f"{where}: {self.message}"


def format_size(num_bytes: int) -> str:
    """Formats a byte count the way the platform states its limit (1 GB = 2**30 bytes).

    Args:
        num_bytes: a size in bytes.

    Returns:
        e.g. ``"1.50 GB"``, ``"12.3 MB"`` or ``"512 bytes"``.
    """
    if num_bytes >= 1 << 30:
        return f"{num_bytes / (1 << 30):.2f} GB"
    if num_bytes >= 1 << 20:
        return f"{num_bytes / (1 << 20):.1f} MB"
    if num_bytes >= 1 << 10:
        return f"{num_bytes / (1 << 10):.1f} KB"
    return f"{num_bytes} bytes"
