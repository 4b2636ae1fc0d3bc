"""Pretrained-model fixtures: a store on SQLite with one user, model folders, an in-process server and site."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.pretrained.manifest import scan_source


def write_hf_folder(root: Path, weights: int = 3 * (1 << 20) + 17) -> Path:
    """A folder laid out like a small Hugging Face model repository, with a subfolder and an empty file."""
    (root / "1_Pooling").mkdir(parents=True)
    (root / "config.json").write_text('{"hidden_size": 8}')
    (root / "tokenizer.json").write_text('{"vocab": ["C", "O", "N"]}')
    (root / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (root / "empty.txt").write_bytes(b"")
    (root / "model.safetensors").write_bytes(os.urandom(weights))
    return root


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'platform.db'}"


@pytest.fixture
def store(store_url):
    """``SqlStorage`` with user alice; ``store.add(name, path)`` adds a model as she would."""
    storage = SqlStorage(store_url)
    storage.ensure_user("alice")

    def add(name: str, path: Path):
        found = scan_source(path)
        return storage.add_pretrained("alice", name, found.kind, found.files)

    storage.add = add
    yield storage
    storage.close()


@pytest.fixture
def hf_folder(tmp_path: Path):
    """``hf_folder(name="model", weights=...)``: a new Hugging Face-style folder."""
    return lambda name="model", **kwargs: write_hf_folder(tmp_path / "sources" / name, **kwargs)


@pytest.fixture
def loopback(store_url, tmp_path):
    """``loopback(tamper=None, site="site_a")``: a ``Loopback`` (closed afterwards)."""
    from loopback import Loopback

    made = []

    def make(**kwargs) -> Loopback:
        made.append(Loopback(store_url, tmp_path / f"loop{len(made)}", **kwargs))
        return made[-1]

    yield make
    for loop in made:
        loop.close()
