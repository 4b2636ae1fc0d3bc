"""What the executor and the user-code process hand each other as files: the site's data (Arrow), tensors (safetensors).

The executor (platform code) reads the KDA; user code never gets its location or
credentials. The frames go through the job's exchange folder as one uncompressed
Arrow IPC (Feather v2) file per test key, plus an index that keeps the keys (which
are the site's test names, not file names) and their order. Nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

INDEX = "index.json"


def write_raw_datas(frames: Mapping[str, pd.DataFrame], folder: str | Path) -> int:
    """Write ``frames`` into ``folder`` (created); returns the number of rows written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    rows = 0
    for number, (key, frame) in enumerate(frames.items()):
        name = f"{number:05d}.arrow"
        frame.reset_index(drop=True).to_feather(folder / name, compression="uncompressed")
        entries.append({"key": key, "file": name, "rows": len(frame)})
        rows += len(frame)
    (folder / INDEX).write_text(json.dumps(entries))
    return rows


def read_raw_datas(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The frames ``write_raw_datas`` wrote, as ``{test_key: DataFrame}`` in the same order."""
    folder = Path(folder)
    entries = json.loads((folder / INDEX).read_text())
    return {entry["key"]: pd.read_feather(folder / entry["file"]) for entry in entries}


def save_arrays(arrays: Mapping, path: str | Path) -> None:
    """Tensors as numpy arrays (weights, SCAFFOLD controls) into a safetensors file for the other side."""
    import numpy as np
    from safetensors.numpy import save_file

    save_file({key: np.ascontiguousarray(value) for key, value in arrays.items()}, str(path))


def load_arrays(path: str | Path) -> dict:
    """A safetensors file the other side wrote, as numpy arrays (nothing is unpickled)."""
    from safetensors.numpy import load_file

    return load_file(str(path))
