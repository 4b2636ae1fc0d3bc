"""A tiny bundle and site KDAs for the engine's end-to-end tests (the suite's own fixtures live under tests/)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

MODEL = '''
import torch.nn as nn


class TinyRegressor(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs)
'''

DATA = '''
import torch
from torch.utils.data import DataLoader, TensorDataset


def data_loader(raw_datas, configs):
    frame = raw_datas["solubility"]
    smiles = frame["smiles_structure_parent"].astype(str)
    x = torch.tensor([[len(s) / 10.0, s.count("C") / 10.0, s.count("O") / 10.0] for s in smiles], dtype=torch.float32)
    y = torch.tensor(frame["measurement_value"].to_numpy(), dtype=torch.float32)
    loader = DataLoader(TensorDataset(x, y), batch_size=len(y), shuffle=False)
    return {"train": loader, "test": loader}
'''

# tabulate is not in the base image: the job image must install it. evaluate() also reports
# what the container lets user code do, as metrics (1.0 = it could).
TRAIN_EVAL = '''
import os
import socket

import tabulate
import torch


def train(model, data, configs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    for _ in range(3):
        for x, y in data["train"]:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()


def _could(action):
    try:
        action()
        return 1.0
    except OSError:
        return 0.0


def _reach_host(port):
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass


def evaluate(model, data, configs):
    model.eval()
    with torch.no_grad():
        x, y = next(iter(data["test"]))
        mse = torch.nn.functional.mse_loss(model(x), y)
    return {
        "mse": mse,
        "table_width": float(len(tabulate.tabulate([[1, 2]]).splitlines()[0])),
        "reached_host": _could(lambda: _reach_host(int(configs["probe_port"]))),
        "wrote_root_fs": _could(lambda: open("/usr/probe", "w").close()),
        "runs_as_root": float(os.getuid() == 0),
    }
'''


def write_bundle(folder: Path, requirements: str, probe_port: int = 9) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"model.py": MODEL, "data.py": DATA, "train_eval.py": TRAIN_EVAL, "requirements.txt": requirements,
             "config.yaml": f"probe_port: {probe_port}\n"}  # fmt: skip
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def kda_frame(values: list[float]) -> pd.DataFrame:
    smiles = [("C" * (1 + i % 7)) + ("O" * (i % 3)) for i in range(len(values))]
    return pd.DataFrame({
        "chemical_id": [f"CHEM-{i:04d}" for i in range(len(values))], "smiles_structure_parent": smiles,
        "test": "Solubility", "measurement_type": "logS", "measurement_relation": "=",
        "measurement_value": [float(v) for v in values], "data_type": "ADMET",
    })  # fmt: skip


def write_site_kdas(folder: Path, sizes: dict[str, int]) -> dict[str, str]:
    """One SQLite KDA per site: site name → URL."""
    from nvflare_fdd.kda import import_file

    sites = {}
    for offset, (name, size) in enumerate(sizes.items()):
        csv_path = folder / f"{name}.csv"
        kda_frame([-(i % 9) * 0.5 - offset for i in range(size)]).to_csv(csv_path, index=False)
        url = f"sqlite:///{folder / name}.db"
        import_file(url, csv_path, institution=name)
        sites[name] = url
    return sites
