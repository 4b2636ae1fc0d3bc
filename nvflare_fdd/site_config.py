"""A site's own settings: where its KDA lives and how it runs user code. Never carried by a job.

``local/fdd_site.json`` in the site's NVFlare workspace::

    {"kda_url": "postgresql://kda@db/kda",
     "environment": {"backend": "local", "cache_dir": "/srv/fdd/envs"}}

A site also decides what user code may do and what may leave it (DESIGN §8); the defaults
are the strict ones, and each loosening is the site's explicit choice::

    {"sandbox": true,                 # false runs user code with the site's own view of the machine
     "share_error_messages": false,   # true sends exceptions' messages with failures
     "metric_digits": 6,              # significant digits metric values keep
     "package_indexes": ["https://pypi.org/simple"]}   # indexes requirements.txt may name (https only)

Pretrained models a job asks for (``model_manager.download_model``) are fetched from the job's server and
kept in the site's cache, ``"pretrained_cache": "/srv/fdd/pretrained"`` (default ``$FDD_PRETRAINED_CACHE``, else
``~/.cache/nvflare-fdd/pretrained``; see ``nvflare_fdd.pretrained.site.site_cache_dir``).

A job's server writes its run's record into the platform's storage when its ``fdd_site.json`` names it,
``"storage_url": "postgresql://fdd@db/platform"`` (with ``"storage_backend"``, default ``sql``), or
``$FDD_STORAGE_URL`` does. The former names ``platform_url``, ``platform_storage_backend`` and
``$FDD_PLATFORM_URL`` are still read, with a warning.

The KDA URL is looked up in that file, then ``$FDD_KDA_URLS`` (a JSON object of site
name → URL, what ``fdd run`` sets for the simulator), then ``$FDD_KDA_URL``. The
environment backend is the file's ``environment.backend``, else ``$FDD_ENV_BACKEND``,
else ``local``; the other ``environment`` keys are the backend's options.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nvflare_fdd import env_vars
from nvflare_fdd.errors import FddError

SITE_CONFIG_FILE = "fdd_site.json"
KDA_URLS_ENV = env_vars.KDA_URLS
KDA_URL_ENV = env_vars.KDA_URL
ENV_BACKEND_ENV = env_vars.ENV_BACKEND
DEFAULT_BACKEND = "local"

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class SitePolicy:
    """What a site lets user code do and what it lets leave (``fdd_site.json``; see the module docstring).

    Attributes:
        sandbox: user code runs sandboxed (no network, read-only, no credentials).
        share_error_messages: failures carry the exception's message, not only its type and frames.
        metric_digits: significant digits a metric value keeps.
        package_indexes: package indexes a bundle's requirements may name; ``None`` means the site's
            pip configuration (its ``index-url`` and ``extra-index-url``).
    """

    sandbox: bool = True
    share_error_messages: bool = False
    metric_digits: int = 6
    package_indexes: tuple[str, ...] | None = None

    @property
    def loosened(self) -> list[str]:
        """The rules this site loosened, in words (recorded with the job)."""
        return [what for what, on in (("sandbox off", not self.sandbox), ("error messages shared", self.share_error_messages)) if on]


def site_policy(site_config_dir: str | Path | None) -> SitePolicy:
    """The site's ``SitePolicy`` from ``fdd_site.json``.

    Raises:
        FddError: a key has the wrong type (the message names it and the expected value).
    """
    settings = read_site_file(site_config_dir)
    sandbox = settings.get("sandbox", True)
    share = settings.get("share_error_messages", False)
    digits = settings.get("metric_digits", 6)
    indexes = settings.get("package_indexes")
    where = f"{SITE_CONFIG_FILE}"
    if not isinstance(sandbox, bool):
        raise FddError(f'{where}: "sandbox" must be true or false, not {sandbox!r}')
    if not isinstance(share, bool):
        raise FddError(f'{where}: "share_error_messages" must be true or false, not {share!r}')
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
        raise FddError(f'{where}: "metric_digits" must be a whole number from 1 to 15, not {digits!r}')
    if indexes is not None and (not isinstance(indexes, list) or not all(isinstance(url, str) for url in indexes)):
        raise FddError(f'{where}: "package_indexes" must be a list of index URLs such as ["https://pypi.org/simple"]')
    return SitePolicy(sandbox, share, digits, tuple(indexes) if indexes is not None else None)


def environment_settings(site_config_dir: str | Path | None) -> tuple[str, dict]:
    """``(backend name, backend options)`` for running this site's user code."""
    options = dict(read_site_file(site_config_dir).get("environment") or {})
    backend = options.pop("backend", None) or os.environ.get(ENV_BACKEND_ENV) or DEFAULT_BACKEND
    return backend, options


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


def server_storage_url(settings: Mapping[str, object]) -> str | None:
    """The platform storage a job's server records into: ``storage_url`` in its ``fdd_site.json`` settings, else
    ``$FDD_STORAGE_URL`` (``storage_url_from_env``); ``None`` when neither names one."""
    url = _setting(settings, "storage_url", "platform_url")
    return str(url) if url else storage_url_from_env()


def server_storage_backend(settings: Mapping[str, object]) -> str:
    """The storage backend (a plugin's name) of ``server_storage_url``: ``storage_backend``, default ``sql``."""
    return str(_setting(settings, "storage_backend", "platform_storage_backend") or "sql")


def _setting(settings: Mapping[str, object], key: str, former: str) -> object:
    if not settings.get(key) and settings.get(former):
        log.warning("fdd_site.json: %r is the former name of %r; rename the key", former, key)
        return settings[former]
    return settings.get(key)


def storage_url_from_env() -> str | None:
    """``$FDD_STORAGE_URL``, else its former name ``$FDD_PLATFORM_URL`` (with a warning), else ``None``."""
    url = os.environ.get(env_vars.STORAGE_URL)
    if not url and os.environ.get(env_vars.FORMER_STORAGE_URL):
        log.warning("$%s is the former name of $%s; set that instead", env_vars.FORMER_STORAGE_URL, env_vars.STORAGE_URL)
        url = os.environ[env_vars.FORMER_STORAGE_URL]
    return url or None
