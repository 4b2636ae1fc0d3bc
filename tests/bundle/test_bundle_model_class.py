"""--model-class: model.py must define the registered class as a torch.nn.Module, found by AST."""

from __future__ import annotations

import pytest

from nvflare_fdd.bundle import validate_bundle

LOADER = "\n\ndef model_loader(configs):\n    return None\n"

# id, model.py body (model_loader is appended), extra bundle files, class name
ACCEPTED = [
    ("nn-module", "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n", {}, "Net"),
    ("torch-nn-module", "import torch\nclass Net(torch.nn.Module):\n    pass\n", {}, "Net"),
    ("import-torch-nn", "import torch.nn\nclass Net(torch.nn.Module):\n    pass\n", {}, "Net"),
    ("from-torch-import-nn", "from torch import nn\nclass Net(nn.Module):\n    pass\n", {}, "Net"),
    ("module-imported", "from torch.nn import Module\nclass Net(Module):\n    pass\n", {}, "Net"),
    ("module-renamed", "from torch.nn import Module as Base\nclass Net(Base):\n    pass\n", {}, "Net"),
    ("nn-sequential", "import torch.nn as nn\nclass Net(nn.Sequential):\n    pass\n", {}, "Net"),
    ("lightning-pl", "import pytorch_lightning as pl\nclass Net(pl.LightningModule):\n    pass\n", {}, "Net"),
    ("lightning-bare", "from lightning import LightningModule\nclass Net(LightningModule):\n    pass\n", {}, "Net"),
    ("transformers", "from transformers import PreTrainedModel\nclass Net(PreTrainedModel):\n    pass\n", {}, "Net"),
    ("generic-and-mixin", "import torch.nn as nn\nclass Mixin:\n    pass\nclass Net(Mixin, nn.Module):\n    pass\n", {}, "Net"),
    ("transitive-in-model", "import torch.nn as nn\nclass Base(nn.Module):\n    pass\nclass Mid(Base):\n    pass\nclass Net(Mid):\n    pass\n", {}, "Net"),
    ("base-in-helper", "from layers import Base\nclass Net(Base):\n    pass\n",
     {"layers.py": "import torch.nn as nn\nclass Base(nn.Module):\n    pass\n"}, "Net"),
    ("base-in-helper-module-attribute", "import layers\nclass Net(layers.Base):\n    pass\n",
     {"layers.py": "from torch.nn import Module\nclass Base(Module):\n    pass\n"}, "Net"),
    ("helper-chain", "from layers import Base\nclass Net(Base):\n    pass\n",
     {"layers.py": "from blocks import Block as Base\n", "blocks.py": "import torch.nn as nn\nclass Block(nn.Module):\n    pass\n"}, "Net"),
    ("class-reexported-from-helper", "from networks import Net\n",
     {"networks.py": "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"}, "Net"),
    ("class-from-package", "from torchvision.models import ResNet as Net\n", {}, "Net"),
    ("class-assigned", "import torch.nn as nn\nclass _Net(nn.Module):\n    pass\nNet = _Net\n", {}, "Net"),
    ("class-in-try", "import torch.nn as nn\ntry:\n    import apex\nexcept ImportError:\n    pass\nclass Net(nn.Module):\n    pass\n", {}, "Net"),
]


@pytest.mark.parametrize(
    ("model", "extra", "class_name"), [pytest.param(*case[1:], id=case[0]) for case in ACCEPTED]
)
def test_model_class_accepted(build_bundle, model, extra, class_name):
    bundle = build_bundle({"model.py": model + LOADER, **extra})

    assert validate_bundle(bundle, model_class=class_name) == []


# id, model.py body, extra files, class name, message substring, line
REJECTED = [
    ("missing-with-hint", "import torch.nn as nn\nclass MLP(nn.Module):\n    pass\nclass Helper:\n    pass\n", {}, "Net",
     "defines no top-level class Net (torch module classes in model.py: MLP)", None),
    ("missing-no-module", "class Helper:\n    pass\n", {}, "Net", "model.py has no torch.nn.Module class at all", None),
    ("case-differs", "import torch.nn as nn\nclass net(nn.Module):\n    pass\n", {}, "Net", "torch module classes in model.py: net", None),
    ("not-a-module", "class Net:\n    pass\n", {}, "Net", "class Net() does not derive from torch.nn.Module", 1),
    ("object-base", "import torch\n\nclass Net(object):\n    pass\n", {}, "Net", "class Net(object) does not derive", 3),
    ("helper-base-not-module", "from layers import Base\nclass Net(Base):\n    pass\n", {"layers.py": "class Base:\n    pass\n"}, "Net",
     "class Net(Base) does not derive", 2),
    ("helper-missing-name", "import layers\nclass Net(layers.Nope):\n    pass\n", {"layers.py": "X = 1\n"}, "Net", "does not derive", 2),
    ("import-cycle", "from a import Net\n", {"a.py": "from b import Net\n", "b.py": "from a import Net\n"}, "Net",
     "Net is imported or assigned in model.py but does not lead to a torch.nn.Module class", None),
    ("assigned-non-module", "class _Net:\n    pass\nNet = _Net\n", {}, "Net", "imported or assigned", None),
    ("nested-class-only", "def f():\n    class Net:\n        pass\n", {}, "Net", "defines no top-level class Net", None),
    ("not-an-identifier", "", {}, "my-model", "'my-model' is not a Python class name", None),
    ("keyword", "", {}, "class", "'class' is not a Python class name", None),
]


@pytest.mark.parametrize(
    ("model", "extra", "class_name", "substring", "line"), [pytest.param(*case[1:], id=case[0]) for case in REJECTED]
)
def test_model_class_rejected(build_bundle, model, extra, class_name, substring, line):
    bundle = build_bundle({"model.py": model + LOADER, **extra})

    problems = validate_bundle(bundle, model_class=class_name)

    assert [problem.file for problem in problems] == ["model.py"], problems
    assert substring in problems[0].message
    assert problems[0].line == line


def test_model_class_is_skipped_when_model_py_does_not_parse(build_bundle):
    bundle = build_bundle({"model.py": "class Net(:\n"})

    problems = validate_bundle(bundle, model_class="Net")

    assert [problem.message.split(":")[0] for problem in problems] == ["syntax error"]
