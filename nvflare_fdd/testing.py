"""Helpers for testing nvflare-fdd and its plugins: small bundles, site KDAs, and platform jobs run to their end.

A plugin's tests can run a real job in a few lines::

    from nvflare_fdd.testing import MSE_EVALUATE, TINY_DATA, ZERO_INIT_MODEL, run_job, sgd_train, write_bundle, write_site_kdas

    sites = write_site_kdas(tmp_path, {"site_a": 30, "site_b": 90})
    bundle = write_bundle(tmp_path / "bundle", {"model.py": ZERO_INIT_MODEL, "data.py": TINY_DATA,
                                               "train_eval.py": sgd_train() + MSE_EVALUATE, "requirements.txt": ""})
    platform = Platform(config, storage=storage, runner=SimulatorRunner(sites, storage_url), plugins=manager)
    job = run_job(platform, bundle, "my_job", rounds=2, sites=list(sites))
    assert job.state == JobState.COMPLETED, job.failure

Bundles are written flat, the way K-MELLODDY's are (``model.py``, ``data.py``, ``train_eval.py``,
``requirements.txt``, an optional ``config.yaml``): the texts below are pieces of one, and
:func:`assemble_bundle` builds a variant of a bundle from the files in which it differs.

Importing this module is cheap: pandas, torch and the KDA code are imported by the functions that use them.
The package itself never imports it.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from nvflare_fdd.platform.records import Job
    from nvflare_fdd.platform.service import Platform

#: ``model.py``: ``TinyRegressor``, one linear layer over ``n_features`` (``config.yaml``; 3 without it), started
#: at zero so that every run starts from the same global model and its results are reproducible.
ZERO_INIT_MODEL = '''
import torch.nn as nn


class TinyRegressor(nn.Module):
    def __init__(self, configs=None):
        super().__init__()
        self.linear = nn.Linear((configs or {}).get("n_features", 3), 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def model_loader(configs):
    return TinyRegressor(configs)
'''

#: ``data.py``: three features of each row's SMILES (its length and its counts of C and O, over 10) against the
#: measured value, of the KDA's ``Solubility`` rows; train and test are one batch of every row.
TINY_DATA = '''
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

#: The end of a ``train_eval.py`` after :func:`sgd_train`: ``evaluate()`` reports the MSE over ``data["test"]``'s
#: first batch and that batch's size.
MSE_EVALUATE = '''

def evaluate(model, data, configs):
    model.eval()
    x, y = next(iter(data["test"]))
    with torch.no_grad():
        return {"mse": torch.nn.functional.mse_loss(model(x), y).item(), "count": len(y)}
'''


def sgd_train(epochs: int = 1, learning_rate: float = 0.05) -> str:
    """The start of a ``train_eval.py``: ``import torch`` and a ``train()`` of plain SGD on the MSE, ``epochs`` passes
    over ``data["train"]``. It ends inside ``train()``: lines indented by four spaces that follow still belong to it."""
    return f'''
import torch


def train(model, data, configs):
    optimizer = torch.optim.SGD(model.parameters(), lr={learning_rate})
    model.train()
    for _ in range({epochs}):
        for x, y in data["train"]:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
'''


def write_bundle(folder: Path, files: Mapping[str, str | None]) -> Path:
    """Write a bundle's ``files`` (name → text, dedented) into ``folder``; a text of ``None`` leaves that file out."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if text is not None:
            (folder / name).write_text(textwrap.dedent(text))
    return folder


def apply_patch(text: str, patch: str) -> str:
    """``text`` changed by ``patch``, a unified diff of one file (as ``diff -u`` writes it), applied with
    ``whatthepatch`` (the ``test`` extra). A blank context line may be written empty, as editors that strip
    trailing spaces leave it.

    Raises:
        ValueError: the patch is not of one file, or a hunk does not apply exactly where it says (a base that has
            changed under the patch, instead of a file nobody wrote).
    """
    import whatthepatch
    from whatthepatch.exceptions import HunkApplyException

    patch = re.sub(r"(?m)^(?=\n)", " ", patch)  # an empty line inside a hunk is a blank context line
    diffs = list(whatthepatch.parse_patch(patch))
    if len(diffs) != 1:
        raise ValueError(f"a patch of one file was expected; this one has {len(diffs)}")
    try:
        lines = whatthepatch.apply_diff(diffs[0], text.splitlines())
    except HunkApplyException as exc:
        raise ValueError(f"the patch does not apply: {exc}") from exc
    return "".join(f"{line}\n" for line in lines)


def assemble_bundle(target: Path, base: Path, overlay: Path | None = None) -> Path:
    """A flat bundle in ``target``: a copy of ``base``, then ``overlay``'s files over it.

    A file of the overlay replaces the base's file of that name, or adds it; ``NAME.patch``, a unified diff,
    changes the base's ``NAME`` instead. So a variant of a bundle is stored as only what differs.
    """
    shutil.copytree(base, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted(overlay.iterdir()) if overlay is not None else ():
        if path.name == "__pycache__":
            continue
        if path.suffix == ".patch":
            changed = target / path.stem
            changed.write_text(apply_patch(changed.read_text(), path.read_text()))
        else:
            shutil.copy2(path, target / path.name)
    return target


def kda_frame(values: list[float], smiles: list[str] | None = None) -> pd.DataFrame:
    """Rows in the KDA standard format (the columns user code sees) for test ``Solubility``, one a value."""
    import pandas as pd

    smiles = smiles or [("C" * (1 + i % 7)) + ("O" * (i % 3)) for i in range(len(values))]
    return pd.DataFrame(
        {
            "chemical_id": [f"CHEM-{i:04d}" for i in range(len(values))],
            "smiles_structure_parent": smiles,
            "test": "Solubility",
            "measurement_type": "logS",
            "measurement_relation": "=",
            "measurement_value": [float(v) for v in values],
            "data_type": "ADMET",
        }
    )


def write_site_kdas(folder: Path, sizes: Mapping[str, int]) -> dict[str, str]:
    """One SQLite KDA per site in ``folder``, ``sizes[site]`` solubility rows whose values differ by site:
    site name → URL."""
    from nvflare_fdd.kda import import_file

    sites = {}
    for offset, (name, size) in enumerate(sizes.items()):
        csv_path = folder / f"{name}.csv"
        kda_frame([-(i % 9) * 0.5 - offset for i in range(size)]).to_csv(csv_path, index=False)
        url = f"sqlite:///{folder / name}.db"
        import_file(url, csv_path, institution=name)
        sites[name] = url
    return sites


def start_job(platform: Platform, bundle: Path | None, name: str, *, model_class: str = "TinyRegressor",
              version: str = "1.0", rounds: int = 2, sites: Iterable[str] = ("site_a", "site_b"), user: str = "alice",
              **job_options: Any) -> Job:
    """Register ``bundle`` as ``model_class:version`` (``None``: it is registered already), create job ``name`` of
    ``rounds`` on ``sites`` (``job_options``: ``algorithm=...`` and the like) and start it, all as ``user``."""
    owner = platform.user(user)
    if bundle is not None:
        platform.register_model(owner, bundle, model_class, version)
    platform.create_job(owner, name, f"{model_class}:{version}", rounds, list(sites), **job_options)
    return platform.start_job(owner, name)


def run_until(platform: Platform, name: str, condition: Callable[[Job], bool], timeout: float = 300, *,
              interval: float = 0.5, explain: Callable[[], str] | None = None) -> Job:  # fmt: skip
    """Tick ``platform`` every ``interval`` s until job ``name`` meets ``condition``; the job then.

    Raises:
        AssertionError: not within ``timeout`` s; it shows the job, and what ``explain()`` adds (a deployment's logs).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        platform.tick()
        job = platform.storage.get_job(name)
        if condition(job):
            return job
        time.sleep(interval)
    detail = f"\n{explain()}" if explain is not None else ""
    raise AssertionError(f"{name} did not get there in {timeout} s: {platform.storage.get_job(name)}{detail}")


def run_to_the_end(platform: Platform, name: str, timeout: float = 300) -> Job:
    """Tick ``platform`` until job ``name`` is completed, failed or cancelled; the job then."""
    return run_until(platform, name, lambda job: job.state.is_final, timeout)


def run_job(platform: Platform, bundle: Path | None, name: str, timeout: float = 300, **options: Any) -> Job:
    """:func:`start_job`, then :func:`run_to_the_end`."""
    start_job(platform, bundle, name, **options)
    return run_to_the_end(platform, name, timeout)


def plugin_installed(distribution: str, entry_point: str | None = None) -> bool:
    """Whether ``distribution`` is installed (``pip install -e plugins/...``) and, given ``entry_point``, names that
    plugin in the ``nvflare_fdd`` entry-point group, where a deployment's processes find it."""
    try:
        found = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    from nvflare_fdd.plugin import ENTRY_POINT_GROUP

    return entry_point is None or any(ep.group == ENTRY_POINT_GROUP and ep.name == entry_point for ep in found.entry_points)
