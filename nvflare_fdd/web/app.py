"""The Flask application: pages and JSON endpoints over ``Platform``, nothing the CLI lacks.

``create_app(platform, settings)`` builds it; ``nvflare_fdd.web.server`` serves it and
runs the platform's queue beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, g, jsonify, redirect, render_template, request, session, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.service import PermissionDenied, Platform
from nvflare_fdd.platform.storage import NotFound, StorageConflict
from nvflare_fdd.web import security
from nvflare_fdd.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from nvflare_fdd.web.progress import utc
from nvflare_fdd.web.settings import WebSettings, load_web_settings
from nvflare_fdd.web.views import data, job, jobs, models

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


@dataclass(frozen=True)
class WebContext:
    """What every view reaches through ``current_app.extensions["fdd"]``."""

    platform: Platform
    settings: WebSettings
    stats: object  # a ``nvflare_fdd.stats.store.StatsStore``: ``latest()`` → {institution: summary}


def create_app(platform: Platform | None = None, settings: WebSettings | None = None, stats=None) -> Flask:
    """The web UI over ``platform`` (default: ``Platform()`` from the platform's settings).

    Args:
        platform: the platform service every page goes through.
        settings: secret key, cookie flags, upload limit; default ``load_web_settings(platform.config)``.
        stats: where the sites' statistics summaries are kept; default ``JsonStatsStore()``
            (``$FDD_STATS_DIR``), where ``fdd data refresh`` puts them.
    """
    platform = platform or Platform()
    settings = settings or load_web_settings(platform.config)
    if stats is None:
        from nvflare_fdd.stats.store import JsonStatsStore

        stats = JsonStatsStore()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="fdd_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["fdd"] = WebContext(platform, settings, stats)
    for blueprint in (security.blueprint, data.blueprint, models.blueprint, jobs.blueprint, job.blueprint):
        app.register_blueprint(blueprint)
    app.before_request(_choose_language)
    app.before_request(security.load_user)
    app.before_request(security.require_sign_in)
    app.before_request(security.check_csrf)
    app.after_request(_security_headers)
    app.context_processor(_template_helpers)
    app.add_template_filter(_when, "when")
    app.add_url_rule("/lang/<code>", "set_language", _set_language)
    app.register_error_handler(FddError, _platform_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def wants_json() -> bool:
    """Whether the caller is a script (JSON endpoints, ``fetch`` with ``Accept: application/json``)."""
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


# -- request hooks ------------------------------------------------------------------------------


def _choose_language() -> None:
    language = session.get("lang")
    g.lang = language if language in LANGUAGES else DEFAULT_LANGUAGE


def _set_language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(security.safe_next(request.args.get("next"), url_for("data.index")))


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _template_helpers() -> dict:
    language = g.get("lang", DEFAULT_LANGUAGE)
    return {
        "t": lambda key: translate(key, language),
        "lang": language,
        "other_lang": "en" if language == "ko" else "ko",
        "csrf_token": security.csrf_token,
        "can_change": security.can_change,
        "user": g.get("user"),
    }


def _when(value: datetime | None) -> Markup:
    """A time stamp as ``<time>``; the page's script shows it in the browser's time zone."""
    if value is None:
        return Markup("")
    value = utc(value)
    text = value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return Markup(f'<time datetime="{escape(value.isoformat())}">{escape(text)}</time>')


# -- errors -------------------------------------------------------------------------------------


def _status_of(error: FddError) -> int:
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, StorageConflict):
        return 409
    return 400


def _platform_error(error: FddError):
    """The platform's user-readable messages: JSON for scripts, a page for browsers."""
    status = _status_of(error)
    if wants_json():
        return jsonify(error=str(error)), status
    return render_template("error.html", status=status, message=str(error)), status


def _http_error(error: HTTPException):
    if isinstance(error, RequestEntityTooLarge):
        message = translate("error.too_large", g.get("lang", DEFAULT_LANGUAGE))
    elif isinstance(error, security.CsrfError):
        message = translate("error.csrf", g.get("lang", DEFAULT_LANGUAGE))
    elif error.code == 404:
        message = translate("error.not_found", g.get("lang", DEFAULT_LANGUAGE))
    else:
        message = error.description or error.name
    if wants_json():
        return jsonify(error=message), error.code
    return render_template("error.html", status=error.code, message=message), error.code
