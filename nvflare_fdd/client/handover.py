"""What the executor and the user-code process hand each other as files: the site's data (Arrow), tensors (safetensors).

The executor (platform code) reads the KDA; user code never gets its location or
credentials. The frames go through the job's exchange folder as one uncompressed
Arrow IPC (Feather v2) file per test key, plus an index that keeps the keys (which
are the site's test names, not file names) and their order. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

INDEX = "index.json"
SHARED_MEMORY = "/dev/shm"
SHARED_MEMORY_MARGIN = 1 << 30


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


def exchange_parent_for(model_bytes: int) -> str | None:
    """Where to hand a model of ``model_bytes`` over: shared memory (``/dev/shm``) when it and the machine's
    free memory have room for the global model and the update with a margin, else the temp folder (``None``).

    Files in shared memory are about three times as fast to write as on a disk, and the hand-over happens
    twice a round each way; but they take memory, which a large model's processes need themselves.
    """
    folder = SHARED_MEMORY
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        return None
    needed = 3 * model_bytes + SHARED_MEMORY_MARGIN
    return folder if shutil.disk_usage(folder).free > needed and _available_memory() > 2 * needed else None


def _available_memory() -> int:
    """The machine's available memory in bytes (``MemAvailable``), or 0 when it cannot be read."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def readable_to_worker(path: Path) -> None:
    """Let the worker read what the executor hands it, even as another uid (a container's user-code uid).

    Only the exchange folder's owner can enter it, so this opens nothing to anyone else; some
    writers (safetensors) create files readable by their owner alone.
    """
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in paths:
        mode = item.stat().st_mode
        wanted = mode | (0o055 if item.is_dir() else 0o044)
        if wanted != mode:
            item.chmod(wanted & 0o7777)
