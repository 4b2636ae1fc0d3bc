"""``model_manager.download_model`` in real simulator jobs: the server's model build and every site (issue 14).

The bundle (``bundles/mlp_pretrained``, written like K-MELLODDY's ``llm_peft``) builds a frozen
encoder from a pretrained model in the platform's store, in its model's constructor: the server
runs it to build the initial global model, each site to build its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file
from safetensors.torch import save_file

from nvflare_fdd.cli.main import main
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.pretrained.manifest import scan_source

pytestmark = pytest.mark.slow

ENCODER = "solubility-encoder"

ASKS_AT_THE_SITE = '''import torch
from torch.utils.data import DataLoader, TensorDataset

from model_manager import download_model


def data_loader(raw_datas, configs):
	vocabulary = download_model(configs["vocabulary"])  # only sites run data.py
	frame = raw_datas["solubility"]
	x = torch.tensor([[len(s) / 10.0, s.count("C") / 10.0, s.count("O") / 10.0] for s in frame["smiles_structure_parent"]])
	dataset = TensorDataset(x, torch.tensor(frame["measurement_value"].to_numpy(), dtype=torch.float32))
	loader = DataLoader(dataset, batch_size=len(dataset))
	return {"train": loader, "test": loader}
'''


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The platform's store with the encoder (a Hugging Face-style folder) in it; the jobs' server serves from it."""
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    folder = tmp_path / "encoder"
    folder.mkdir()
    torch.manual_seed(7)
    encoder = torch.nn.Linear(3, 16)
    save_file({key: value.contiguous() for key, value in encoder.state_dict().items()}, folder / "model.safetensors")
    (folder / "config.json").write_text('{"in_features": 3, "out_features": 16}')
    storage = SqlStorage(url)
    storage.ensure_user("alice")
    found = scan_source(folder)
    storage.add_pretrained("alice", ENCODER, found.kind, found.files)
    storage.close()
    monkeypatch.setenv("FDD_STORAGE_URL", url)
    monkeypatch.setenv("FDD_PRETRAINED_CACHE", str(tmp_path / "cache"))
    return {key: value.numpy() for key, value in encoder.state_dict().items()}


def fdd_run(bundle: Path, sites: dict[str, str], out: Path):
    arguments = ["run", str(bundle), "--rounds", "2", "--out", str(out), "--timeout", "300"]
    for name, url in sites.items():
        arguments += ["--site", f"{name}={url}"]
    return CliRunner().invoke(main, arguments)


def test_the_server_and_two_sites_build_the_model_from_the_store(kmelloddy_bundle, two_sites, store, tmp_path):
    out = tmp_path / "out"
    result = fdd_run(kmelloddy_bundle("mlp_pretrained"), two_sites, out)

    assert result.exit_code == 0, result.output
    final = load_file(str(out / "global_model.safetensors"))
    # the frozen encoder is the store's, in the server's initial model and in every site's update
    for key in ("weight", "bias"):
        assert (final[f"encoder.{key}"] == store[key]).all()
    assert not (final["head.1.bias"] == 0).all()  # the head did train
    log = "\n".join(path.read_text(errors="replace") for path in (out / "nvflare").rglob("log.txt"))
    assert f"pretrained model {ENCODER} for the server's model" in log
    for site in two_sites:
        assert f"{site} asked for pretrained model {ENCODER}" in log  # the site fetched it through NVFlare
    assert json.loads((out / "progress.json").read_text())["state"] == "completed"


def test_a_name_not_in_the_store_fails_the_servers_build_naming_it(kmelloddy_bundle, two_sites, store, tmp_path):
    bundle = kmelloddy_bundle("mlp_pretrained", {"config.yaml": "pretrained_model: chemberta-77M\n"})
    out = tmp_path / "out"
    result = fdd_run(bundle, two_sites, out)

    assert result.exit_code == 1, result.output
    assert "no pretrained model named 'chemberta-77M' in the platform's store" in result.output
    assert "fdd pretrained add chemberta-77M PATH" in result.output
    failure = json.loads((out / "failure.json").read_text())
    assert failure["site"] == "server"
    assert "model.py" in failure["trace"]  # where the model asked


def test_a_name_not_in_the_store_fails_the_sites_phase_and_stays_at_the_site(kmelloddy_bundle, two_sites, store,
                                                                             tmp_path):  # fmt: skip
    secret = "CCO-row-17-logS-minus-2.31"  # what a hostile bundle could try to send as a name
    bundle = kmelloddy_bundle("mlp_pretrained", {"data.py": ASKS_AT_THE_SITE,
                                                 "config.yaml": f"pretrained_model: {ENCODER}\nvocabulary: {secret}\n"})
    out = tmp_path / "out"
    result = fdd_run(bundle, two_sites, out)

    assert result.exit_code == 1, result.output
    failure = json.loads((out / "failure.json").read_text())
    assert failure["code"] == 2001 and failure["site"] in two_sites
    assert "not in the platform's store (the site's log names it)" in failure["message"]
    assert "data.py" in failure["trace"]
    # the name never left the site: not in the server's records, not in what the server logged
    server_side = [out / "failure.json", out / "progress.json", *(out / "nvflare" / "workspace" / "server").rglob("*.txt")]
    for path in server_side:
        assert secret not in path.read_text(errors="replace"), path
    site_logs = "".join(p.read_text() for p in (out / "nvflare" / "workspace").glob("site_*/**/fdd_user_code.log"))
    assert f"no pretrained model named '{secret}'" in site_logs


@pytest.mark.parametrize("in_env", [False, True], ids=["in-process", "env"])
def test_fdd_check_gives_the_bundle_this_machines_pretrained_models(kmelloddy_bundle, two_sites, store, in_env):
    bundle = kmelloddy_bundle("mlp_pretrained")
    arguments = ["check", str(bundle), "--kda", two_sites["site_a"], *(["--env"] if in_env else [])]

    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output

    (bundle / "config.yaml").write_text("pretrained_model: chemberta-77M\n")
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1, result.output
    assert "no pretrained model named 'chemberta-77M'" in result.output
