"""validate_bundle on folder bundles: one table row per rule, plus the variants that must pass."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nvflare_fdd.bundle import (
    CONFIG_FILE,
    MAX_WEIGHTS_BYTES,
    REQUIRED_FILES,
    Problem,
    inspect_bundle,
    validate_bundle,
)
from nvflare_fdd.errors import BundleError

# id, overrides of the valid bundle, expected problem file, message substring, expected line
FAILING_CASES = [
    # 1. subfolders
    ("subfolder", {"utils/helper.py": "X = 1\n"}, "utils/", "subfolders are not allowed", None),
    ("subfolder-weights", {"model1/model1.pt": b"w"}, "model1/", "move the files you need to the top level", None),
    # 2. required files, with near-miss hints
    ("missing-model", {"model.py": None}, "model.py", "required file is missing", None),
    ("missing-requirements", {"requirements.txt": None}, "requirements.txt", "add requirements.txt", None),
    ("near-train-eval-v2", {"train_eval.py": None, "train_eval_v2.py": "X = 1\n"}, "train_eval.py", "train_eval_v2.py looks like it: rename it to train_eval.py", None),
    ("near-train-dash-eval", {"train_eval.py": None, "train-eval.py": "X = 1\n"}, "train_eval.py", "train-eval.py looks like it", None),
    ("near-Model", {"model.py": None, "Model.py": "X = 1\n"}, "model.py", "Model.py looks like it", None),
    ("near-models", {"model.py": None, "models.py": "X = 1\n"}, "model.py", "models.py looks like it", None),
    ("near-requirement", {"requirements.txt": None, "requirement.txt": "numpy\n"}, "requirements.txt", "requirement.txt looks like it", None),
    ("config-yml", {CONFIG_FILE: None, "config.yml": "lr: 1\n"}, "config.yml", "rename it to config.yaml", None),
    ("config-capital", {CONFIG_FILE: None, "Config.yaml": "lr: 1\n"}, "Config.yaml", "rename it to config.yaml", None),
    # 3. file types
    ("type-md", {"README.md": "# hi\n"}, "README.md", "file type .md is not allowed", None),
    ("type-bin", {"pytorch_model.bin": b"\0"}, "pytorch_model.bin", "save the weights as .safetensors or .pt", None),
    ("type-no-suffix", {"LICENSE": "MIT\n"}, "LICENSE", "file type (no suffix) is not allowed", None),
    ("type-sh", {"setup.sh": "pip install x\n"}, "setup.sh", "shell scripts are never run", None),
    ("type-csv", {"train.csv": "a,b\n"}, "train.csv", "training data comes from each site's KDA", None),
    ("hidden-file", {".env": "TOKEN=1\n"}, ".env", "hidden files are not allowed", None),
    # 5. requirements.txt (line numbers count comments and blank lines)
    ("req-file-url", {"requirements.txt": "# deps\nnumpy\npkg @ file:///home/me/pkg.whl\n"}, "requirements.txt", "local file", 3),
    ("req-shell", {"requirements.txt": "pip install torch\n"}, "requirements.txt", "shell commands are not run", 1),
    ("req-editable", {"requirements.txt": "numpy\n-e .\n"}, "requirements.txt", "editable installs", 2),
    ("req-include", {"requirements.txt": "-r base.txt\n"}, "requirements.txt", "cannot be resolved from one upload", 1),
    ("req-unparsable", {"requirements.txt": "numpy\n\nnumpy=1.0\n"}, "requirements.txt", "cannot read 'numpy=1.0' as a requirement", 3),
    ("req-not-utf8", {"requirements.txt": "# caf\xe9\n".encode("latin-1")}, "requirements.txt", "is not UTF-8 text", None),
    # 6. syntax errors in any .py file
    ("syntax-model", {"model.py": "def model_loader(configs):\n    return (\n"}, "model.py", "syntax error", 2),
    ("syntax-helper", {"helpers.py": "x = 1\ndef f(:\n"}, "helpers.py", "syntax error", 2),
    # 7. entry functions
    ("no-model-loader", {"model.py": "import torch.nn as nn\n"}, "model.py", "defines no top-level function model_loader", None),
    ("no-data-loader", {"data.py": "def load(raw_datas, configs):\n    return {}\n"}, "data.py", "data_loader(raw_datas, configs)", None),
    ("no-evaluate", {"train_eval.py": "def train(model, data, configs):\n    pass\n"}, "train_eval.py", "defines no top-level function evaluate", None),
    ("train-too-few", {"train_eval.py": "def train(model, data):\n    pass\ndef evaluate(model, data, configs):\n    return {}\n"},
     "train_eval.py", "train takes 2 positional argument(s) (model, data), the platform calls it with 3", 1),
    ("evaluate-too-many", {"train_eval.py": "def train(model, data, configs):\n    pass\n\ndef evaluate(model, data, configs, device):\n    return {}\n"},
     "train_eval.py", "evaluate takes 4 positional argument(s)", 4),
    ("data-loader-no-args", {"data.py": "def data_loader():\n    return {}\n"}, "data.py", "data_loader takes no arguments, the platform calls it with 2", 1),
    ("model-loader-kwonly", {"model.py": "def model_loader(*, configs):\n    pass\n"}, "model.py", "required keyword-only parameter(s) configs", 1),
    ("model-loader-lambda", {"model.py": "model_loader = lambda: None\n"}, "model.py", "model_loader takes no arguments", 1),
    ("async-train", {"train_eval.py": "async def train(model, data, configs):\n    pass\ndef evaluate(model, data, configs):\n    return {}\n"},
     "train_eval.py", "'async def'", 1),
    ("main-guard-only", {"model.py": "if __name__ == '__main__':\n    def model_loader(configs):\n        pass\n"}, "model.py", "defines no top-level function model_loader", None),
    ("nested-only", {"model.py": "def outer():\n    def model_loader(configs):\n        pass\n"}, "model.py", "defines no top-level function model_loader", None),
    ("relative-import", {"model.py": "from .layers import Block\n\ndef model_loader(configs):\n    pass\n"}, "model.py", "write 'from layers import ...'", 1),
    # 9. config.yaml
    ("config-list", {CONFIG_FILE: "- a\n- b\n"}, CONFIG_FILE, "the top level is a list", None),
    ("config-scalar", {CONFIG_FILE: "3\n"}, CONFIG_FILE, "the top level is a single value (int)", None),
    ("config-empty", {CONFIG_FILE: ""}, CONFIG_FILE, "empty: remove it, or add the keys", None),
    ("config-comments-only", {CONFIG_FILE: "# nothing yet\n"}, CONFIG_FILE, "empty", None),
    ("config-bad-yaml", {CONFIG_FILE: "lr: 0.1\nmodel:\n  hidden: [1, 2\nepochs: 3\n"}, CONFIG_FILE, "is not valid YAML", 4),
    ("config-tab-indent", {CONFIG_FILE: "model:\n\thidden: 4\n"}, CONFIG_FILE, "is not valid YAML", 2),
    ("config-duplicate-key", {CONFIG_FILE: "lr: 1\nepochs: 2\nlr: 3\n"}, CONFIG_FILE, "duplicate key", 3),
    ("config-missing-interpolation", {CONFIG_FILE: "batch: ${data.batch_size}\n"}, CONFIG_FILE, "interpolation points to a missing key", None),
    # 10. odd names
    ("name-leading-dash", {"-rf.txt": "x\n"}, "-rf.txt", "starts with '-'", None),
    ("name-control-char", {"notes\x07.txt": "x\n"}, "notes\x07.txt", "control characters", None),
    ("name-backslash", {"a\\b.txt": "x\n"}, "a\\b.txt", "path separator", None),
    # helpers that shadow modules the code needs
    ("shadow-torch", {"torch.py": "X = 1\n"}, "torch.py", "hides the 'torch' module", None),
    ("shadow-stdlib", {"typing.py": "X = 1\n"}, "typing.py", "rename it (e.g. my_typing.py)", None),
    ("shadow-pandas", {"pandas.py": "X = 1\n"}, "pandas.py", "hides the 'pandas' module", None),
]


@pytest.mark.parametrize(
    ("overrides", "file", "substring", "line"),
    [pytest.param(*case[1:], id=case[0]) for case in FAILING_CASES],
)
def test_rule_reports_problem(build_bundle, overrides, file, substring, line):
    bundle = build_bundle(overrides)

    problems = validate_bundle(bundle)

    matching = [problem for problem in problems if problem.file == file and substring in problem.message]
    assert matching, f"no {file!r} problem containing {substring!r} in {[str(p) for p in problems]}"
    assert matching[0].line == line


# variants that must validate without a problem
PASSING_CASES = [
    ("template", {}),
    ("no-config", {CONFIG_FILE: None}),
    ("empty-requirements", {"requirements.txt": ""}),
    ("helper-and-assets", {"helpers.py": "def f():\n    return 1\n", "vocab.txt": "C\nO\n", "tokenizer_config.json": "{}",
                           "other.yml": "a: 1\n", "model1.pt": b"\0" * 10, "model2.safetensors": b"\0", "x.ckpt": b"", "y.pth": b""}),
    ("config-yml-beside-config-yaml", {"config.yml": "a: 1\n"}),
    ("pycache-and-ds-store", {"__pycache__/model.cpython-311.pyc": b"\0", ".DS_Store": b"\0"}),
    ("defaults-and-varargs", {"train_eval.py": "def train(model, data, configs=None, epochs=1):\n    pass\n"
                                               "def evaluate(*args):\n    return {}\n"}),
    ("positional-only", {"data.py": "def data_loader(raw_datas, configs, /):\n    return {}\n"}),
    ("kwonly-with-default", {"model.py": "def model_loader(configs, *, device='cpu'):\n    pass\n"}),
    ("imported-entry-points", {"train_eval.py": "from helpers import train\nfrom helpers import evaluate as evaluate\n",
                               "helpers.py": "def train(m, d, c):\n    pass\ndef evaluate(m, d, c):\n    return {}\n"}),
    ("star-import", {"train_eval.py": "from helpers import *\n", "helpers.py": "def train(m, d, c):\n    pass\n"}),
    ("assigned-entry-point", {"data.py": "import functools\n\ndef _load(raw_datas, configs, scale):\n    return {}\n\n"
                                        "data_loader = functools.partial(_load, scale=2)\n"}),
    ("lambda-entry-point", {"model.py": "model_loader = lambda configs: None\n"}),
    ("try-except-definition", {"model.py": "try:\n    from fast import model_loader\nexcept ImportError:\n"
                                           "    def model_loader(configs):\n        pass\n"}),
    ("redefined-last-wins", {"model.py": "def model_loader():\n    pass\n\ndef model_loader(configs):\n    pass\n"}),
    ("decorated-entry-point", {"train_eval.py": "import torch\n\ndef train(model, data, configs):\n    pass\n\n"
                                                "@torch.no_grad()\ndef evaluate(model, data, configs):\n    return {}\n"}),
    ("requirements-k-melloddy-style", {"requirements.txt": "# base image\nnvflare==2.7.0 # current\nnumpy\n\n"
                                                           "--extra-index-url https://download.pytorch.org/whl/cu126\n"
                                                           "torch==2.6.0+cu126\n-f https://data.pyg.org/whl/torch-2.6.0+cu126.html\n"
                                                           "torch @ https://download.pytorch.org/whl/cu126/torch-2.6.0%2Bcu126-cp311-cp311-manylinux_2_28_x86_64.whl\n"}),
    ("config-interpolation", {CONFIG_FILE: "data:\n  batch: 4\ntrainer:\n  batch: ${data.batch}\n  lr: 5e-4\n"}),
    ("config-crlf-bom", {CONFIG_FILE: "\ufefflr: 1\r\nepochs: 2\r\n".encode()}),
    ("tabs-and-crlf-python", {"model.py": "import torch.nn as nn\r\nclass Net(nn.Module):\r\n\tpass\r\ndef model_loader(configs):\r\n\treturn Net()\r\n"}),
    ("korean-names-and-comments", {"설명.txt": "한국어\n", "requirements.txt": "# 주석\nnumpy==1.26.4 # 버전\n"}),
]


@pytest.mark.parametrize("overrides", [pytest.param(case[1], id=case[0]) for case in PASSING_CASES])
def test_valid_variant_has_no_problem(build_bundle, overrides):
    bundle = build_bundle(overrides)

    assert validate_bundle(bundle, model_class="Net" if "model.py" not in overrides else None) == []


def test_all_problems_are_reported_at_once(build_bundle):
    bundle = build_bundle(
        {"train_eval.py": None, "utils/a.py": "", "notes.md": "", "requirements.txt": "./x.whl\n", CONFIG_FILE: "- 1\n"}
    )

    files = {problem.file for problem in validate_bundle(bundle)}

    assert files == {"train_eval.py", "utils/", "notes.md", "requirements.txt", CONFIG_FILE}


def test_empty_folder_misses_every_required_file(tmp_path):
    problems = validate_bundle(tmp_path)

    assert [problem.file for problem in problems] == list(REQUIRED_FILES)


def test_symlink_in_folder_is_reported(build_bundle, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    bundle = build_bundle()
    (bundle / "vocab.txt").symlink_to(outside)

    problems = validate_bundle(bundle)

    assert [(problem.file, "symbolic link" in problem.message) for problem in problems] == [("vocab.txt", True)]


@pytest.mark.parametrize(
    ("sizes", "total_text"),
    [
        pytest.param({"model.pt": MAX_WEIGHTS_BYTES}, None, id="exactly-1GB"),
        pytest.param({"model.pt": MAX_WEIGHTS_BYTES + 1}, "total 1,073,741,825 bytes", id="one-byte-over"),
        pytest.param({"a.safetensors": 600 << 20, "b.ckpt": 500 << 20}, "total 1.07 GB", id="two-files-over"),
        pytest.param({"vocab.txt": 2 * MAX_WEIGHTS_BYTES, "a.pth": 10}, None, id="other-files-do-not-count"),
    ],
)
def test_weight_limit(build_bundle, sizes, total_text):
    bundle = build_bundle()
    for name, size in sizes.items():
        with open(bundle / name, "wb") as sparse:  # sparse: no gigabyte is written to disk
            sparse.truncate(size)

    problems = [problem for problem in validate_bundle(bundle) if "1 GB limit" in problem.message]

    if total_text is None:
        assert problems == []
    else:
        assert [problem.file for problem in problems] == [max(sizes, key=sizes.get)]
        assert total_text in problems[0].message


def test_report_counts_files_and_weights(build_bundle):
    bundle = build_bundle({"a.pt": b"\0" * 1000, "b.safetensors": b"\0" * 24})

    report = inspect_bundle(bundle)

    assert report.ok
    assert report.files == ("a.pt", "b.safetensors", "config.yaml", "data.py", "model.py", "requirements.txt", "train_eval.py")
    assert report.weights_bytes == 1024


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("model.py", "bad", 12), "model.py:12: bad"),
        (Problem("requirements.txt", "bad"), "requirements.txt: bad"),
        (Problem("설명.txt", "bad"), "설명.txt: bad"),
        (Problem("notes\x07.txt", "bad"), "notes\\x07.txt: bad"),
    ],
)
def test_problem_str(problem, text):
    assert str(problem) == text


def test_missing_path_raises_bundle_error(tmp_path):
    with pytest.raises(BundleError, match="no such folder or file"):
        validate_bundle(tmp_path / "nope")


def test_plain_file_is_not_a_bundle(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("x = 1\n")

    with pytest.raises(BundleError, match="not a bundle"):
        validate_bundle(path)


def test_shared_tiny_bundle_is_valid(tiny_bundle):
    assert validate_bundle(tiny_bundle, model_class="TinyRegressor") == []


def test_validation_never_runs_user_code(build_bundle, tmp_path):
    marker = tmp_path / "ran.txt"
    hostile = f"""
import os
open({str(marker)!r}, "w").write("imported")
os._exit(3)

def model_loader(configs):
    open({str(marker)!r}, "w").write("called")
"""
    bundle = build_bundle({"model.py": hostile, "helpers.py": hostile, "data.py": VALID_DATA_IMPORTING_HELPERS})
    modules_before = set(sys.modules)

    problems = validate_bundle(bundle, model_class="Net")

    assert not marker.exists()
    assert {"model", "helpers", "data"} & (set(sys.modules) - modules_before) == set()
    assert [problem.message for problem in problems] == [
        "defines no top-level class Net (model.py has no torch.nn.Module class at all): "
        "add it, or register the model with the right class name"
    ]
    assert os.getpid()  # still alive


VALID_DATA_IMPORTING_HELPERS = """
import helpers


def data_loader(raw_datas, configs):
    return {}
"""


def test_fixture_template_is_valid(build_bundle):
    assert validate_bundle(build_bundle(), model_class="Net") == []
    assert Path(build_bundle(name="again")).is_dir()
