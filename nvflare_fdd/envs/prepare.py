"""The job's environment on this participant (a site, or the server building the model), from its own settings."""

from __future__ import annotations

import inspect
from pathlib import Path

from nvflare_fdd.bundle.requirements import disallowed_indexes
from nvflare_fdd.envs import Environment, JobEnvironmentError, Logger, site_package_indexes
from nvflare_fdd.errors import FddError
from nvflare_fdd.site_config import SitePolicy, environment_settings


def prepare_environment(bundle_dir: str | Path, site_dir: str | Path | None, policy: SitePolicy,
                        log: Logger = lambda line: None) -> Environment:  # fmt: skip
    """Build (or reuse) the environment for the bundle's ``requirements.txt`` with this participant's backend.

    Requirements may name only the package indexes the participant allows (``policy.package_indexes``,
    default its own pip configuration), over https.

    Raises:
        FddError: the backend is unknown or misconfigured, an index is not allowed, or the build failed
            (``JobEnvironmentError``, which names the requirement lines at fault).
    """
    from nvflare_fdd.plugin.manager import plugin_manager

    backend_name, options = environment_settings(site_dir)
    backends = plugin_manager().environment_backends()
    if backend_name not in backends:
        raise FddError(f"no environment backend {backend_name!r} is installed; installed: {', '.join(sorted(backends))}")
    factory = backends[backend_name]
    if "sandboxed" in _parameters(factory):
        options.setdefault("sandboxed", policy.sandbox)  # a backend that runs installers here sandboxes them too
    try:
        backend = factory(**options)
    except TypeError as exc:
        raise FddError(f"environment backend {backend_name!r}: bad options in fdd_site.json's \"environment\": {exc}") from exc
    requirements_path = Path(bundle_dir) / "requirements.txt"
    requirements = requirements_path.read_text() if requirements_path.is_file() else ""
    allowed = list(policy.package_indexes) if policy.package_indexes is not None else site_package_indexes()
    refused = disallowed_indexes(requirements, allowed)
    if refused:
        raise JobEnvironmentError(
            "requirements.txt names package indexes this site does not install from (a site installs only from "
            "the https indexes on its allow-list, \"package_indexes\" in its fdd_site.json): " + "; ".join(refused)
        )
    return backend.prepare(requirements, log=log)


def _parameters(factory) -> set[str]:
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()
