"""What may be added as a pretrained model, and what a site accepts as a manifest."""

from __future__ import annotations

import os

import pytest

from nvflare_fdd.platform.records import PretrainedFile
from nvflare_fdd.pretrained.manifest import (
    Manifest,
    PretrainedError,
    check_name,
    check_relative_path,
    manifest_digest,
    scan_source,
)

SHA = "0" * 64


@pytest.mark.parametrize("name", ["chemberta-77M", "bert_base.v2", "a", "ESM2-t6-8M_UR50D"])
def test_plain_names_pass(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a\\b", ".x", "-x", "x y", "모델", "x" * 129, None, "a\n"])
def test_other_names_are_refused(name):
    with pytest.raises(PretrainedError, match="plain name"):
        check_name(name)


@pytest.mark.parametrize("path", ["config.json", "1_Pooling/config.json", ".gitattributes",
                                  "onnx/model-00001-of-00002.onnx", "vocab+merges@v2,final~.txt"])  # fmt: skip
def test_relative_paths_inside_the_folder_pass(path):
    assert check_relative_path(path) == path


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "C:/x", "a/\x01b",
                                  "a/b ", " a", "a.", "x" * 256, "/".join(["d"] * 33), "a/b\0", ""])  # fmt: skip
def test_absolute_parent_and_odd_paths_are_refused(path):
    with pytest.raises(PretrainedError):
        check_relative_path(path)


def test_a_folder_is_scanned_with_subfolders_and_without_version_control(tmp_path):
    root = tmp_path / "model"
    (root / "1_Pooling").mkdir(parents=True)
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / "config.json").write_text("{}")
    (root / "1_Pooling" / "config.json").write_text("{}")
    (root / ".git" / "objects" / "blob").write_bytes(b"x" * 10)
    (root / ".cache" / "huggingface" / "download.lock").write_text("")
    (root / "alias.json").symlink_to(root / "config.json")  # a link to a file inside: its content is stored

    found = scan_source(root)

    assert found.kind == "folder"
    assert sorted(found.files) == ["1_Pooling/config.json", "alias.json", "config.json"]
    assert found.files["alias.json"] == (root / "config.json").resolve()
    assert found.skipped == [".cache/", ".git/"]


def test_one_file_is_a_model_of_one_entry(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"1234")
    found = scan_source(tmp_path / "weights.safetensors")
    assert found.kind == "file" and found.sizes == {"weights.safetensors": 4}


def test_a_link_leaving_the_folder_is_refused_with_the_fix(tmp_path):
    root = tmp_path / "snapshot"
    root.mkdir()
    (tmp_path / "blob").write_bytes(b"weights")
    (root / "model.safetensors").symlink_to(tmp_path / "blob")  # how Hugging Face's cache lays out a snapshot
    with pytest.raises(PretrainedError, match="outside the folder.*cp -rL"):
        scan_source(root)


def test_a_linked_folder_a_dangling_link_and_a_pipe_are_refused(tmp_path):
    root = tmp_path / "m"
    (root / "real").mkdir(parents=True)
    (root / "real" / "f").write_text("1")
    (root / "linked").symlink_to(root / "real")
    with pytest.raises(PretrainedError, match="a link to a folder"):
        scan_source(root)
    (root / "linked").unlink()
    (root / "dangling").symlink_to(root / "nowhere")
    with pytest.raises(PretrainedError):
        scan_source(root)
    (root / "dangling").unlink()
    os.mkfifo(root / "pipe")
    with pytest.raises(PretrainedError, match="not a regular file"):
        scan_source(root)


@pytest.mark.parametrize("bad", ["bad\x01name", "trailing ", "ends."])
def test_odd_file_names_in_a_folder_are_refused(tmp_path, bad):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / bad).write_text("x")
    with pytest.raises(PretrainedError, match="not allowed"):
        scan_source(tmp_path / "m")


def test_an_empty_folder_and_a_missing_path_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PretrainedError, match="has no files"):
        scan_source(tmp_path / "empty")
    with pytest.raises(PretrainedError, match="no such file or folder"):
        scan_source(tmp_path / "nothing")


def test_the_size_limit_names_the_setting(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 2048)
    with pytest.raises(PretrainedError, match="more than the store takes.*pretrained_max_gb"):
        scan_source(tmp_path / "big", max_bytes=1024)


def manifest_dict(files, kind="folder", name="m") -> dict:
    entries = [PretrainedFile(path, size, sha) for path, size, sha in files]
    return {"name": name, "kind": kind, "digest": manifest_digest(kind, entries),
            "files": [{"path": p, "size": s, "sha256": h} for p, s, h in files]}  # fmt: skip


def test_a_received_manifest_is_checked_whole():
    good = manifest_dict([("a/config.json", 2, SHA), ("model.bin", 10, "1" * 64)])
    manifest = Manifest.from_dict(good)
    assert manifest.size == 12 and Manifest.from_dict(manifest.to_dict()) == manifest


@pytest.mark.parametrize("files", [
    [("../escape", 1, SHA)],                      # leaves the folder
    [("/etc/cron.d/x", 1, SHA)],                  # absolute
    [("a", 1, SHA), ("a/b", 1, SHA)],             # a file and a folder at once
    [("a", 1, SHA), ("a", 1, SHA)],               # twice
    [("a", -1, SHA)],                             # negative size
    [("a", 1, "not-a-sha")],                      # not a sha256
])  # fmt: skip
def test_a_manifest_that_could_write_outside_or_lie_is_refused(files):
    data = manifest_dict(files)
    with pytest.raises(PretrainedError):
        Manifest.from_dict(data)


def test_a_manifest_whose_digest_does_not_match_is_refused():
    data = manifest_dict([("a", 1, SHA)])
    data["digest"] = "f" * 64
    with pytest.raises(PretrainedError, match="does not match its digest"):
        Manifest.from_dict(data)
    with pytest.raises(PretrainedError, match="malformed"):
        Manifest.from_dict({"name": "m"})
