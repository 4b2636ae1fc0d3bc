"""The server's side of the model: built from the bundle's class, saved atomically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from nvflare_fdd.persistors.model_persistor import save_state_dict
from nvflare_fdd.usercode import build_server_model, user_modules

WRAPPER_MODEL = '''
import os

import torch
import torch.nn as nn


class Core(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)


class Wrapper(nn.Module):
    """The K-MELLODDY wrapper pattern: load bundled weights by __file__-relative path."""

    def __init__(self, configs=None):
        super().__init__()
        self.model = Core()
        here = os.path.dirname(os.path.abspath(__file__))
        self.model.load_state_dict(torch.load(os.path.join(here, "pretrained.pt"), weights_only=True))

    def forward(self, x):
        return self.model(x)


def model_loader(configs):
    return Wrapper(configs)
'''


def test_the_wrapper_pattern_loads_bundled_weights(make_bundle):
    bundle = make_bundle({"model.py": WRAPPER_MODEL, "config.yaml": None})
    pretrained = {"linear.weight": torch.tensor([[1.0, 2.0, 3.0]]), "linear.bias": torch.tensor([4.0])}
    torch.save(pretrained, bundle / "pretrained.pt")
    with user_modules(bundle):
        model = build_server_model(bundle, "Wrapper")
    assert torch.equal(model.state_dict()["model.linear.weight"], pretrained["linear.weight"])


def test_the_class_gets_the_config_as_a_plain_dict(make_bundle):
    recorder = '''
import torch.nn as nn

seen = []


class Recorder(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        seen.append(configs)
        self.linear = nn.Linear(1, 1)


def model_loader(configs):
    return Recorder(configs)
'''
    bundle = make_bundle({"model.py": recorder, "config.yaml": "hidden: 8\nnested:\n  lr: 0.1\nref: ${hidden}\n"})
    with user_modules(bundle):
        build_server_model(bundle, "Recorder")
        import model

        assert model.seen == [{"hidden": 8, "nested": {"lr": 0.1}, "ref": 8}]
        assert type(model.seen[0]) is dict


def test_without_config_the_class_is_built_with_no_arguments(make_bundle):
    strict = "import torch.nn as nn\n\nclass Strict(nn.Module):\n    def __init__(self):\n        super().__init__()\n\n" \
             "def model_loader(configs):\n    return Strict()\n"  # fmt: skip
    bundle = make_bundle({"model.py": strict, "config.yaml": None})
    with user_modules(bundle):
        assert type(build_server_model(bundle, "Strict")).__name__ == "Strict"


def test_models_are_saved_as_pt_and_safetensors(tmp_path):
    params = {"w": torch.arange(6.0).reshape(2, 3), "n": torch.tensor(4)}
    save_state_dict(params, tmp_path, "global_model")
    assert torch.equal(torch.load(tmp_path / "global_model.pt", weights_only=True)["w"], params["w"])
    assert torch.equal(load_file(tmp_path / "global_model.safetensors")["n"], params["n"])


def test_a_failed_save_keeps_the_previous_model_and_leaves_no_temp_files(tmp_path, monkeypatch):
    save_state_dict({"w": torch.zeros(2)}, tmp_path, "global_model")

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_state_dict({"w": torch.ones(2)}, tmp_path, "global_model")
    assert torch.equal(load_file(tmp_path / "global_model.safetensors")["w"], torch.zeros(2))
    monkeypatch.undo()
    assert torch.equal(torch.load(tmp_path / "global_model.pt", weights_only=True)["w"], torch.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["global_model.pt", "global_model.safetensors"]


def test_the_saved_models_are_in_nvflares_model_inventory(tmp_path):
    """NVFlare's model-locator API finds the last and the best global model once both their files are complete."""
    from types import SimpleNamespace

    from nvflare.apis.fl_constant import ReservedKey
    from nvflare.apis.fl_context import FLContext
    from nvflare.apis.workspace import Workspace
    from nvflare.app_common.abstract.model import model_learnable_to_dxo

    from nvflare_fdd.persistors.model_persistor import FddModelPersistor

    for folder in ("startup", "local"):  # what NVFlare checks a workspace has
        (tmp_path / "server" / folder).mkdir(parents=True)
    workspace = Workspace(root_dir=str(tmp_path / "server"), site_name="server")
    fl_ctx = FLContext()
    fl_ctx.set_prop(ReservedKey.ENGINE, SimpleNamespace(get_workspace=lambda: workspace), private=True, sticky=False)
    fl_ctx.set_prop(ReservedKey.RUN_NUM, "job-1", private=False, sticky=True)
    persistor = FddModelPersistor(model_class="TinyRegressor")
    assert persistor.get_model_inventory(fl_ctx) == {} and persistor.get_model("global_model", fl_ctx) is None

    weights = {"linear.weight": np.arange(3, dtype=np.float32).reshape(1, 3), "linear.bias": np.ones(1, np.float32)}
    folder = persistor.save_weights(weights, fl_ctx)
    (folder / "best_global_model.pt").write_bytes(b"")  # half a best model: not listed until both files are there
    assert sorted(persistor.get_model_inventory(fl_ctx)) == ["global_model"]
    assert persistor.keep_last_as_best(fl_ctx)

    inventory = persistor.get_model_inventory(fl_ctx)
    assert sorted(inventory) == ["best_global_model", "global_model"]
    assert inventory["global_model"].location == str(folder / "global_model.safetensors")
    dxo = model_learnable_to_dxo(persistor.get("best_global_model", fl_ctx))  # as NVFlare's locators call it
    assert sorted(dxo.data) == sorted(weights)
    np.testing.assert_array_equal(dxo.data["linear.weight"], weights["linear.weight"])
