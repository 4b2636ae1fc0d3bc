"""Bundles written for the original K-MELLODDY platform (public repo Alcatraz76/FDD) must validate.

The examples are read from a local git mirror; the tests skip when it is absent. Files the
platform injected (``script.py``, ``controller_manager.py``) are left out, as users never upload them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nvflare_fdd.bundle import validate_bundle

MIRROR = Path("/work/.mirror/Alcatraz76+FDD/repo")
INJECTED = {"script.py", "controller_manager.py"}


def _copy_example(example: str, destination: Path) -> Path:
    if shutil.which("git") is None or not MIRROR.exists():
        pytest.skip(f"the K-MELLODDY examples mirror is not available at {MIRROR}")
    listing = subprocess.run(
        ["git", "-C", str(MIRROR), "ls-tree", "--name-only", "HEAD", f"examples/{example}/"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    if not listing:
        pytest.skip(f"examples/{example} is not in the mirror")
    destination.mkdir()
    for path in listing:
        name = path.rsplit("/", 1)[-1]
        if name not in INJECTED:
            content = subprocess.run(
                ["git", "-C", str(MIRROR), "show", f"HEAD:{path}"], capture_output=True, check=True, timeout=60
            ).stdout
            (destination / name).write_bytes(content)
    return destination


@pytest.mark.parametrize(
    ("example", "model_class"),
    [
        ("mlp", "MLP"),
        ("mlp_prox", "MLP"),
        ("mlp_scaffold", "MLP"),
        ("llm_peft", "CausalLMPEFTModel"),
    ],
)
def test_k_melloddy_example_is_valid(tmp_path, example, model_class):
    bundle = _copy_example(example, tmp_path / example)

    assert validate_bundle(bundle, model_class=model_class) == []


def test_k_melloddy_example_with_a_helper_module_is_valid(tmp_path):
    bundle = _copy_example("mlp", tmp_path / "mlp")
    (bundle / "additional_utils.py").write_text("def scale(x):\n    return x\n")

    assert validate_bundle(bundle, model_class="MLP") == []


def test_k_melloddy_cnn_template_placeholder_is_reported(tmp_path):
    """The cnn example is a fill-in template: its class name is a placeholder string, not Python."""
    bundle = _copy_example("cnn", tmp_path / "cnn")

    problems = validate_bundle(bundle)

    assert [(problem.file, problem.line, problem.message.startswith("syntax error")) for problem in problems] == [
        ("model.py", 4, True)
    ]
