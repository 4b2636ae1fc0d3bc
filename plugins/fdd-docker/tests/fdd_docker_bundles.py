"""A tiny bundle and site KDAs for the engine's end-to-end tests, from nvflare-fdd's test helpers."""

from __future__ import annotations

from pathlib import Path

from nvflare_fdd.testing import TINY_DATA, ZERO_INIT_MODEL, sgd_train, write_site_kdas
from nvflare_fdd.testing import write_bundle as _write_bundle

__all__ = ["write_bundle", "write_site_kdas"]

# tabulate is not in the base image: the job image must install it. evaluate() also reports
# what the container lets user code do, as metrics (1.0 = it could).
TRAIN_EVAL = '''
import os
import socket

import tabulate
''' + sgd_train(epochs=3) + '''

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
    return _write_bundle(folder, {"model.py": ZERO_INIT_MODEL, "data.py": TINY_DATA, "train_eval.py": TRAIN_EVAL,
                                  "requirements.txt": requirements, "config.yaml": f"probe_port: {probe_port}\n"})  # fmt: skip
