"""A site's own settings: where its KDA lives and how it runs user code. Never carried by a job.

``local/fdd_site.json`` in the site's NVFlare workspace::

    {"kda_url": "postgresql://kda@db/kda",
     "environment": {"backend": "local", "cache_dir": "/srv/fdd/envs"}}

The KDA URL is looked up in that file, then ``$FDD_KDA_URLS`` (a JSON object of site
name → URL, what ``fdd run`` sets for the simulator), then ``$FDD_KDA_URL``. The
environment backend is the file's ``environment.backend``, else ``$FDD_ENV_BACKEND``,
else ``local``; the other ``environment`` keys are the backend's options. A file without
an ``environment`` takes the options from ``$FDD_ENV_OPTIONS`` (a JSON object: what
``fdd run --env-option`` and ``platform.yaml`` set for simulated sites).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nvflare_fdd.errors import FddError

SITE_CONFIG_FILE = "fdd_site.json"
KDA_URLS_ENV = "FDD_KDA_URLS"
KDA_URL_ENV = "FDD_KDA_URL"
ENV_BACKEND_ENV = "FDD_ENV_BACKEND"
ENV_OPTIONS_ENV = "FDD_ENV_OPTIONS"
DEFAULT_BACKEND = "local"


def read_site_file(site_config_dir: str | Path | None) -> dict:
    """The site's ``fdd_site.json`` as a dict (empty when there is none).

    Raises:
        FddError: the file is not a JSON object.
    """
    if not site_config_dir:
        return {}
    path = Path(site_config_dir) / SITE_CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text())
    except ValueError as exc:
        raise FddError(f"{path}: not valid JSON ({exc}); see the nvflare-fdd README for its keys") from exc
    if not isinstance(settings, dict):
        raise FddError(f"{path}: must be a JSON object like {{\"kda_url\": \"sqlite:////data/kda.db\"}}")
    return settings


def environment_settings(site_config_dir: str | Path | None) -> tuple[str, dict]:
    """``(backend name, backend options)`` for running this site's user code."""
    options = dict(read_site_file(site_config_dir).get("environment") or {})
    if not options and os.environ.get(ENV_OPTIONS_ENV):
        try:
            options = json.loads(os.environ[ENV_OPTIONS_ENV])
        except ValueError as exc:
            raise FddError(f"${ENV_OPTIONS_ENV} must be a JSON object of environment options: {exc}") from exc
        if not isinstance(options, dict):
            raise FddError(f"${ENV_OPTIONS_ENV} must be a JSON object of environment options, not {options!r}")
    backend = options.pop("backend", None) or os.environ.get(ENV_BACKEND_ENV) or DEFAULT_BACKEND
    return backend, options


def environment_variables(backend: str | None, options: dict | None) -> dict[str, str]:
    """The variables that hand a backend and its options to simulated sites (see ``environment_settings``)."""
    env = {ENV_BACKEND_ENV: backend} if backend else {}
    if options:
        env[ENV_OPTIONS_ENV] = json.dumps(options)
    return env


def kda_url_for(site: str, site_config_dir: str | Path | None) -> str:
    """The KDA URL configured for ``site``.

    Raises:
        FddError: none is configured, or a configuration is malformed.
    """
    url = read_site_file(site_config_dir).get("kda_url")
    if url:
        return str(url)
    mapping = os.environ.get(KDA_URLS_ENV)
    if mapping:
        try:
            urls = json.loads(mapping)
        except ValueError as exc:
            raise FddError(f"${KDA_URLS_ENV} must be a JSON object of site name → KDA URL") from exc
        if isinstance(urls, dict) and urls.get(site):
            return str(urls[site])
    if os.environ.get(KDA_URL_ENV):
        return os.environ[KDA_URL_ENV]
    where = f"{Path(site_config_dir) / SITE_CONFIG_FILE}" if site_config_dir else f"local/{SITE_CONFIG_FILE}"
    raise FddError(
        f"no KDA is configured for site {site}: write {{\"kda_url\": \"<SQLAlchemy URL>\"}} to {where}, "
        f"or set ${KDA_URL_ENV}"
    )
