"""Where a site's KDA lives: configured by the site, never carried by the job.

Looked up in this order:

1. ``local/fdd_site.json`` in the site's NVFlare workspace: ``{"kda_url": "postgresql://..."}``;
2. ``$FDD_KDA_URLS``: a JSON object mapping site names to URLs (what ``fdd run`` sets for the simulator);
3. ``$FDD_KDA_URL``: one URL for every site on this machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nvflare_fdd.errors import FddError

SITE_CONFIG_FILE = "fdd_site.json"
KDA_URLS_ENV = "FDD_KDA_URLS"
KDA_URL_ENV = "FDD_KDA_URL"


def kda_url_for(site: str, site_config_dir: str | Path | None) -> str:
    """The KDA URL configured for ``site``.

    Raises:
        FddError: none is configured, or a configuration is malformed.
    """
    if site_config_dir:
        path = Path(site_config_dir) / SITE_CONFIG_FILE
        if path.is_file():
            try:
                url = json.loads(path.read_text()).get("kda_url")
            except (ValueError, AttributeError) as exc:
                raise FddError(f"{path}: must be a JSON object like {{\"kda_url\": \"sqlite:////data/kda.db\"}}") from exc
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
