"""Bundles written the way K-MELLODDY's public examples are (tab-indented, the injected modules imported by
bare name, a hard-coded cuda:0) validate: they run unchanged (DESIGN §9). The bundles are in tests/kmelloddy/."""

from __future__ import annotations

import pytest

from nvflare_fdd.bundle import inspect_bundle


@pytest.mark.parametrize(
    ("example", "model_class"),
    [("mlp", "SolubilityMLP"), ("mlp_prox", "SolubilityMLP"), ("mlp_scaffold", "SolubilityMLP"), ("llm_peft", "CausalLMPEFTModel")],
)
def test_k_melloddy_style_bundles_are_valid_and_warned_about_cuda(kmelloddy_bundle, example, model_class):
    report = inspect_bundle(kmelloddy_bundle(example), model_class=model_class)

    assert report.problems == ()
    if example != "llm_peft":
        assert [w.line for w in report.warnings] == [4]  # DEVICE = torch.device("cuda:0")


def test_a_k_melloddy_style_bundle_with_a_helper_module_is_valid(kmelloddy_bundle):
    bundle = kmelloddy_bundle("mlp", {"additional_utils.py": "def scale(x):\n    return x\n"})

    assert inspect_bundle(bundle, model_class="SolubilityMLP").problems == ()
