"""``examples/solubility_mlp`` runs the client round on a demo institution's data."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from nvflare_fdd.kda import load_raw_datas, test_key

BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "solubility_mlp"
BUNDLE_MODULES = ("model", "data", "train_eval")

pytest.importorskip("rdkit", reason="needs the demo extra: pip install 'nvflare-fdd[demo]'")


@pytest.fixture
def bundle():
    """The bundle's modules, imported by bare name as the platform does (with the injected modules)."""
    from nvflare_fdd.usercode import user_modules

    saved_dont_write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # keep __pycache__ out of the example bundle
    try:
        with user_modules(BUNDLE):
            yield {name: importlib.import_module(name) for name in BUNDLE_MODULES}
    finally:
        sys.dont_write_bytecode = saved_dont_write_bytecode


def _raw_datas(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {test_key(test): rows.reset_index(drop=True) for test, rows in table.groupby("test")}


def _round(bundle, raw_datas, configs):
    # on the platform the initial weights come from the server; here, from a fixed seed
    torch.manual_seed(0)
    data = bundle["data"].data_loader(raw_datas, configs)
    model = bundle["model"].model_loader(configs)
    before = bundle["train_eval"].evaluate(model, data, configs)
    bundle["train_eval"].train(model, data, configs)
    after = bundle["train_eval"].evaluate(model, data, configs)
    return data, model, before, after


def test_the_bundle_has_only_flat_allowed_files():
    allowed = {".py", ".txt", ".json", ".yaml", ".yml"}
    files = [path for path in BUNDLE.iterdir() if path.name != "__pycache__"]

    assert all(path.is_file() and path.suffix in allowed for path in files)
    assert {"model.py", "data.py", "train_eval.py", "requirements.txt", "config.yaml"} <= {
        path.name for path in files
    }


def test_one_round_learns_solubility(bundle, demo_tables):
    configs = OmegaConf.load(BUNDLE / "config.yaml")

    data, _, before, after = _round(bundle, _raw_datas(demo_tables["pharma_b"]), configs)

    for metrics in (before, after):
        assert set(metrics) == {"rmse", "mae", "r2"}
        assert all(type(value) is float and math.isfinite(value) for value in metrics.values())
    assert after["rmse"] < before["rmse"]
    assert after["r2"] > 0.3
    assert len(data["train"].dataset) + len(data["test"].dataset) == 299


def test_split_and_training_are_deterministic(bundle, demo_tables):
    configs = OmegaConf.load(BUNDLE / "config.yaml")
    configs.epochs = 1
    raw_datas = _raw_datas(demo_tables["pharma_c"])
    shuffled = {key: frame.sample(frac=1.0, random_state=1) for key, frame in raw_datas.items()}

    first = _round(bundle, raw_datas, configs)[3]
    second = _round(bundle, shuffled, configs)[3]

    assert first == pytest.approx(second)


def test_server_and_client_build_the_same_parameters(bundle):
    config_dict = yaml.safe_load((BUNDLE / "config.yaml").read_text())
    client_model = bundle["model"].model_loader(OmegaConf.create(config_dict))

    server_model = bundle["model"].SolubilityMLP(config_dict)
    default_model = bundle["model"].SolubilityMLP()

    client_shapes = {key: value.shape for key, value in client_model.state_dict().items()}
    assert {key: value.shape for key, value in server_model.state_dict().items()} == client_shapes
    assert {key: value.shape for key, value in default_model.state_dict().items()} == client_shapes


def test_requirements_pin_the_installed_rdkit():
    import rdkit

    lines = [
        line.strip()
        for line in (BUNDLE / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    installed = ".".join(str(int(part)) for part in rdkit.__version__.split("."))
    assert lines == [f"rdkit=={installed}"]


def test_one_round_on_a_kda_database(bundle, prepared_demo):
    _, sites = prepared_demo
    site = sites[2]
    configs = OmegaConf.load(BUNDLE / "config.yaml")
    configs.epochs = 2

    _, _, before, after = _round(bundle, load_raw_datas(site.url), configs)

    assert after["rmse"] < before["rmse"]
