"""NVFlare job folders from the ``fdd`` job template.

A job folder is what ``nvflare job create -w fdd -j JOB -sd BUNDLE`` makes:
``meta.conf`` and one app, deployed to all sites, with the template's configs
in ``app/config`` and the user bundle in ``app/custom``. ``create_job`` builds
the same folder directly, setting the template's variables (``model_class``,
``num_rounds``) and any other top-level key.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nvflare_fdd.client.runtime import ALGORITHMS, DEFAULT_FEDPROX_MU
from nvflare_fdd.errors import FddError
from nvflare_fdd.metric_names import check_declared

TEMPLATES_DIR = Path(__file__).resolve().parent / "job_templates"
DEFAULT_TEMPLATE = "fdd"
SERVER_CONFIG = "config_fed_server.conf"
CLIENT_CONFIG = "config_fed_client.conf"
JOB_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def template_dir(name: str = DEFAULT_TEMPLATE) -> Path:
    """The folder of a job template shipped with nvflare-fdd.

    Raises:
        FddError: there is no such template.
    """
    folder = TEMPLATES_DIR / name
    if not (folder / "info.conf").is_file():
        known = sorted(p.name for p in TEMPLATES_DIR.iterdir() if (p / "info.conf").is_file())
        raise FddError(f"no job template named {name!r}; nvflare-fdd ships {', '.join(known)}")
    return folder


def create_job(
    job_dir: str | Path,
    bundle_dir: str | Path,
    model_class: str,
    num_rounds: int,
    sites: Sequence[str] | None = None,
    name: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    server_vars: Mapping[str, Any] | None = None,
    client_vars: Mapping[str, Any] | None = None,
    min_clients: int = 0,
    metric_names: Sequence[str] = (),
    algorithm: str = "fedavg",
    fedprox_mu: float = DEFAULT_FEDPROX_MU,
    local_baseline: bool = False,
) -> Path:
    """Write an NVFlare job folder for ``bundle_dir`` from the template.

    Args:
        job_dir: the folder to create (must not exist or be empty).
        bundle_dir: the flat user bundle; copied into ``app/custom``.
        model_class: the ``nn.Module`` class of ``model.py`` the server builds.
        num_rounds: federated rounds, at least 1.
        sites: the sites the job needs (``min_clients``); ``None`` leaves the template's value.
        name: job name (letters, digits, ``_``); default the folder name.
        template: template name.
        server_vars / client_vars: other top-level keys to set in the server / client config.
        min_clients: sites NVFlare needs alive to keep the job going; 0 means all of ``sites``.
        metric_names: metric names declared with the model (besides the vocabulary and ``evaluate()``'s keys).
        algorithm: ``fedavg``, ``fedprox`` or ``scaffold`` (DESIGN §9).
        fedprox_mu: FedProx's coefficient, sent to the sites with each task.
        local_baseline: each site also trains a local-only baseline (metrics of kind ``baseline``).

    Returns:
        The job folder.

    Raises:
        FddError: a bad argument, or ``job_dir`` is not empty.
    """
    job_dir, bundle_dir = Path(job_dir), Path(bundle_dir)
    name = name or job_dir.name
    if not JOB_NAME.match(name):
        raise FddError(f"job name {name!r} may use only English letters, digits and _")
    if not model_class or not model_class.isidentifier():
        raise FddError(f"model class {model_class!r} is not a Python class name")
    if not isinstance(num_rounds, int) or num_rounds < 1:
        raise FddError(f"rounds must be a whole number ≥ 1, got {num_rounds!r}")
    if job_dir.exists() and any(job_dir.iterdir()):
        raise FddError(f"{job_dir} already exists and is not empty; choose another folder or remove it")
    try:
        declared = {"metric_names": check_declared(metric_names)} if metric_names else {}
    except ValueError as exc:
        raise FddError(str(exc)) from exc
    check_algorithm(algorithm, fedprox_mu)
    return write_job_folder(
        job_dir, template, name, sites,
        server_vars={"model_class": model_class, "num_rounds": num_rounds, "algorithm": algorithm,
                     "fedprox_mu": float(fedprox_mu), "local_baseline": bool(local_baseline), **declared,
                     **(server_vars or {})},
        client_vars={**declared, **(client_vars or {})}, custom_dir=bundle_dir, min_clients=min_clients,
    )  # fmt: skip


def check_algorithm(algorithm: str, fedprox_mu: float = DEFAULT_FEDPROX_MU) -> None:
    """Refuse an unknown algorithm or a FedProx coefficient that is not a number ≥ 0.

    Raises:
        FddError: naming the bad value and the choices.
    """
    if algorithm not in ALGORITHMS:
        raise FddError(f"algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}", code="job.algorithm_invalid",
                       params={"algorithm": algorithm, "choices": ", ".join(ALGORITHMS)})
    if isinstance(fedprox_mu, bool) or not isinstance(fedprox_mu, (int, float)) or not fedprox_mu >= 0:
        raise FddError(f"fedprox_mu must be a number ≥ 0 (K-MELLODDY's examples use 0.01), got {fedprox_mu!r}",
                       code="job.fedprox_mu_invalid", params={"value": fedprox_mu})


def write_job_folder(
    job_dir: Path,
    template: str,
    name: str,
    sites: Sequence[str] | None = None,
    server_vars: Mapping[str, Any] | None = None,
    client_vars: Mapping[str, Any] | None = None,
    custom_dir: Path | None = None,
    min_clients: int = 0,
) -> Path:
    """A job folder from ``template``: its configs with ``*_vars`` set as top-level keys, ``meta.conf``
    named ``name`` and deployed to ``sites`` only (``min_clients``: default all of them), and
    ``custom_dir`` copied to ``app/custom``."""
    from pyhocon import ConfigFactory, HOCONConverter

    source = template_dir(template)
    config_dir = job_dir / "app" / "config"
    config_dir.mkdir(parents=True)
    if custom_dir is not None:
        shutil.copytree(custom_dir, job_dir / "app" / "custom", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for file_name, values in ((SERVER_CONFIG, server_vars), (CLIENT_CONFIG, client_vars)):
        config = ConfigFactory.parse_file(str(source / file_name))
        for key, value in (values or {}).items():
            config.put(key, value)
        (config_dir / file_name).write_text(HOCONConverter.to_hocon(config) + "\n")
    meta = ConfigFactory.parse_file(str(source / "meta.conf"))
    meta.put("name", name)
    if sites:
        # only the chosen sites get the job (the template's @ALL would send it to every connected site),
        # and NVFlare aborts the job when fewer than min_clients of them are alive
        apps = list(meta.get("deploy_map", {"app": []}).keys())
        meta.put("deploy_map", ConfigFactory.from_dict({app: ["server", *sites] for app in apps}))
        meta.put("min_clients", min_clients or len(sites))
    (job_dir / "meta.conf").write_text(HOCONConverter.to_hocon(meta) + "\n")
    return job_dir
