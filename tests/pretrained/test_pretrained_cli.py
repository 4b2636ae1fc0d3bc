"""``fdd pretrained add / list / show / remove`` on this machine's platform storage."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nvflare_fdd.cli.main import main


@pytest.fixture
def fdd(tmp_path, monkeypatch):
    """``fdd("pretrained", "list", user="alice")``: the CLI on a fresh platform home."""
    monkeypatch.setenv("FDD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FDD_PLATFORM_CONFIG", str(tmp_path / "no-config.yaml"))
    monkeypatch.delenv("FDD_STORAGE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, user: str = "alice", input: str | None = None):
        return runner.invoke(main, list(args), env={"FDD_USER": user}, input=input)

    return run


def test_add_list_show_and_remove_a_folder(fdd, hf_folder):
    source = hf_folder("chemberta")

    added = fdd("pretrained", "add", "chemberta-77M", str(source))
    assert added.exit_code == 0, added.output
    assert "Added chemberta-77M: 5 file(s)" in added.stdout
    assert "Hashing" in added.stderr and "Storing" in added.stderr and "5/5 files" in added.stderr

    listed = fdd("pretrained", "list", user="bob")  # everyone sees the store
    assert "chemberta-77M" in listed.stdout and "folder" in listed.stdout and "alice" in listed.stdout
    records = json.loads(fdd("pretrained", "list", "--json").stdout)
    assert [r["name"] for r in records] == ["chemberta-77M"]
    assert {f["path"] for f in records[0]["files"]} >= {"config.json", "1_Pooling/config.json", "model.safetensors"}
    shown = fdd("pretrained", "show", "chemberta-77M")
    assert "1_Pooling/config.json" in shown.stdout and records[0]["digest"] in shown.stdout

    refused = fdd("pretrained", "remove", "chemberta-77M", "--yes", user="bob")
    assert refused.exit_code == 1 and "belongs to alice" in refused.output
    assert fdd("pretrained", "remove", "chemberta-77M", input="n\n").exit_code == 1  # not confirmed
    removed = fdd("pretrained", "remove", "chemberta-77M", "--yes")
    assert removed.exit_code == 0 and "Removed chemberta-77M." in removed.stdout
    assert "(none)" in fdd("pretrained", "list").stdout


def test_add_one_file_as_json(fdd, tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"\x00" * 2048)
    result = fdd("pretrained", "add", "weights", str(tmp_path / "weights.pt"), "--json")
    record = json.loads(result.stdout)
    assert record["kind"] == "file" and record["files"][0]["path"] == "weights.pt" and record["size"] == 2048


@pytest.mark.parametrize("name", ["../up", "with space", "a/b"])
def test_a_name_that_is_not_plain_is_a_clean_error(fdd, tmp_path, name):
    (tmp_path / "f").write_bytes(b"1")
    result = fdd("pretrained", "add", name, str(tmp_path / "f"))
    assert result.exit_code == 1 and "plain name" in result.output and "Traceback" not in result.output


def test_a_taken_name_and_a_missing_name_are_clean_errors(fdd, tmp_path):
    (tmp_path / "f").write_bytes(b"1")
    assert fdd("pretrained", "add", "x", str(tmp_path / "f")).exit_code == 0
    taken = fdd("pretrained", "add", "x", str(tmp_path / "f"), user="bob")
    assert taken.exit_code == 1 and "already exists" in taken.output
    missing = fdd("pretrained", "show", "nope")
    assert missing.exit_code == 1 and "no pretrained model named 'nope'" in missing.output


def test_a_link_leaving_the_folder_names_the_fix(fdd, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "blob").write_bytes(b"1")
    (tmp_path / "m" / "model.bin").symlink_to(tmp_path / "blob")
    result = fdd("pretrained", "add", "linked", str(tmp_path / "m"))
    assert result.exit_code == 1 and "cp -rL" in result.output
