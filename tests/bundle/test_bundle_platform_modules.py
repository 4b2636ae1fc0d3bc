"""Validation knows K-MELLODDY's injected modules and warns about a hard-coded CUDA device (DESIGN §9)."""

from __future__ import annotations

import pytest

from nvflare_fdd.bundle import inspect_bundle


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from controller_manager import *\n", None),
        ("from controller_manager import FLFedProx, FLScaffold\n", None),
        ("from model_manager import download_model, DEVICE, get_lr_values, compute_model_diff\n", None),
        ("from controller_manager import FLFedprox\n", "controller_manager has no 'FLFedprox': did you mean FLFedProx?"),
        ("from model_manager import download\n", "model_manager has no 'download': did you mean download_model?"),
        ("import model_manager\n\nPATH = model_manager.downlod_model('x')\n", "model_manager has no 'downlod_model'"),
    ],
)
def test_names_imported_from_the_injected_modules_must_exist(make_bundle, source, problem):
    evaluate = "\n\ndef train(m, d, c):\n    pass\n\n\ndef evaluate(m, d, c):\n    return {'loss': 1.0}\n"
    report = inspect_bundle(make_bundle({"train_eval.py": source + evaluate}))
    messages = [str(p) for p in report.problems]
    if problem is None:
        assert messages == []
    else:
        assert len(messages) == 1 and problem in messages[0] and messages[0].startswith("train_eval.py:")


def test_a_bundle_with_its_own_controller_manager_uses_its_own(make_bundle):
    own = "class FLFedprox:\n    pass\n"
    report = inspect_bundle(make_bundle({"controller_manager.py": own, "train_eval.py":
        "from controller_manager import FLFedprox\n\n\ndef train(m, d, c):\n    pass\n\n\ndef evaluate(m, d, c):\n    return {}\n"}))  # fmt: skip
    assert report.ok, report.problems


def test_a_hard_coded_cuda_device_is_a_warning_not_a_problem(make_bundle):
    source = (
        "import torch\n\nDEVICE = torch.device('cuda:0')\n\n\ndef train(m, d, c):\n    m.cuda()\n\n\n"
        "def evaluate(m, d, c):\n    return {'loss': 1.0}\n"
    )
    report = inspect_bundle(make_bundle({"train_eval.py": source}))
    assert report.ok
    assert [str(w) for w in report.warnings] == [
        "train_eval.py:3: moves data to cuda:0; on a site without a GPU this fails — use `model_manager.DEVICE` "
        "(this site's device)",
        "train_eval.py:7: moves data to cuda; on a site without a GPU this fails — use `model_manager.DEVICE` "
        "(this site's device)",
    ]
