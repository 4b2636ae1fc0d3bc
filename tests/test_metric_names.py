"""Metric names known before a run: the vocabulary, ``evaluate()``'s literal keys, declared names."""

from __future__ import annotations

import pytest

from nvflare_fdd.metric_names import allowed_metric_names, check_declared, literal_keys, vocabulary

# K-MELLODDY's examples: tab-indented, the dict built into a name and returned
KMELLODDY_EVALUATE = (
    "def evaluate(model, data, configs):\n"
    "\ttest_loss = 0\n"
    "\tmetrics = {\"loss\": test_loss, \"accuracy\": 1.0}\n"
    "\treturn metrics\n"
)


@pytest.mark.parametrize(
    ("source", "keys"),
    [
        (KMELLODDY_EVALUATE, {"loss", "accuracy"}),
        ("def evaluate(m, d, c):\n    out = {}\n    out['auprc_macro'] = 1\n    out['ef1'] += 1\n    return out\n",
         {"auprc_macro", "ef1"}),
        ("def evaluate(m, d, c):\n    return dict(spearman=1, kendall_tau=2)\n", {"spearman", "kendall_tau"}),
        ("def evaluate(m, d, c):\n    r = {}\n    r.update(top_k=1)\n    return r\n", {"top_k"}),
        ("def evaluate(m, d, c):\n    return {name: 1.0 for name in d['names']}\n", set()),  # built at run time: none
        ("def evaluate(m, d, c):\n    return {f'x_{i}': i for i in range(3)}\n", set()),
        ("def broken(:\n", set()),
    ],
)  # fmt: skip
def test_literal_keys_are_read_from_the_source(source, keys):
    assert literal_keys(source) == keys


def test_what_frameworks_return_is_in_the_vocabulary():
    names = vocabulary()
    assert {"eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch"} <= names  # HF
    assert {"test_loss", "test_acc", "val_loss", "test/loss"} <= names  # Lightning
    assert {"rmse", "r2", "mae", "roc_auc", "pearson"} <= names


def test_a_bundles_names_get_the_frameworks_prefixes(tmp_path):
    (tmp_path / "train_eval.py").write_text("def compute_metrics(p):\n    return {'ef1': 1.0}\n")
    allowed = allowed_metric_names(tmp_path, ["auprc_macro"])
    assert {"ef1", "eval_ef1", "test_ef1", "auprc_macro", "rmse"} <= allowed
    assert "CCO" not in allowed and "eval_auprc_macro" not in allowed


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "smiles:CCO", "naïve", None])
def test_declared_names_follow_the_metric_name_rule(bad):
    with pytest.raises(ValueError):
        check_declared([bad])


def test_at_most_64_names_may_be_declared():
    assert check_declared(["a", "a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="at most 64"):
        check_declared([f"m{i}" for i in range(65)])
