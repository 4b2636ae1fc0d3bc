"""The client round: phases in order, sample counts, metrics, and the failure code of every phase."""

from __future__ import annotations

import math

import pytest
import torch

from nvflare_fdd.client import ClientRound, Phase, RoundError, count_training_samples, metrics_dict
from nvflare_fdd.client.check import ServerModelError, check_bundle

ROUND_CODES = [4001, 5000, 6000, 7000, 8000]
SETUP_CODES = [1000, 2000, 2001, 3000]


def run_rounds(bundle, raw_datas, rounds=2, events=None):
    with ClientRound(bundle, lambda: raw_datas, site="site-a", device="cpu", on_phase=events) as client:
        setup = client.setup()
        results, params = [], None
        for round_num in range(1, rounds + 1):
            result = client.run(round_num, params)
            params = result.params
            results.append(result)
    return setup, results


def test_round_runs_every_phase_in_order_and_training_lowers_the_loss(tiny_bundle, tiny_raw_datas):
    events = []
    setup, results = run_rounds(tiny_bundle, tiny_raw_datas, rounds=3, events=events.append)

    assert [t.code for t in setup] == SETUP_CODES
    for result in results:
        assert [t.code for t in result.phases] == ROUND_CODES
        assert all(t.start <= t.end for t in result.phases)
        assert result.num_samples == 40
        assert result.local_metrics["mse"] < result.global_metrics["mse"]
        assert isinstance(result.global_metrics["mse"], float)  # 0-d tensor became a number
        assert all(value.device.type == "cpu" for value in result.params.values())
    # each round starts from the previous round's update
    assert results[1].global_metrics["mse"] == pytest.approx(results[0].local_metrics["mse"], rel=1e-6)
    starts = [(e["round"], e["code"]) for e in events if e["event"] == "start"]
    assert starts[:4] == [(None, code) for code in SETUP_CODES]
    assert starts[4:9] == [(1, code) for code in ROUND_CODES]


def test_global_weights_are_loaded_before_global_eval(tiny_bundle, tiny_raw_datas):
    zero = {"linear.weight": torch.zeros(1, 3), "linear.bias": torch.zeros(1)}
    with ClientRound(tiny_bundle, lambda: tiny_raw_datas, device="cpu") as client:
        client.setup()
        result = client.run(1, zero)
    values = tiny_raw_datas["solubility"]["measurement_value"]
    assert result.global_metrics["mse"] == pytest.approx(float((values**2).mean()), rel=1e-5)


def test_train_may_report_its_own_sample_count(make_bundle, tiny_raw_datas):
    bundle = make_bundle(
        {
            "train_eval.py": """
                def train(model, data, configs):
                    return {"num_samples": 7}

                def evaluate(model, data, configs):
                    return {"loss": 1.0}
            """
        }
    )
    _, [result] = run_rounds(bundle, tiny_raw_datas, rounds=1)
    assert result.num_samples == 7


FAILING = {
    1000: {"config.yaml": "- just\n- a list\n"},
    2001: {"data.py": "def data_loader(raw_datas, configs):\n    return raw_datas['no_such_test']\n"},
    3000: {"model.py": "def model_loader(configs):\n    raise ValueError('bad hidden size')\n"},
    5000: {
        "train_eval.py": "def train(model, data, configs):\n    pass\n\n"
        "def evaluate(model, data, configs):\n    raise RuntimeError('eval broke')\n"
    },
    6000: {
        "train_eval.py": "def train(model, data, configs):\n    raise RuntimeError('train broke')\n\n"
        "def evaluate(model, data, configs):\n    return {'loss': 0.0}\n"
    },
    7000: {
        "train_eval.py": "calls = []\n\ndef train(model, data, configs):\n    pass\n\n"
        "def evaluate(model, data, configs):\n    calls.append(1)\n"
        "    if len(calls) > 1:\n        raise RuntimeError('second eval broke')\n    return {'loss': 0.0}\n"
    },
    8000: {
        "data.py": "def data_loader(raw_datas, configs):\n    return {'rows': iter([])}\n",
        "train_eval.py": "def train(model, data, configs):\n    pass\n\n"
        "def evaluate(model, data, configs):\n    return {'loss': 0.0}\n",
    },
}


@pytest.mark.parametrize("code", sorted(FAILING))
def test_each_phase_fails_with_its_code_and_the_users_traceback(make_bundle, tiny_raw_datas, code):
    bundle = make_bundle(FAILING[code])
    with pytest.raises(RoundError) as caught:
        run_rounds(bundle, tiny_raw_datas, rounds=1)
    error = caught.value
    assert error.code == code
    assert error.site == "site-a"
    assert error.round == (1 if code >= 4000 else None)
    if code in (2001, 3000, 5000, 6000, 7000):
        assert str(bundle) in error.trace  # the user's own file and line
        assert "nvflare_fdd/client/round.py" not in error.trace


def test_data_download_failure_is_2000(tiny_bundle):
    def broken_fetch():
        raise ConnectionError("KDA unreachable")

    with ClientRound(tiny_bundle, broken_fetch, site="site-b") as client, pytest.raises(RoundError) as caught:
        client.setup()
    assert caught.value.code == Phase.DATA_DOWNLOAD
    assert "KDA unreachable" in caught.value.message


def test_sys_exit_in_user_code_is_a_failure_not_an_exit(make_bundle, tiny_raw_datas):
    bundle = make_bundle({"train_eval.py": "import sys\n\ndef train(m, d, c):\n    sys.exit(3)\n\ndef evaluate(m, d, c):\n    return {}\n"})
    with pytest.raises(RoundError) as caught:
        run_rounds(bundle, tiny_raw_datas, rounds=1)
    assert caught.value.code == 6000
    assert "SystemExit" in caught.value.message


def test_weights_of_another_architecture_fail_at_4001(tiny_bundle, tiny_raw_datas):
    with ClientRound(tiny_bundle, lambda: tiny_raw_datas) as client:
        client.setup()
        with pytest.raises(RoundError) as caught:
            client.run(1, {"encoder.weight": torch.zeros(2, 2)})
    assert caught.value.code == 4001
    assert "none of the 1 received weights" in caught.value.message


def test_bundles_do_not_see_each_others_modules(make_bundle, tiny_raw_datas):
    first = make_bundle(name="first")
    second = make_bundle({"model.py": TINY_MODEL_WITH_HIDDEN}, name="second")
    _, [one] = run_rounds(first, tiny_raw_datas, rounds=1)
    _, [two] = run_rounds(second, tiny_raw_datas, rounds=1)
    assert set(one.params) == {"linear.weight", "linear.bias"}
    assert "hidden.weight" in two.params


TINY_MODEL_WITH_HIDDEN = """
import torch.nn as nn


class TinyRegressor(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        self.hidden = nn.Linear(3, 4)
        self.linear = nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(self.hidden(x)).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs)
"""


@pytest.mark.parametrize(
    ("train_return", "data", "expected"),
    [
        ({"num_samples": 12}, None, 12),
        (None, {"train": [1, 2, 3]}, 3),
        (None, {"train": torch.utils.data.DataLoader(list(range(10)), batch_size=4)}, 10),
        ({"num_samples": torch.tensor(5)}, None, 5),
    ],
)
def test_count_training_samples(train_return, data, expected):
    assert count_training_samples(train_return, data) == expected


@pytest.mark.parametrize("train_return", [{"num_samples": -1}, {"num_samples": 2.5}, {"num_samples": "ten"}])
def test_count_training_samples_refuses_bad_counts(train_return):
    with pytest.raises(Exception, match="num_samples"):
        count_training_samples(train_return, None)


def test_metrics_dict_merges_lightning_lists():
    assert metrics_dict([{"loss": 0.5}, {"acc": 1}]) == {"loss": 0.5, "acc": 1}
    with pytest.raises(Exception, match="dict of metric name"):
        metrics_dict(0.3)


def test_only_finite_scalar_metrics_leave_the_site(make_bundle, tiny_raw_datas):
    leaky = (
        "import torch\n\ndef train(model, data, configs):\n    pass\n\n"
        "def evaluate(model, data, configs):\n    x, y = next(iter(data['test']))\n"
        "    return {'mse': torch.tensor(0.5), 'targets': y, 'smiles': 'CCO', 'bad': float('nan')}\n"
    )
    _, [result] = run_rounds(make_bundle({"train_eval.py": leaky}), tiny_raw_datas, rounds=1)
    assert result.global_metrics == {"mse": 0.5}
    assert result.local_metrics == {"mse": 0.5}
    assert set(result.dropped_metrics["global"]) == {"targets", "smiles", "bad"}


def test_check_builds_the_server_model_and_checks_the_update_fits(tiny_bundle, tiny_raw_datas):
    report = check_bundle(tiny_bundle, lambda: tiny_raw_datas, rounds=2, device="cpu")
    assert report.model_class == "TinyRegressor"
    assert report.num_parameters == 4
    assert len(report.rounds) == 2
    assert all(math.isfinite(r.local_metrics["mse"]) for r in report.rounds)


def test_check_fails_when_the_server_class_builds_another_shape(make_bundle, tiny_raw_datas):
    client_with_other_shape = (
        "class Client(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.hidden = nn.Linear(3, 2)\n        self.linear = nn.Linear(2, 1)\n\n"
        "    def forward(self, x):\n        return self.linear(self.hidden(x)).squeeze(-1)\n\n\n"
        "def model_loader(configs):\n    return Client()"
    )
    bundle = make_bundle(
        {"model.py": TINY_MODEL_WITH_HIDDEN.replace("def model_loader(configs):\n    return TinyRegressor(configs)", client_with_other_shape)}
    )
    with pytest.raises(RoundError) as caught:
        check_bundle(bundle, lambda: tiny_raw_datas, model_class="TinyRegressor", device="cpu")
    # the site cannot even load the server's first global model
    assert caught.value.code == 4001
    assert "size mismatch" in caught.value.message


def test_check_fails_when_the_update_has_weights_the_server_lacks(tiny_bundle, make_bundle, tiny_raw_datas):
    with_extra_head = (tiny_bundle / "model.py").read_text().replace(
        "def model_loader(configs):\n    return TinyRegressor(configs)",
        "class WithHead(TinyRegressor):\n    def __init__(self, configs=None):\n"
        "        super().__init__(configs)\n        self.head = nn.Linear(1, 1)\n\n\n"
        "def model_loader(configs):\n    return WithHead(configs)",
    )
    bundle = make_bundle({"model.py": with_extra_head}, name="with_head")
    with pytest.raises(RoundError) as caught:
        check_bundle(bundle, lambda: tiny_raw_datas, model_class="TinyRegressor", device="cpu")
    assert caught.value.code == 8000
    assert "head.weight is not in the server's model" in caught.value.message


def test_check_reports_a_server_build_failure(make_bundle, tiny_raw_datas):
    bundle = make_bundle({"config.yaml": "n_features: 3\nlearning_rate: 0.1\nepochs: 1\n"})
    with pytest.raises(ServerModelError, match="no torch.nn.Module class named 'Missing'"):
        check_bundle(bundle, lambda: tiny_raw_datas, model_class="Missing", device="cpu")


def test_partial_state_dicts_are_valid_updates(make_bundle, tiny_raw_datas):
    peft_like = TINY_MODEL_WITH_HIDDEN.replace(
        "    def forward(self, x):",
        "        self.hidden.requires_grad_(False)\n\n"
        "    def state_dict(self, *args, **kwargs):\n"
        "        full = super().state_dict(*args, **kwargs)\n"
        "        trainable = {n for n, p in self.named_parameters() if p.requires_grad}\n"
        "        return {k: v for k, v in full.items() if k in trainable}\n\n"
        "    def forward(self, x):",
    )
    bundle = make_bundle({"model.py": peft_like})
    report = check_bundle(bundle, lambda: tiny_raw_datas, rounds=2, device="cpu")
    assert set(report.rounds[-1].params) == {"linear.weight", "linear.bias"}
