"""Every environment variable nvflare-fdd reads, named once.

Site and run settings (read by the NVFlare processes and the CLI):

- ``FDD_KDA_URL``: the site's KDA when ``local/fdd_site.json`` names none; the CLI's default ``--kda``.
- ``FDD_KDA_URLS``: site name → KDA URL as JSON, for simulated sites (``fdd run`` sets it).
- ``FDD_ENV_BACKEND``: the environment backend when ``fdd_site.json`` names none (default ``local``).
- ``FDD_ENV_CACHE``: the ``local`` backend's cache of job environments.
- ``FDD_PRETRAINED_CACHE``: the cache of pretrained models when ``fdd_site.json`` names none.

Platform settings (``nvflare_fdd.platform.config``, the web UI, the server's components):

- ``FDD_HOME``: the platform's home folder (default ``~/.local/share/nvflare-fdd``).
- ``FDD_PLATFORM_CONFIG``: its ``platform.yaml`` (default ``<home>/platform.yaml``).
- ``FDD_STORAGE_URL``: the platform's storage URL, over ``platform.yaml``'s ``storage_url``; a job's
  server reads it when its ``fdd_site.json`` has no ``storage_url`` (the simulator runner sets it).
  Its former name ``FDD_PLATFORM_URL`` is still read, with a warning.
- ``FDD_RUNNER``: ``simulator`` or ``flare``, over ``platform.yaml``.
- ``FDD_USER``: who the platform CLI acts as.
- ``FDD_SECRET_KEY``, ``FDD_UI_HOST``, ``FDD_UI_PORT``, ``FDD_UI_SECURE_COOKIES``: the web UI's (``ui`` section).
- ``FDD_STATS_DIR``, ``FDD_STATS_MIN_CELL_SIZE``: a JSON folder to keep the data statistics in (instead of the
  platform's storage) and the smallest reported cell.
- ``FDD_DISABLE_PLUGIN_AUTOLOAD``: ``1`` loads no plugins from entry points.

Internal: ``FDD_WORKER_AUTHKEY`` (a user-code process's key to its socket), ``FDD_POC_DEPLOYMENT``
(marks a POC deployment's processes).
"""

KDA_URL = "FDD_KDA_URL"
KDA_URLS = "FDD_KDA_URLS"
ENV_BACKEND = "FDD_ENV_BACKEND"
STORAGE_URL = "FDD_STORAGE_URL"
FORMER_STORAGE_URL = "FDD_PLATFORM_URL"
