"""DESIGN §8 through the platform: hostile bundles as a model developer registers and runs them.

A real platform (SQLite storage, the embedded simulator runner, the web UI) runs each job. The
first bundle attacks from the server side: its model class, which the server builds, goes for
the platform's secrets. The second fails with the site's rows in its exception. Afterwards every
row of storage and every page the owner can load is searched for what must not be there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from leaks import CANARY, assert_nothing_leaked, files_under, storage_dump
from werkzeug.security import generate_password_hash

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.runners.simulator import SimulatorRunner
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager
from nvflare_fdd.testing import run_job
from nvflare_fdd.web.app import create_app
from nvflare_fdd.web.settings import WebSettings

pytestmark = pytest.mark.slow

UI_SECRET = "UIsecretKEY5d2e9b"
PASSWORD = "alice-password-3c1f"

THIEF_MODEL = '''
import os
import sqlite3

import torch
import torch.nn as nn


class TinyRegressor(nn.Module):
    """Built by the server: it tries to read and change the platform's storage, and keep what it read."""

    def __init__(self, configs=None, steal=True):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        loot = []
        if steal:
            loot.append("ENV " + " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())))
            for path in configs["secrets"]:
                try:
                    loot.append(f"READ {path} " + open(path, "rb").read().decode("latin-1"))
                except OSError as exc:
                    loot.append(f"CANNOT-READ {path} {type(exc).__name__}")
            try:
                database = sqlite3.connect(configs["platform_db"])
                database.execute("UPDATE users SET is_admin = 1")
                database.commit()
                loot.append("DB " + repr(database.execute("SELECT name, password_hash FROM users").fetchall()))
            except sqlite3.Error as exc:
                loot.append(f"CANNOT-OPEN-DB {type(exc).__name__}")
            print("\\n".join(loot), flush=True)
            data = "\\n".join(loot).encode()
            self.register_buffer("loot", torch.tensor(list(data), dtype=torch.uint8))  # lands in the global model

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs, steal=False)
'''

RAISE_ROWS = '''
import torch


def train(model, data, configs):
    frame = data["frame"]
    raise ValueError("|".join(frame["chemical_id"]) + "|".join(frame["comment"]))


def evaluate(model, data, configs):
    return {"mse": 1.0}
'''

KEEP_FRAME_DATA = '''
import torch
from torch.utils.data import DataLoader, TensorDataset


def data_loader(raw_datas, configs):
    frame = raw_datas["solubility"]
    x = torch.zeros(len(frame), 3)
    y = torch.tensor(frame["measurement_value"].to_numpy(), dtype=torch.float32)
    loader = DataLoader(TensorDataset(x, y), batch_size=len(y))
    return {"train": loader, "test": loader, "frame": frame}
'''


@pytest.fixture
def platform(tmp_path, canary_sites):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ui-secret-key").write_text(UI_SECRET)
    url = f"sqlite:///{home / 'platform.db'}"
    storage = SqlStorage(url)
    storage.create_user("alice", generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"))
    service = Platform(PlatformConfig(home=home, storage_url=url), storage=storage,
                       runner=SimulatorRunner(canary_sites, url), plugins=FddPluginManager(autoload=False))  # fmt: skip
    yield service
    storage.close()


def web_pages(platform: Platform, name: str) -> dict[str, bytes]:
    """Every page and download of the job, as its owner gets them."""
    app = create_app(platform, WebSettings(secret_key="test-secret"))
    app.config["TESTING"] = True
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text).group(1)
    assert client.post("/signin", data={"user": "alice", "password": PASSWORD, "csrf_token": token}).status_code == 302
    urls = ["/jobs", f"/jobs/{name}", f"/api/jobs/{name}", f"/api/jobs/{name}/metrics", f"/jobs/{name}/metrics.csv",
            f"/jobs/{name}/global_model.pt", f"/jobs/{name}/global_model.safetensors"]  # fmt: skip
    return {f"GET {url}": client.get(url).data for url in urls}


def test_the_servers_model_code_reads_and_changes_nothing_of_the_platform(platform, make_bundle, canary_sites, tmp_path):
    home = platform.config.home
    secrets = [home / "platform.db", home / "ui-secret-key", canary_sites["site_a"].removeprefix("sqlite:///")]
    config = ("n_features: 3\nlearning_rate: 0.05\nepochs: 1\nsecrets: [" + ", ".join(map(str, secrets))
              + f"]\nplatform_db: {home / 'platform.db'}\n")
    bundle = make_bundle({"model.py": THIEF_MODEL, "config.yaml": config}, name="thief")
    job = run_job(platform, bundle, "thief_job", rounds=1, sites=canary_sites)

    assert job.state.value == "completed", job.failure
    assert not platform.storage.get_user("alice").is_admin
    server_files = files_under(platform.config.jobs_dir / "thief_job" / "workspace" / "server")
    server_log = b"\n".join(server_files.values())
    for path in secrets:
        assert f"CANNOT-READ {path}".encode() in server_log  # it tried, in its sandbox
    assert b"CANNOT-OPEN-DB" in server_log
    stolen = [CANARY, UI_SECRET, platform.storage.password_hash("alice"), "FDD_STORAGE_URL", "FDD_PLATFORM_URL", "FDD_KDA_URLS"]
    pages = web_pages(platform, "thief_job")
    assert_nothing_leaked(pages, stolen)
    # storage (the users table holds the hash itself): its models, results and records hold nothing stolen
    assert_nothing_leaked({"storage": storage_dump(platform.config.storage_url, skip_tables=["users"])}, stolen)
    model = pages["GET /jobs/thief_job/global_model.safetensors"]
    assert b"loot" in model and b"CANNOT-READ" in model  # the buffer reached the global model, holding nothing stolen


def test_a_failure_carrying_rows_leaves_no_row_in_storage_or_on_the_pages(platform, make_bundle, canary_sites):
    bundle = make_bundle({"data.py": KEEP_FRAME_DATA, "train_eval.py": RAISE_ROWS}, name="raise_rows")
    job = run_job(platform, bundle, "rows_job", rounds=2, sites=canary_sites)

    assert job.state.value == "failed"
    assert (job.failure["code"], job.failure["exc_type"]) == (6000, "ValueError")
    assert job.failure["frames"][-1]["file"] == "train_eval.py" and job.failure["frames"][-1]["function"] == "train"
    pages = web_pages(platform, "rows_job")
    assert b"ValueError in train_eval.py line 7" in pages["GET /api/jobs/rows_job"]
    assert_nothing_leaked({"storage": storage_dump(platform.config.storage_url), **pages})
    site_logs = [p for p in (platform.config.jobs_dir / "rows_job" / "workspace").glob("site_*/**/fdd_user_code.log")]
    assert any(CANARY in Path(p).read_text() for p in site_logs)  # where the message went: the site's own log
