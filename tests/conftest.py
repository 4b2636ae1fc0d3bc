"""Fixtures shared by the whole suite: a tiny deterministic bundle, KDA-format frames and site KDAs."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from nvflare_fdd import testing
from nvflare_fdd.testing import TINY_DATA, kda_frame, write_site_kdas

os.environ.setdefault("FDD_DISABLE_PLUGIN_AUTOLOAD", "1")

TINY_MODEL = '''
import torch
import torch.nn as nn


class TinyRegressor(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        n_features = configs["n_features"] if configs else 3
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs)
'''

TINY_TRAIN_EVAL = '''
import torch


def train(model, data, configs):
    optimizer = torch.optim.SGD(model.parameters(), lr=configs["learning_rate"])
    device = next(model.parameters()).device
    model.train()
    for _ in range(configs["epochs"]):
        for x, y in data["train"]:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x.to(device)), y.to(device))
            loss.backward()
            optimizer.step()


def evaluate(model, data, configs):
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        x, y = next(iter(data["test"]))
        mse = torch.nn.functional.mse_loss(model(x.to(device)), y.to(device))
    return {"mse": mse, "count": len(y)}
'''

TINY_CONFIG = '''
n_features: 3
learning_rate: 0.05
epochs: 5
'''

TINY_BUNDLE = {
    "model.py": TINY_MODEL,
    "data.py": TINY_DATA,
    "train_eval.py": TINY_TRAIN_EVAL,
    "requirements.txt": "# the platform's base environment has everything this bundle needs\n",
    "config.yaml": TINY_CONFIG,
}


def write_bundle(folder: Path, overrides: dict[str, str | None] | None = None) -> Path:
    """Write the tiny bundle into ``folder``; an override of ``None`` leaves that file out."""
    return testing.write_bundle(folder, {**TINY_BUNDLE, **(overrides or {})})


@pytest.fixture(scope="session")
def site_kdas_writer():
    """``write_site_kdas(folder, sizes)``: a KDA per site, for fixtures of any scope."""
    return write_site_kdas


@pytest.fixture
def kda_frame_factory():
    """``kda_frame(values, smiles=None)``: rows in the KDA standard format."""
    return kda_frame


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    """A valid, deterministic bundle (3 features → linear regression)."""
    return write_bundle(tmp_path / "bundle")


@pytest.fixture
def tiny_raw_datas() -> dict[str, pd.DataFrame]:
    """Forty KDA rows under test key ``solubility``."""
    return {"solubility": kda_frame([-(i % 9) * 0.5 for i in range(40)])}


@pytest.fixture(scope="session")
def bundle_writer():
    """``write_bundle(folder, overrides)``, for fixtures of a wider scope than ``make_bundle``."""
    return write_bundle


@pytest.fixture
def make_bundle(tmp_path: Path):
    """Factory: ``make_bundle({"train_eval.py": "..."}, name="b2")`` writes a variant of the tiny bundle."""

    def make(overrides: dict[str, str | None] | None = None, name: str = "bundle") -> Path:
        return write_bundle(tmp_path / name, overrides)

    return make


KMELLODDY_BUNDLES = Path(__file__).parent / "kmelloddy" / "bundles"
#: The K-MELLODDY-style bundles stored as an overlay on another (name → base): only the files in which they differ,
#: ``NAME.patch`` a diff of the base's ``NAME`` (regenerate one with ``diff -u``); the others are whole bundles.
KMELLODDY_OVERLAYS = {"mlp_pretrained": "mlp", "mlp_prox": "mlp", "mlp_scaffold": "mlp"}


@pytest.fixture
def kmelloddy_bundle(tmp_path):
    """``kmelloddy_bundle("mlp_scaffold", overrides)``: one of the K-MELLODDY-style bundles of
    ``tests/kmelloddy/bundles``, written flat into a folder of the test's, files replaced by ``overrides``."""

    def assemble(name: str, overrides: dict[str, str] | None = None) -> Path:
        folder = tmp_path / name
        if name in KMELLODDY_OVERLAYS:
            testing.assemble_bundle(folder, KMELLODDY_BUNDLES / KMELLODDY_OVERLAYS[name], KMELLODDY_BUNDLES / name)
        else:
            shutil.copytree(KMELLODDY_BUNDLES / name, folder)
        for file, text in (overrides or {}).items():
            (folder / file).write_text(text)
        return folder

    return assemble


@pytest.fixture
def concurrently() -> Callable[[Callable[[], object], int], list[BaseException]]:
    """``concurrently(function, count)``: ``function()`` in ``count`` threads at once; what they raised."""

    def run(function: Callable[[], object], count: int) -> list[BaseException]:
        errors: list[BaseException] = []

        def call() -> None:
            try:
                function()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return errors

    return run


_exit_status: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config):
    """A test that leaves a non-daemon thread running would keep the interpreter, and CI, waiting for ever:
    name the threads and end the run with a failure instead. Thread-pool workers (NVFlare's stream pools) are
    left out: their pool stops them at exit."""
    import concurrent.futures.thread
    import threading
    import time

    def lingers(thread: threading.Thread) -> bool:
        pooled = getattr(thread, "_target", None) is concurrent.futures.thread._worker
        return thread is not threading.main_thread() and not thread.daemon and thread.is_alive() and not pooled

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lingering = [thread for thread in threading.enumerate() if lingers(thread)]
        if not lingering:
            return
        time.sleep(0.2)
    names = ", ".join(sorted(t.name for t in lingering))
    print(f"\nERROR: tests left non-daemon threads running: {names}; a test must stop the threads it starts", flush=True)
    os._exit(_exit_status[0] if _exit_status and _exit_status[0] else 3)
