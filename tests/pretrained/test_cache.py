"""The cache's promises: a model is visible whole or not at all, verified, shared safely by processes and threads."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from nvflare_fdd.platform.records import PretrainedFile
from nvflare_fdd.pretrained.cache import VerifiedFile, cached, default_cache_dir, ensure_cached, materialize_pretrained
from nvflare_fdd.pretrained.manifest import Manifest, PretrainedError


def materialize_in_child(url: str, name: str, cache: str, queue) -> None:
    from nvflare_fdd.platform.storage import SqlStorage

    storage = SqlStorage(url)
    try:
        queue.put(str(materialize_pretrained(name, storage, Path(cache))))
    except Exception as exc:  # reported to the test
        queue.put(f"error: {exc!r}")
    finally:
        storage.close()


def test_processes_materializing_one_model_at_once_all_get_it_whole(store, store_url, hf_folder, tmp_path):
    source = hf_folder(weights=24 << 20)
    model = store.add("shared", source)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [context.Process(target=materialize_in_child, args=(store_url, "shared", str(tmp_path / "cache"), queue))
                for _ in range(3)]  # fmt: skip
    for child in children:
        child.start()
    results = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)

    assert results == [str((tmp_path / "cache" / model.digest).resolve())] * 3
    assert (Path(results[0]) / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f".{model.digest}.lock", ".staging", model.digest]


def test_a_fill_that_fails_half_way_leaves_nothing_visible_and_keeps_what_it_verified(store, hf_folder, tmp_path):
    model = store.add("m", hf_folder())
    manifest = Manifest.of(model)
    written = []

    def fill_one_then_fail(staging: Path, files) -> None:
        entry = files[0]
        with VerifiedFile(staging, "m", entry) as out:
            for chunk in store.pretrained_chunks(entry.sha256):
                out.write(chunk)
        written.append(entry.path)
        raise PretrainedError("the connection broke")

    with pytest.raises(PretrainedError, match="the connection broke"):
        ensure_cached(manifest, tmp_path / "cache", fill_one_then_fail)
    assert cached(tmp_path / "cache", manifest) is None and not (tmp_path / "cache" / model.digest).exists()

    asked = []

    def fill_rest(staging: Path, files) -> None:
        asked.extend(entry.path for entry in files)
        for entry in files:
            with VerifiedFile(staging, "m", entry) as out:
                for chunk in store.pretrained_chunks(entry.sha256):
                    out.write(chunk)

    path = ensure_cached(manifest, tmp_path / "cache", fill_rest)
    assert written[0] not in asked and len(asked) == len(manifest.files) - 1
    assert cached(tmp_path / "cache", manifest) == path


def test_a_file_with_other_content_or_length_is_not_renamed_into_place(tmp_path):
    entry = PretrainedFile("sub/weights.bin", 4, "0" * 64)
    damaged = VerifiedFile(tmp_path, "m", entry)
    damaged.write(b"abcd")
    with pytest.raises(PretrainedError, match="sub/weights.bin arrived damaged"):
        damaged.finish()
    longer = VerifiedFile(tmp_path, "m", entry)
    with pytest.raises(PretrainedError, match="longer than its 4 bytes"):
        longer.write(b"abcde")
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.part"))


def test_a_fill_that_leaves_a_file_out_is_an_error(store, hf_folder, tmp_path):
    manifest = Manifest.of(store.add("m", hf_folder()))
    with pytest.raises(PretrainedError, match="did not arrive"):
        ensure_cached(manifest, tmp_path / "cache", lambda staging, files: None)
    assert not (tmp_path / "cache" / manifest.digest).exists()


def test_cached_files_are_read_only(store, hf_folder, tmp_path):
    path = materialize_pretrained(store.add("m", hf_folder()).name, store, tmp_path / "cache")
    assert all(not os.stat(p).st_mode & 0o222 for p in path.rglob("*") if p.is_file())


def test_the_default_cache_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FDD_PRETRAINED_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FDD_PRETRAINED_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "nvflare-fdd" / "pretrained"
