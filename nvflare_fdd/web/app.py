"""The Flask application: pages and JSON endpoints over ``Platform``, nothing the CLI lacks.

``create_app(platform, settings)`` builds it; ``nvflare_fdd.web.server`` serves it and
runs the platform's queue beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from nvflare_fdd.errors import FddError
from nvflare_fdd.platform.db import StorageError
from nvflare_fdd.platform.service import LIMITS, PermissionDenied, Platform
from nvflare_fdd.platform.sink import transient
from nvflare_fdd.platform.storage import NotFound, StorageConflict
from nvflare_fdd.stats.store import StatsStore, stats_store
from nvflare_fdd.web import security
from nvflare_fdd.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from nvflare_fdd.web.messages import error_message, message, problem_dict
from nvflare_fdd.web.progress import utc
from nvflare_fdd.web.refresh import DataRefresh
from nvflare_fdd.web.settings import WebSettings, load_web_settings
from nvflare_fdd.web.views import data, job, jobs, models

HSTS = "max-age=31536000; includeSubDomains"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


@dataclass(frozen=True)
class WebContext:
    """What every view reaches through ``current_app.extensions["fdd"]``."""

    platform: Platform
    settings: WebSettings
    stats: StatsStore
    throttle: security.SignInThrottle
    refresh: DataRefresh


def create_app(platform: Platform | None = None, settings: WebSettings | None = None, stats=None) -> Flask:
    """The web UI over ``platform`` (default: ``Platform()`` from the platform's settings).

    Args:
        platform: the platform service every page goes through.
        settings: secret key, cookie flags, upload limit; default ``load_web_settings(platform.config)``.
        stats: where the sites' statistics summaries are kept; default the platform's storage (or the JSON folder
            ``$FDD_STATS_DIR`` names), where ``fdd data refresh`` puts them.
    """
    platform = platform or Platform()
    settings = settings or load_web_settings(platform.config)
    if stats is None:
        stats = stats_store(storage=platform.storage)
    app = Flask(__name__)
    app.session_interface = security.SessionInterface()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="fdd_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=security.SESSION_LIFETIME,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
    )
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False
        app.json.ensure_ascii = False
    throttle = security.SignInThrottle(settings.throttle_storage)
    app.extensions["fdd"] = WebContext(platform, settings, stats, throttle, DataRefresh(platform, stats))
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
    app.register_error_handler(SQLAlchemyError, _database_error)
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
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _template_helpers() -> dict:
    language = g.get("lang", DEFAULT_LANGUAGE)
    return {
        "t": lambda key: translate(key, language),
        "msg": lambda code, **params: message(code, params, language),
        "maxn": lambda n: translate("common.max_n", language).replace("{n}", str(n)),
        "limits": LIMITS,
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
    """The platform's refusal in the UI's words: JSON for scripts; a form posted without scripts goes back where
    the user acted, the reason shown there; a page that cannot be shown says why on the error page."""
    if isinstance(error, StorageError):
        return _database_error(error)
    status = _status_of(error)
    language = g.get("lang", DEFAULT_LANGUAGE)
    text = error_message(error, language)
    if wants_json():
        body: dict[str, Any] = {"error": text, "code": error.code}
        problems = getattr(error, "problems", None)
        if problems:
            body["problems"] = [problem_dict(p, language) for p in problems]
        return jsonify(body), status
    if request.method == "POST":
        flash(text, "error")
        return redirect(security.safe_next(request.form.get("next"), url_for("jobs.index")))
    return render_template("error.html", status=status, message=text), status


def _database_error(error: Exception):
    """The platform's database is away or busy: 503, to try again (the cause goes to the server's log, not the page).
    Any other database error is a fault of the server: 500."""
    from flask import current_app

    language = g.get("lang", DEFAULT_LANGUAGE)
    if transient(error):
        current_app.logger.error("the platform's database is unavailable: %s", error)
        status, text = 503, translate("error.storage_unavailable", language)
    else:
        current_app.logger.exception("database error", exc_info=error)
        status, text = 500, translate("error.http_500", language)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    if wants_json():
        return jsonify(error=text), status, headers
    return render_template("error.html", status=status, message=text), status, headers


RETRY_AFTER_SECONDS = 30


def _http_error(error: HTTPException):
    language = g.get("lang", DEFAULT_LANGUAGE)
    if isinstance(error, RequestEntityTooLarge):
        text = message("upload.too_large", {}, language)
    elif isinstance(error, security.CsrfError):
        text = translate("error.csrf", language)
    elif error.code == 404:
        text = translate("error.not_found", language)
    else:
        text = translate(f"error.http_{error.code}", language) if f"error.http_{error.code}" in _KNOWN_HTTP else (
            error.description or error.name)  # fmt: skip
    if wants_json():
        return jsonify(error=text), error.code
    return render_template("error.html", status=error.code, message=text), error.code


_KNOWN_HTTP = frozenset({"error.http_400", "error.http_403", "error.http_405", "error.http_500"})
