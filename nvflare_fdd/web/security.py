"""Sign-in (hashed passwords, throttled), server-side sessions, the password change page, and CSRF protection.

- A signed-in browser's cookie carries a random session token; the platform keeps its hash
  (``web_sessions``) and forgets it at sign-out and when the password changes, so a copied
  cookie stops working then (and after 12 hours in any case).
- Failed sign-ins are counted per account and per address (moving windows, ``limits``); past
  the limit, sign-in is refused for a while even with the right password.
- The CSRF token is per session: forms carry it as ``csrf_token``, scripts as the
  ``X-CSRF-Token`` header; every POST without the session's token is refused (400).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import BadRequest
from werkzeug.security import check_password_hash, generate_password_hash

from nvflare_fdd.platform.records import User

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TOKEN = "sid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_ENDPOINTS = frozenset({"auth.signin", "static", "set_language"})
SESSION_LIFETIME = timedelta(hours=12)
ACCOUNT_LIMIT = parse("5 per 5 minutes")
"""Failed sign-ins one account may have before it must wait."""
ADDRESS_LIMIT = parse("20 per 5 minutes")
"""Failed sign-ins from one address (any accounts) before it must wait."""
MIN_PASSWORD = 8

blueprint = Blueprint("auth", __name__)

# Checked when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class CsrfError(BadRequest):
    description = "error.csrf"


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked ``Secure`` whenever the request came over https."""

    def get_cookie_secure(self, app) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


class SignInThrottle:
    """Counts failed sign-ins per account and per address.

    Args:
        storage_uri: where the counts live (``limits`` storage URI); ``memory://`` for one server process.
    """

    def __init__(self, storage_uri: str = "memory://"):
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def wait_seconds(self, account: str, address: str) -> int:
        """Seconds until ``account`` may try again from ``address`` (0: now)."""
        waits = []
        for limit, key in ((ACCOUNT_LIMIT, ("account", account)), (ADDRESS_LIMIT, ("address", address))):
            if not self.limiter.test(limit, *key):
                waits.append(self.limiter.get_window_stats(limit, *key).reset_time - time.time())
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, account: str, address: str) -> None:
        self.limiter.hit(ACCOUNT_LIMIT, "account", account)
        self.limiter.hit(ADDRESS_LIMIT, "address", address)

    def succeeded(self, account: str) -> None:
        self.limiter.clear(ACCOUNT_LIMIT, "account", account)


def _storage():
    return current_app.extensions["fdd"].platform.storage


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a state-changing request that lacks the session's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        raise CsrfError()


def load_user() -> None:
    """Set ``g.user`` from the session's token (``None`` when signed out, revoked, expired, or the account is gone)."""
    g.user = None
    token = session.get(SESSION_TOKEN)
    if not token:
        return
    g.user = _storage().web_session_user(_token_hash(token))
    if g.user is None:
        _fresh_session()


def require_sign_in():
    """Send signed-out visitors to the sign-in page (scripts get 401)."""
    if g.user is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.path.startswith("/api/") or request.method not in SAFE_METHODS:
        return {"error": "sign in first", "code": "signin.required"}, 401
    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))


def can_change(owner: str) -> bool:
    """Whether the signed-in user may edit, delete, start or stop what ``owner`` owns (the UI's hint;
    the platform enforces it)."""
    user: User | None = g.get("user")
    return user is not None and (user.is_admin or user.name == owner)


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _fresh_session() -> None:
    """Empty the session, keeping only the display language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def _start_session(name: str) -> None:
    """A new session for ``name`` (new token, new CSRF token: no fixation)."""
    _fresh_session()
    token = secrets.token_urlsafe(32)
    _storage().add_web_session(name, _token_hash(token), datetime.now(UTC) + SESSION_LIFETIME)
    session.permanent = True
    session[SESSION_TOKEN] = token
    csrf_token()


@blueprint.route("/signin", methods=["GET", "POST"])
def signin():
    storage = _storage()
    failed, wait = False, 0
    if request.method == "POST":
        name = request.form.get("user", "").strip()
        password = request.form.get("password", "")
        throttle: SignInThrottle = current_app.extensions["fdd"].throttle
        address = request.remote_addr or "?"
        wait = throttle.wait_seconds(name.lower(), address)
        if not wait:
            stored = storage.password_hash(name) if name else None
            if check_password_hash(stored or _DUMMY_HASH, password) and stored:
                throttle.succeeded(name.lower())
                _start_session(name)
                return redirect(safe_next(request.args.get("next"), url_for("data.index")))
            throttle.failed(name.lower(), address)
            failed = True
    has_accounts = any(storage.password_hash(u.name) for u in storage.list_users())
    status = 429 if wait else 401 if failed else 200
    return render_template("signin.html", failed=failed, wait=wait, has_accounts=has_accounts), status


@blueprint.route("/signout", methods=["POST"])
def signout():
    token = session.get(SESSION_TOKEN)
    if token:
        _storage().end_web_session(_token_hash(token))
    _fresh_session()
    return redirect(url_for("auth.signin"))


@blueprint.route("/account/password", methods=["GET", "POST"])
def password():
    """Change one's password: every session of the account ends, this browser gets a new one."""
    from nvflare_fdd.web.i18n import translate
    from nvflare_fdd.web.messages import message

    errors: list[tuple[str, str, dict[str, Any]]] = []
    if request.method == "POST":
        storage = _storage()
        current, new, repeat = (request.form.get(key, "") for key in ("current", "new", "repeat"))
        if not check_password_hash(storage.password_hash(g.user.name) or _DUMMY_HASH, current):
            errors.append(("current", "password.wrong", {}))
        if len(new) < MIN_PASSWORD:
            errors.append(("new", "password.short", {"min": MIN_PASSWORD}))
        elif new != repeat:
            errors.append(("repeat", "password.mismatch", {}))
        if not errors:
            storage.set_password(g.user.name, generate_password_hash(new))
            storage.end_web_sessions(g.user.name)
            _start_session(g.user.name)
            flash(translate("account.password_changed", g.lang))
            return redirect(url_for("data.index"))
    shown = {field: message(code, params, g.lang) for field, code, params in errors}
    return render_template("password.html", errors=shown, min_length=MIN_PASSWORD), 400 if errors else 200

