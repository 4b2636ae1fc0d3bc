"""``fdd validate``: output, exit status and JSON, through the real ``fdd`` group."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nvflare_fdd.cli.main import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_valid_bundle_prints_ok(runner, build_bundle):
    bundle = build_bundle({"model.pt": b"\0" * (3 << 20)})

    result = runner.invoke(main, ["validate", str(bundle), "--model-class", "Net"])

    assert result.exit_code == 0, result.output
    assert result.output == f"OK: {bundle} is a valid bundle (6 files, 3.0 MB weights)\n"


def test_problems_are_listed_one_per_line_and_exit_1(runner, build_bundle):
    bundle = build_bundle({"train_eval.py": None, "requirements.txt": "numpy\npip install torch\n"})

    result = runner.invoke(main, ["validate", str(bundle)])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("train_eval.py: required file is missing")
    assert lines[1].startswith("requirements.txt:2: shell commands are not run")
    assert lines[-1] == "2 problem(s) found"


def test_wrong_model_class_fails(runner, build_bundle):
    result = runner.invoke(main, ["validate", str(build_bundle()), "--model-class", "Other"])

    assert result.exit_code == 1
    assert "defines no top-level class Other (torch module classes in model.py: Net)" in result.output


@pytest.mark.parametrize("overrides", [pytest.param({}, id="valid"), pytest.param({"data.py": None}, id="invalid")])
def test_json_output(runner, build_bundle, overrides):
    bundle = build_bundle(overrides)

    result = runner.invoke(main, ["validate", str(bundle), "--json"])
    report = json.loads(result.output)

    assert result.exit_code == (0 if not overrides else 1)
    assert report["valid"] is (not overrides)
    assert report["bundle"] == str(bundle)
    assert "model.py" in report["files"]
    assert report["weights_bytes"] == 0
    expected = [] if not overrides else [{"file": "data.py", "line": None, "message": report["problems"][0]["message"]}]
    assert report["problems"] == expected


def test_zip_bundle(runner, write_zip, valid_zip_entries):
    archive = write_zip(valid_zip_entries("mybundle/"))

    result = runner.invoke(main, ["validate", str(archive)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"OK: {archive} is a valid bundle (5 files")


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        pytest.param(lambda tmp: tmp / "nope", "does not exist", id="missing"),
        pytest.param(lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("x"))[0], "not a bundle", id="plain-file"),
    ],
)
def test_not_a_bundle_is_a_usage_error(runner, tmp_path, make_path, message):
    result = runner.invoke(main, ["validate", str(make_path(tmp_path))])

    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
