"""The pretrained-model store in storage: content-addressed files, plain unique names, shared blobs, removal."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from nvflare_fdd.platform.blobs import CHUNK_BYTES
from nvflare_fdd.platform.schema import BlobRow
from nvflare_fdd.platform.service import PermissionDenied
from nvflare_fdd.platform.storage import NotFound, StorageConflict
from nvflare_fdd.pretrained.cache import materialize_pretrained
from nvflare_fdd.pretrained.manifest import Manifest, MissingPretrained, PretrainedError, manifest_digest


def hf_folder(root: Path, weights: int = 1000) -> Path:
    """A folder laid out like a small Hugging Face model repository (with a subfolder)."""
    (root / "1_Pooling").mkdir(parents=True)
    (root / "config.json").write_text('{"hidden_size": 8}')
    (root / "tokenizer.json").write_text('{"vocab": ["C", "O", "N"]}')
    (root / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (root / "model.safetensors").write_bytes(os.urandom(weights))
    return root


def blob_count(storage) -> int:
    from sqlalchemy import func, select

    with storage._session() as session:
        return session.scalar(select(func.count()).select_from(BlobRow))


def test_a_folder_is_stored_with_its_relative_paths_and_comes_back_whole(platform, tmp_path):
    folder = hf_folder(tmp_path / "chemberta", weights=2 * CHUNK_BYTES + 17)
    alice = platform.user("alice")

    model = platform.add_pretrained(alice, "chemberta-77M", folder)

    assert model.kind == "folder" and model.owner == "alice"
    assert [f.path for f in model.files] == ["1_Pooling/config.json", "config.json", "model.safetensors", "tokenizer.json"]
    assert model.size == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    for entry in model.files:
        assert entry.sha256 == hashlib.sha256((folder / entry.path).read_bytes()).hexdigest()
    assert model.digest == manifest_digest("folder", model.files)
    out = platform.storage.write_pretrained_file("chemberta-77M", "model.safetensors", tmp_path / "out.bin")
    assert out.read_bytes() == (folder / "model.safetensors").read_bytes()
    assert [m.name for m in platform.pretrained_models()] == ["chemberta-77M"]


def test_one_file_is_a_manifest_of_one_entry(platform, tmp_path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"\x00" * 100)

    model = platform.add_pretrained(platform.user("alice"), "solubility.v1_weights", weights)

    assert model.kind == "file" and [f.path for f in model.files] == ["weights.pt"]


def test_the_same_content_is_stored_once_and_dropped_with_its_last_user(platform, tmp_path):
    folder = hf_folder(tmp_path / "m")
    alice, bob = platform.user("alice"), platform.user("bob")
    platform.add_pretrained(alice, "first", folder)
    blobs = blob_count(platform.storage)

    platform.add_pretrained(bob, "second", folder)  # same files: no new content
    assert blob_count(platform.storage) == blobs
    assert platform.pretrained_model("first").digest == platform.pretrained_model("second").digest

    platform.remove_pretrained(alice, "first")
    assert blob_count(platform.storage) == blobs  # still used by "second"
    platform.remove_pretrained(bob, "second")
    assert blob_count(platform.storage) == 0


@pytest.fixture
def shared_weights(platform, tiny_bundle) -> Path:
    """``pretrained.pt``, a file of both alice's ``TinyRegressor:1.0`` and her pretrained model ``shared-weights``:
    one blob for the two."""
    weights = tiny_bundle / "pretrained.pt"
    weights.write_bytes(os.urandom(3000))
    alice = platform.user("alice")
    platform.register_model(alice, tiny_bundle, "TinyRegressor", "1.0")
    platform.add_pretrained(alice, "shared-weights", weights)
    return weights


def test_a_blob_shared_with_a_registered_model_outlives_the_pretrained_model(platform, shared_weights, tmp_path):
    platform.remove_pretrained(platform.user("alice"), "shared-weights")

    out = platform.storage.export_model_files("TinyRegressor", "1.0", tmp_path / "export")
    assert (out / "pretrained.pt").read_bytes() == shared_weights.read_bytes()


def test_a_pretrained_file_outlives_a_deleted_model_that_shared_it(platform, shared_weights, tmp_path):
    platform.delete_model(platform.user("alice"), "TinyRegressor", "1.0")

    out = platform.storage.write_pretrained_file("shared-weights", "pretrained.pt", tmp_path / "back.pt")
    assert out.read_bytes() == shared_weights.read_bytes()


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "x" * 129, "spaced name", "모델", "-leading"])
def test_names_are_plain(platform, tmp_path, name):
    (tmp_path / "f.bin").write_bytes(b"1")
    with pytest.raises(PretrainedError, match="letters, digits"):
        platform.add_pretrained(platform.user("alice"), name, tmp_path / "f.bin")


def test_a_name_is_unique_across_users(platform, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"1")
    platform.add_pretrained(platform.user("alice"), "taken", tmp_path / "f.bin")
    with pytest.raises(StorageConflict, match="already exists"):
        platform.add_pretrained(platform.user("bob"), "taken", tmp_path / "f.bin")


def test_concurrent_adds_of_one_name_have_one_winner_and_leave_no_content_behind(platform, tmp_path):
    folders = [hf_folder(tmp_path / f"m{i}", weights=CHUNK_BYTES + i) for i in range(4)]
    users = [platform.user(f"user{i}") for i in range(4)]
    results, errors = [], []
    barrier = threading.Barrier(4)

    def add(index: int) -> None:
        barrier.wait()
        try:
            results.append(platform.add_pretrained(users[index], "contested", folders[index]))
        except StorageConflict as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 1 and len(errors) == 3
    winner = platform.pretrained_model("contested")
    assert winner.digest == results[0].digest
    shared = {"config.json", "tokenizer.json", "1_Pooling/config.json"}
    assert blob_count(platform.storage) == len(shared) + 1  # the losers' weights were not kept


def test_only_the_owner_or_an_admin_removes(platform, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"1")
    platform.add_pretrained(platform.user("alice"), "alices", tmp_path / "f.bin")
    with pytest.raises(PermissionDenied, match="belongs to alice"):
        platform.remove_pretrained(platform.user("bob"), "alices")
    admin = platform.storage.create_user("root", None, is_admin=True)
    platform.remove_pretrained(admin, "alices")
    with pytest.raises(NotFound, match="no pretrained model named 'alices'"):
        platform.pretrained_model("alices")


def test_the_size_limit_is_a_clear_error(platform, tmp_path):
    platform.config.pretrained_max_bytes = 1000
    (tmp_path / "big.bin").write_bytes(b"x" * 1001)
    with pytest.raises(PretrainedError, match="pretrained_max_gb"):
        platform.add_pretrained(platform.user("alice"), "too-big", tmp_path / "big.bin")
    assert platform.pretrained_models() == []


def test_a_file_that_changes_while_it_is_stored_is_refused(platform, tmp_path, monkeypatch):
    from nvflare_fdd.platform import pretrained_store

    (tmp_path / "f.bin").write_bytes(b"before")
    original = pretrained_store.PretrainedStore._stage_blob

    def changing(self, path, source, sha, on_bytes):
        Path(source).write_bytes(b"after!")
        return original(self, path, source, sha, on_bytes)

    monkeypatch.setattr(pretrained_store.PretrainedStore, "_stage_blob", changing)
    with pytest.raises(StorageConflict, match="changed while it was being stored"):
        platform.add_pretrained(platform.user("alice"), "moving", tmp_path / "f.bin")
    assert blob_count(platform.storage) == 0


def test_progress_reports_every_byte_hashed_and_stored(platform, tmp_path):
    folder = hf_folder(tmp_path / "m", weights=CHUNK_BYTES * 2 + 5)
    seen: dict[str, int] = {}

    platform.add_pretrained(platform.user("alice"), "counted", folder,
                            progress=lambda stage, path, n: seen.__setitem__(stage, seen.get(stage, 0) + n))  # fmt: skip

    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert seen == {"hash": total, "store": total}


def test_the_server_materializes_a_model_from_storage(platform, tmp_path):
    folder = hf_folder(tmp_path / "m", weights=CHUNK_BYTES + 3)
    model = platform.add_pretrained(platform.user("alice"), "for-the-server", folder)

    path = materialize_pretrained("for-the-server", platform.storage, tmp_path / "cache")

    assert path == (tmp_path / "cache" / model.digest).resolve()
    for entry in Manifest.of(model).files:
        assert (path / entry.path).read_bytes() == (folder / entry.path).read_bytes()
    assert materialize_pretrained("for-the-server", platform.storage, tmp_path / "cache") == path
    with pytest.raises(MissingPretrained, match="fdd pretrained add nothing-here PATH"):
        materialize_pretrained("nothing-here", platform.storage, tmp_path / "cache")


def test_stale_staged_content_of_a_killed_add_is_removed_by_a_later_add(platform, tmp_path):
    storage = platform.storage
    with storage._session() as session:
        session.add(BlobRow(sha256="staged:1:deadbeef", size=0))
    (tmp_path / "f.bin").write_bytes(b"1")

    platform.add_pretrained(platform.user("alice"), "later", tmp_path / "f.bin")

    assert blob_count(storage) == 1
