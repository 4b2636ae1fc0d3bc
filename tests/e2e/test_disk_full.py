"""A full disk on the server mid-job: the job fails with that cause, finished rounds stay, no half-written file."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

from nvflare_fdd.jobs import create_job
from nvflare_fdd.simulate import simulate
from nvflare_fdd.testing import sgd_train

pytestmark = pytest.mark.slow

# 180,000 float32 values: each save of the global model (.pt and .safetensors) takes about 1.4 MB.
HEAVY_MODEL = '''
import torch
import torch.nn as nn


class TinyRegressor(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.register_buffer("ballast", torch.zeros(180_000))

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs)
'''

CONSTANT_EVALUATE = sgd_train() + '''

def evaluate(model, data, configs):
    return {"score": 1.0}  # never better: the best model stays the first one
'''


@pytest.fixture
def small_disk(tmp_path):
    """A 3.5 MB file system: room for the first round's models (initial best + global), not for a second global."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3500k", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_fails_the_job_with_its_cause_and_keeps_the_finished_rounds(make_bundle, two_sites, small_disk, tmp_path):
    bundle = make_bundle({"model.py": HEAVY_MODEL, "train_eval.py": CONSTANT_EVALUATE}, name="heavy")
    job = create_job(tmp_path / "job", bundle, "TinyRegressor", 4, sites=list(two_sites), name="disk_full",
                     server_vars={"results_dir": str(small_disk)})  # fmt: skip
    code, fatal = simulate(job, two_sites, tmp_path / "ws", tmp_path / "simulator.log", timeout=300)

    assert fatal is None and code is not None
    failure = json.loads((small_disk / "failure.json").read_text())
    assert failure["phase"] == "saving results" and failure["site"] == "server"
    assert "No space left on device" in failure["message"]
    progress = json.loads((small_disk / "progress.json").read_text())
    finished = [int(r) for r, record in progress["rounds"].items() if record["finished"]]
    assert progress["state"] == "failed" and finished == list(range(1, failure["round"]))
    assert finished, "the disk should fill up after the first round"
    assert not [p.name for p in small_disk.iterdir() if p.name.startswith(".")], "a half-written file was left"
    saved = load_file(str(small_disk / "global_model.safetensors"))  # the last complete round's model, whole
    assert saved["ballast"].shape == (180_000,) and np.isfinite(saved["linear.weight"]).all()
    rows = (small_disk / "metrics.csv").read_text().splitlines()[1:]
    assert all(sum(row.startswith(f"{r},") for row in rows) == 2 * 2 for r in finished)  # the finished rounds' metrics
