"""The global weights go into the model a batch at a time, from a file read lazily, with ``load_state_dict``'s
own missing and unexpected keys."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nvflare_fdd.client import round as client_round
from nvflare_fdd.client.round import ClientRound
from nvflare_fdd.client.worker import FileTensors
from nvflare_fdd.errors import ContractError


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 1))


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setattr(client_round, "LOAD_BATCH_BYTES", 16)  # a batch per tensor or two
    round_ = ClientRound(tmp_path, dict, device="cpu")
    round_.model = _net()
    return round_


def test_batched_lazy_load_equals_one_load_state_dict(client, tmp_path):
    source = {key: value + 1 for key, value in _net().state_dict().items()}
    partial = {key: value for key, value in source.items() if not key.startswith("2.")}
    partial["extra.weight"] = torch.zeros(3)
    path = tmp_path / "global.safetensors"
    save_file(partial, str(path))

    missing, unexpected = client._load_global(FileTensors(str(path)))

    reference = _net()
    expected = reference.load_state_dict(partial, strict=False)
    assert missing == expected.missing_keys == ["2.weight", "2.bias"]
    assert unexpected == expected.unexpected_keys == ["extra.weight"]
    for key, value in reference.state_dict().items():
        assert torch.equal(client.model.state_dict()[key], value), key


def test_weights_of_another_model_are_refused(client, tmp_path):
    path = tmp_path / "global.safetensors"
    save_file({"encoder.weight": torch.zeros(2), "decoder.weight": torch.zeros(2)}, str(path))
    with pytest.raises(ContractError, match="none of the 2 received weights belong to the model"):
        client._load_global(FileTensors(str(path)))
