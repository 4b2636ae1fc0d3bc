"""nvflare_fdd.testing's overlays: a variant bundle is its base with the overlay's files and diffs applied."""

from __future__ import annotations

import pytest

from nvflare_fdd.testing import apply_patch, assemble_bundle

# the blank context line is written empty, as editors that strip trailing spaces leave it
BASE = "import torch\n\nEPOCHS = 1\n\ndef train(model, data, configs):\n\tpass\n"
PATCH = """--- a/train_eval.py
+++ b/train_eval.py
@@ -1,3 +1,4 @@
 import torch

-EPOCHS = 1
+EPOCHS = 2
+from controller_manager import *
@@ -5,0 +7 @@
+\t# fedprox apply
"""


def test_a_patch_replaces_and_inserts_lines_where_its_hunks_say():
    assert apply_patch(BASE, PATCH) == (
        "import torch\n\nEPOCHS = 2\nfrom controller_manager import *\n\ndef train(model, data, configs):\n"
        "\t# fedprox apply\n\tpass\n"
    )


def test_a_patch_of_another_base_is_refused():
    with pytest.raises(ValueError, match='the patch does not apply: .*"EPOCHS = 1" does not match "EPOCHS = 5"'):
        apply_patch(BASE.replace("EPOCHS = 1", "EPOCHS = 5"), PATCH)


def test_an_overlay_replaces_adds_and_patches_files_of_the_base(tmp_path):
    base, overlay = tmp_path / "base", tmp_path / "overlay"
    base.mkdir()
    overlay.mkdir()
    (base / "train_eval.py").write_text(BASE)
    (base / "model.py").write_text("base model\n")
    (base / "data.py").write_text("base data\n")
    (overlay / "train_eval.py.patch").write_text(PATCH)
    (overlay / "model.py").write_text("own model\n")
    (overlay / "config.yaml").write_text("epochs: 2\n")

    bundle = assemble_bundle(tmp_path / "bundle", base, overlay)

    assert sorted(path.name for path in bundle.iterdir()) == ["config.yaml", "data.py", "model.py", "train_eval.py"]
    assert (bundle / "train_eval.py").read_text() == apply_patch(BASE, PATCH)
    assert (bundle / "model.py").read_text() == "own model\n" and (bundle / "data.py").read_text() == "base data\n"
    assert (base / "model.py").read_text() == "base model\n"  # the base is left as it was
