"""Zip bundles: the archive rules, the top-folder convention, and safe extraction (open_bundle)."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from nvflare_fdd.bundle import open_bundle, validate_bundle
from nvflare_fdd.bundle.archive import MAX_ARCHIVE_BYTES, list_archive
from nvflare_fdd.errors import ArchiveError, BundleError


def _symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _patch_central_header(path: Path, entry: str, field_offset: int, fmt: str, value: int) -> None:
    """Overwrites one field of ``entry``'s central-directory header (what zip readers trust)."""
    data = bytearray(path.read_bytes())
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if data[offset + 46 : offset + 46 + name_length].decode() == entry:
            struct.pack_into(fmt, data, offset + field_offset, value)
        offset = data.find(b"PK\x01\x02", offset + 4)
    path.write_bytes(bytes(data))


def _forge_declared_size(path: Path, entry: str, declared: int) -> None:
    _patch_central_header(path, entry, 24, "<I", declared)  # uncompressed size


# id, extra zip entries beside the valid bundle's files, problem file, message substring
ARCHIVE_CASES = [
    ("absolute-path", [("/etc/evil.py", "X = 1\n")], "/etc/evil.py", "absolute path"),
    ("windows-absolute", [("C:/evil.py", "X = 1\n")], "C:/evil.py", "absolute path"),
    ("dot-dot", [("../evil.py", "X = 1\n")], "../evil.py", "leaves the bundle folder"),
    ("dot-dot-inside", [("a/../../evil.py", "X = 1\n")], "a/../../evil.py", "leaves the bundle folder"),
    ("backslash-dot-dot", [("..\\evil.py", "X = 1\n")], "..\\evil.py", "leaves the bundle folder"),
    ("symlink", [(_symlink_entry("vocab.txt"), "/etc/passwd")], "vocab.txt", "symbolic link"),
    ("duplicate", [("model.py", "X = 2\n")], "model.py", "holds this name more than once"),
    ("case-duplicate", [("MODEL.py", "X = 2\n")], "MODEL.py", "differs from model.py only in case"),
    ("subfolder-file", [("utils/helper.py", "X = 1\n")], "utils/", "subfolders are not allowed"),
    ("subfolder-dir-entry", [("empty/", b"")], "empty/", "subfolders are not allowed"),
]


@pytest.mark.parametrize(
    ("extra", "file", "substring"), [pytest.param(*case[1:], id=case[0]) for case in ARCHIVE_CASES]
)
def test_archive_rule(write_zip, valid_zip_entries, extra, file, substring):
    archive = write_zip(valid_zip_entries("") + extra)

    problems = validate_bundle(archive)
    with pytest.raises(ArchiveError) as refused, open_bundle(archive):
        pass

    assert [(problem.file, substring in problem.message) for problem in problems] == [(file, True)]
    assert refused.value.problems == problems
    assert file in str(refused.value)


def test_flat_zip_is_valid_and_extracted_to_a_temporary_folder(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("") + [("model.pt", b"\0" * 100)])

    with open_bundle(archive) as folder:
        names = sorted(path.name for path in folder.iterdir())
        content = (folder / "model.pt").read_bytes()

    assert validate_bundle(archive, model_class="Net") == []
    assert names == ["config.yaml", "data.py", "model.pt", "model.py", "requirements.txt", "train_eval.py"]
    assert content == b"\0" * 100
    assert not folder.exists()


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="files-only"),
        pytest.param([("mybundle/", b"")], id="with-folder-entry"),
        pytest.param([("__MACOSX/mybundle/._model.py", b"\0"), ("mybundle/.DS_Store", b"\0")], id="macos-finder"),
        pytest.param([("mybundle/__pycache__/model.cpython-311.pyc", b"\0")], id="pycache"),
    ],
)
def test_zip_of_one_top_folder_is_that_folders_contents(write_zip, valid_zip_entries, extra):
    archive = write_zip(extra + valid_zip_entries("mybundle/"))

    with open_bundle(archive) as folder:
        names = sorted(path.name for path in folder.iterdir())

    assert validate_bundle(archive, model_class="Net") == []
    assert list_archive(archive).top_folder == "mybundle"
    assert names == ["config.yaml", "data.py", "model.py", "requirements.txt", "train_eval.py"]


def test_subfolder_inside_top_folder_is_reported_with_its_archive_path(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("mybundle/") + [("mybundle/utils/helper.py", "X = 1\n")])

    assert [problem.file for problem in validate_bundle(archive)] == ["mybundle/utils/"]


def test_two_top_folders_are_not_a_top_folder(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("a/") + [("b/notes.txt", "x\n")])

    problems = validate_bundle(archive)

    assert {problem.file for problem in problems} >= {"a/", "b/", "model.py"}


def test_zip_problems_and_content_problems_are_reported_together(write_zip, valid_zip_entries):
    entries = [entry for entry in valid_zip_entries("") if entry[0] != "train_eval.py"]
    archive = write_zip(entries + [("../x.py", ""), ("utils/a.py", ""), ("notes.md", "")])

    files = [problem.file for problem in validate_bundle(archive)]

    assert files == ["../x.py", "utils/", "notes.md", "train_eval.py"]


def test_declared_size_over_the_limit_is_refused_before_extraction(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("") + [("weights.pt", b"\0" * 1000)])
    _forge_declared_size(archive, "weights.pt", MAX_ARCHIVE_BYTES)

    problems = validate_bundle(archive)
    with pytest.raises(ArchiveError, match="more than a bundle can hold"), open_bundle(archive):
        pass

    assert [(problem.file, "more than a bundle can hold" in problem.message) for problem in problems] == [("bundle.zip", True)]


def test_entry_larger_than_declared_stops_extraction(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("") + [("vocab.txt", b"A" * 5000)])
    _forge_declared_size(archive, "vocab.txt", 10)

    problems = validate_bundle(archive)
    with pytest.raises(ArchiveError) as refused, open_bundle(archive):
        pass

    assert [problem.file for problem in problems] == ["vocab.txt"]
    assert "create the zip again" in problems[0].message
    assert refused.value.problems[0].file == "vocab.txt"


def test_encrypted_entry_is_refused(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("") + [("vocab.txt", "x\n")])
    _patch_central_header(archive, "vocab.txt", 8, "<H", 0x1)  # general purpose flags: encrypted

    problems = validate_bundle(archive)

    assert [(problem.file, "encrypted" in problem.message) for problem in problems] == [("vocab.txt", True)]


def test_corrupt_zip_is_a_problem_not_a_crash(tmp_path):
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip")

    problems = validate_bundle(archive)
    with pytest.raises(ArchiveError, match="not a readable zip archive"), open_bundle(archive):
        pass

    assert [(problem.file, "not a readable zip archive" in problem.message) for problem in problems] == [("bundle.zip", True)]


def test_open_bundle_gives_a_folder_as_it_is(build_bundle):
    bundle = build_bundle()

    with open_bundle(bundle) as folder:
        assert folder == bundle

    assert bundle.exists()


@pytest.mark.parametrize("name", ["notes.txt", "missing"])
def test_open_bundle_refuses_what_is_not_a_bundle(tmp_path, name):
    path = tmp_path / name
    if name != "missing":
        path.write_text("x")

    with pytest.raises(BundleError, match="not a bundle"), open_bundle(path):
        pass


def test_zip_without_zip_suffix_is_recognised(write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries(""), name="bundle.upload")

    assert validate_bundle(archive) == []
