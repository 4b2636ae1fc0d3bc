"""``prepare_demo`` and ``fdd demo prepare``: three KDA databases, reused unless forced."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nvflare_fdd import kda
from nvflare_fdd.cli.main import main
from nvflare_fdd.demo import INSTITUTIONS, MANIFEST_NAME, DemoDataError, demo_sites, prepare_demo

EXPECTED_KEYS = {"solubility", "hydration_free_energy"}

pytest.importorskip("rdkit", reason="needs the demo extra: pip install 'nvflare-fdd[demo]'")


def test_three_kda_databases_serve_both_tests(prepared_demo, demo_tables):
    directory, sites = prepared_demo

    assert [site.name for site in sites] == list(INSTITUTIONS)
    for site in sites:
        raw_datas = kda.load_raw_datas(site.url)
        assert set(raw_datas) == EXPECTED_KEYS
        assert {key: len(frame) for key, frame in raw_datas.items()} == site.tests
        assert sum(site.tests.values()) == site.rows == len(demo_tables[site.name])
        assert site.url == f"sqlite:///{(directory / f'{site.name}.db').resolve()}"
        assert site.csv_path.is_file()


def test_a_complete_run_is_reused_unless_forced(prepared_demo):
    directory, sites = prepared_demo
    database = directory / "pharma_a.db"
    modified = database.stat().st_mtime_ns

    assert prepare_demo(directory) == sites
    assert database.stat().st_mtime_ns == modified
    assert demo_sites(directory) == sites

    assert prepare_demo(directory, force=True) == sites
    assert kda.load_raw_datas(sites[0].url)["solubility"].shape[0] == sites[0].tests["solubility"]


def test_an_interrupted_run_is_rebuilt(tmp_path):
    (tmp_path / "pharma_a.db").write_bytes(b"half-written")

    with pytest.raises(DemoDataError, match="fdd demo prepare"):
        demo_sites(tmp_path)
    sites = prepare_demo(tmp_path)

    assert set(kda.load_raw_datas(sites[0].url)) == EXPECTED_KEYS
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert [entry["name"] for entry in manifest["sites"]] == list(INSTITUTIONS)


def test_cli_prints_one_line_per_institution(prepared_demo):
    directory, sites = prepared_demo
    result = CliRunner().invoke(main, ["demo", "prepare", str(directory)])

    assert result.exit_code == 0, result.output
    assert "Reusing" in result.output
    for site in sites:
        line = next(line for line in result.output.splitlines() if line.startswith(site.name))
        assert site.url in line
        assert str(site.tests["solubility"]) in line


def test_cli_reports_a_missing_extra_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    result = CliRunner().invoke(main, ["demo", "prepare", str(tmp_path)])

    assert result.exit_code == 1
    assert "nvflare-fdd[demo]" in result.output
    assert "Traceback" not in result.output
