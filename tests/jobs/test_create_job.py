"""Job folders from the fdd template: what `fdd job create` and `fdd run` hand to NVFlare."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pyhocon import ConfigFactory

from nvflare_fdd.cli.main import main
from nvflare_fdd.errors import FddError
from nvflare_fdd.jobs import create_job, template_dir


def test_the_job_folder_has_the_template_configs_the_values_and_the_bundle(tiny_bundle, tmp_path):
    job = create_job(tmp_path / "job1", tiny_bundle, "TinyRegressor", 7, sites=["a", "b", "c"])
    server = ConfigFactory.parse_file(str(job / "app/config/config_fed_server.conf"))
    assert server["model_class"] == "TinyRegressor"
    assert server["num_rounds"] == 7
    assert server["workflows"][0]["path"] == "nvflare_fdd.controllers.fedavg.FddFedAvg"
    client = ConfigFactory.parse_file(str(job / "app/config/config_fed_client.conf"))
    assert client["executors"][0]["executor"]["path"] == "nvflare_fdd.executors.kda_executor.KdaExecutor"
    meta = ConfigFactory.parse_file(str(job / "meta.conf"))
    assert (meta["name"], meta["min_clients"]) == ("job1", 3)
    assert list(meta["deploy_map"]["app"]) == ["server", "a", "b", "c"]  # only the chosen sites get it


def test_min_clients_lets_nvflare_keep_a_job_with_fewer_sites(tiny_bundle, tmp_path):
    job = create_job(tmp_path / "job2", tiny_bundle, "TinyRegressor", 2, sites=["a", "b", "c"], min_clients=2)
    assert ConfigFactory.parse_file(str(job / "meta.conf"))["min_clients"] == 2
    assert sorted(p.name for p in (job / "app/custom").iterdir()) == sorted(p.name for p in tiny_bundle.iterdir())


@pytest.mark.parametrize(
    ("name", "model_class", "rounds", "message"),
    [
        ("bad-name", "TinyRegressor", 1, "only English letters"),
        ("job", "not a class", 1, "not a Python class name"),
        ("job", "TinyRegressor", 0, "rounds must be"),
    ],
)
def test_bad_arguments_are_refused(tiny_bundle, tmp_path, name, model_class, rounds, message):
    with pytest.raises(FddError, match=message):
        create_job(tmp_path / "out", tiny_bundle, model_class, rounds, name=name)


def test_a_non_empty_folder_is_not_overwritten(tiny_bundle, tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "keep.txt").write_text("mine")
    with pytest.raises(FddError, match="not empty"):
        create_job(tmp_path / "job", tiny_bundle, "TinyRegressor", 1)
    assert (tmp_path / "job" / "keep.txt").read_text() == "mine"


def test_unknown_template_names_the_known_ones():
    with pytest.raises(FddError, match="ships fdd"):
        template_dir("sag_pt")


def test_fdd_job_create_infers_the_only_model_class(tiny_bundle, tmp_path):
    result = CliRunner().invoke(main, ["job", "create", "-t", "fdd", "-j", str(tmp_path / "j"), "-sd", str(tiny_bundle), "--rounds", "3"])
    assert result.exit_code == 0, result.output
    server = ConfigFactory.parse_file(str(tmp_path / "j/app/config/config_fed_server.conf"))
    assert (server["model_class"], server["num_rounds"]) == ("TinyRegressor", 3)


def test_fdd_job_create_refuses_an_invalid_bundle(make_bundle, tmp_path):
    bundle = make_bundle({"data.py": None}, name="broken")
    result = CliRunner().invoke(main, ["job", "create", "-j", str(tmp_path / "j"), "-sd", str(bundle)])
    assert result.exit_code == 1
    assert "data.py" in result.output
    assert not (tmp_path / "j").exists()


def test_the_algorithm_reaches_the_controller_and_bad_ones_are_refused(tiny_bundle, tmp_path):
    job = create_job(tmp_path / "scaffold", tiny_bundle, "TinyRegressor", 2, algorithm="fedprox", fedprox_mu=0.2,
                     metric_names=["auprc_macro"])  # fmt: skip
    server = ConfigFactory.parse_file(str(job / "app/config/config_fed_server.conf"))
    assert (server["algorithm"], server["fedprox_mu"]) == ("fedprox", 0.2)
    assert server["workflows"][0]["args"]["algorithm"] == "{algorithm}"  # resolved by NVFlare from the value above
    assert server["metric_names"] == ["auprc_macro"]
    for algorithm, mu, message in (("fedsgd", 0.01, "not one of fedavg, fedprox, scaffold"), ("fedprox", -1, "≥ 0")):
        with pytest.raises(FddError, match=message):
            create_job(tmp_path / f"bad_{algorithm}", tiny_bundle, "TinyRegressor", 1, algorithm=algorithm, fedprox_mu=mu)


def test_nvflare_job_create_sets_the_algorithm_in_the_fdd_template(tiny_bundle, tmp_path):
    import subprocess
    import sys

    job = tmp_path / "nvflare_job"
    done = subprocess.run(
        [sys.executable, "-m", "nvflare.cli", "job", "create", "-w", str(template_dir("fdd")), "-j", str(job),
         "-sd", str(tiny_bundle), "-f", "config_fed_server.conf", "algorithm=scaffold", "num_rounds=3"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    server = job / "app" / "config" / "config_fed_server.conf"
    assert server.is_file(), done.stdout + done.stderr  # (NVFlare 2.9 may fail after writing it: see the README)
    config = ConfigFactory.parse_file(str(server))
    assert (config["algorithm"], config["num_rounds"]) == ("scaffold", 3)
