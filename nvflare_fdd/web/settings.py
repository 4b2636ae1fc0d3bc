"""The web UI's settings: the ``ui`` section of ``platform.yaml``, then the environment.

Example ``platform.yaml`` section (every key optional)::

    ui:
      host: 0.0.0.0            # default 127.0.0.1
      port: 8765
      secure_cookies: true     # behind https: the session cookie is sent over https only
      secret_key: ...          # signs the session cookie; better: $FDD_SECRET_KEY
      max_upload_mb: 1100      # largest model upload (weights may total 1 GB)
      threads: 8               # requests served at once (waitress)
      trusted_proxy: 127.0.0.1 # a reverse proxy terminating https: its X-Forwarded-For/-Proto are believed
      url_scheme: https        # the scheme when a proxy terminates https but sends no X-Forwarded-Proto
      throttle_storage: memory://   # where failed sign-ins are counted (a `limits` storage URI)

Served over https (``url_scheme``, or a trusted proxy's ``X-Forwarded-Proto: https``), the
session cookie is ``Secure`` and responses carry ``Strict-Transport-Security``.

Environment overrides: ``$FDD_SECRET_KEY``, ``$FDD_UI_HOST``, ``$FDD_UI_PORT``,
``$FDD_UI_SECURE_COOKIES`` (``1``/``0``). With no secret key anywhere, one is generated
once and kept in ``<home>/ui-secret-key`` (readable by its owner only), so sessions
survive restarts.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.config import PlatformConfig

SECRET_KEY_ENV = "FDD_SECRET_KEY"
HOST_ENV = "FDD_UI_HOST"
PORT_ENV = "FDD_UI_PORT"
SECURE_COOKIES_ENV = "FDD_UI_SECURE_COOKIES"
SECRET_KEY_FILE = "ui-secret-key"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class WebSettings:
    """What the web UI needs beyond the platform's own settings."""

    secret_key: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    secure_cookies: bool = False
    max_upload_bytes: int = 1100 << 20
    tick_interval: float = 1.0
    threads: int = 8
    trusted_proxy: str | None = None
    url_scheme: str = "http"
    throttle_storage: str = "memory://"


def load_web_settings(config: PlatformConfig) -> WebSettings:
    """The UI settings for ``config`` (its file's ``ui`` section, the environment, defaults).

    Raises:
        FddError: a setting has a bad value.
    """
    section = _ui_section(config)
    port_text = os.environ.get(PORT_ENV) or section.get("port") or DEFAULT_PORT
    try:
        port = int(port_text)
        max_upload_mb = int(section.get("max_upload_mb", 1100))
        threads = int(section.get("threads", 8))
    except (TypeError, ValueError) as exc:
        raise FddError(f"ui.port, ui.max_upload_mb and ui.threads must be whole numbers: {exc}") from None
    scheme = str(section.get("url_scheme", "http"))
    if scheme not in ("http", "https"):
        raise FddError(f"ui.url_scheme must be http or https, got {scheme!r}")
    secure = os.environ.get(SECURE_COOKIES_ENV)
    return WebSettings(
        secret_key=os.environ.get(SECRET_KEY_ENV) or section.get("secret_key") or _stored_secret_key(config.home),
        host=os.environ.get(HOST_ENV) or section.get("host") or DEFAULT_HOST,
        port=port,
        secure_cookies=_flag(secure) if secure is not None else bool(section.get("secure_cookies", False)),
        max_upload_bytes=max_upload_mb << 20,
        threads=threads,
        trusted_proxy=section.get("trusted_proxy") or None,
        url_scheme=scheme,
        throttle_storage=str(section.get("throttle_storage", "memory://")),
    )


def _ui_section(config: PlatformConfig) -> dict:
    if config.source is None:
        return {}
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(OmegaConf.load(config.source), resolve=True) or {}
    section = (values.get("ui") if isinstance(values, dict) else None) or {}
    if not isinstance(section, dict):
        raise FddError(f"{config.source}: `ui` must be a mapping of settings")
    return section


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _stored_secret_key(home: Path) -> str:
    """The key in ``<home>/ui-secret-key``, written on first use (mode 0600, atomically)."""
    path = Path(home) / SECRET_KEY_FILE
    if path.is_file():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, path)  # never replace a key another process wrote meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return path.read_text().strip()
