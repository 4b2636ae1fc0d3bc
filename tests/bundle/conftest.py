"""Fixtures for the bundle tests: a small valid bundle template, variants of it, and zips."""

from __future__ import annotations

import textwrap
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

VALID_MODEL = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.fc = nn.Linear(4, hidden)

    def forward(self, x):
        return self.fc(x)


def model_loader(configs):
    return Net()
"""

VALID_DATA = """
def data_loader(raw_datas, configs):
    frame = raw_datas["solubility"]
    return {"train": frame, "test": frame}
"""

VALID_TRAIN_EVAL = """
def train(model, data, configs):
    model.train()


def evaluate(model, data, configs):
    return {"mse": 0.0}
"""

VALID_FILES: dict[str, str] = {
    "model.py": VALID_MODEL,
    "data.py": VALID_DATA,
    "train_eval.py": VALID_TRAIN_EVAL,
    "requirements.txt": "numpy==1.26.4\n",
    "config.yaml": "lr: 0.01\nepochs: 2\n",
}

BundleBuilder = Callable[..., Path]
ZipWriter = Callable[..., Path]


def write_files(folder: Path, files: dict[str, str | bytes | None]) -> Path:
    """Writes ``files`` (name -> text or bytes; ``a/b`` makes a subfolder; ``None`` skips) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if content is None:
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content), encoding="utf-8")
    return folder


@pytest.fixture
def build_bundle(tmp_path: Path) -> BundleBuilder:
    """Factory: ``build_bundle({"train_eval.py": None, "x.md": "..."})`` writes a variant of the valid bundle."""

    def build(overrides: dict[str, str | bytes | None] | None = None, name: str = "bundle") -> Path:
        files: dict[str, str | bytes | None] = dict(VALID_FILES)
        files.update(overrides or {})
        return write_files(tmp_path / name, files)

    return build


@pytest.fixture
def write_zip(tmp_path: Path) -> ZipWriter:
    """Factory: ``write_zip([("model.py", "..."), (ZipInfo(...), b"...")], name="b.zip")`` writes a zip.

    Text entries are dedented like ``build_bundle`` files; duplicate names are allowed.
    """

    def write(entries: list[tuple[str | zipfile.ZipInfo, str | bytes]], name: str = "bundle.zip") -> Path:
        path = tmp_path / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": on purpose in some tests
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for entry, content in entries:
                    data = textwrap.dedent(content) if isinstance(content, str) else content
                    archive.writestr(entry, data)
        return path

    return write


def valid_entries(prefix: str = "") -> list[tuple[str, str]]:
    """The valid bundle's files as zip entries, each name prefixed with ``prefix``."""
    return [(prefix + name, text) for name, text in VALID_FILES.items()]


@pytest.fixture
def valid_zip_entries() -> Callable[[str], list[tuple[str, str]]]:
    """``valid_zip_entries("mybundle/")`` -> the valid bundle's files as zip entries under that prefix."""
    return valid_entries
