"""Sign-in (hashed passwords, Flask sessions) and CSRF protection of every state-changing request.

The CSRF token is per session: forms carry it as ``csrf_token``, scripts as the
``X-CSRF-Token`` header; every POST without the session's token is refused (400).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.security import check_password_hash, generate_password_hash

from nvflare_fdd.platform.records import User
from nvflare_fdd.platform.storage import NotFound

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_ENDPOINTS = frozenset({"auth.signin", "static", "set_language"})

blueprint = Blueprint("auth", __name__)

# Checked when the user name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class CsrfError(BadRequest):
    description = "error.csrf"


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
    """Set ``g.user`` from the session (``None`` when signed out or the account is gone)."""
    g.user = None
    name = session.get("user")
    if not name:
        return
    try:
        g.user = current_app.extensions["fdd"].platform.storage.get_user(name)
    except NotFound:
        session.pop("user", None)


def require_sign_in():
    """Send signed-out visitors to the sign-in page (scripts get 401)."""
    if g.user is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.path.startswith("/api/") or request.method not in SAFE_METHODS:
        return {"error": "sign in first"}, 401
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


@blueprint.route("/signin", methods=["GET", "POST"])
def signin():
    storage = current_app.extensions["fdd"].platform.storage
    failed = False
    if request.method == "POST":
        name = request.form.get("user", "").strip()
        password = request.form.get("password", "")
        stored = storage.password_hash(name) if name else None
        if check_password_hash(stored or _DUMMY_HASH, password) and stored:
            language = session.get("lang")
            session.clear()  # a new session on sign-in: no fixation
            session.permanent = True
            session["user"] = name
            if language:
                session["lang"] = language
            csrf_token()
            return redirect(safe_next(request.args.get("next"), url_for("data.index")))
        failed = True
    has_accounts = any(storage.password_hash(u.name) for u in storage.list_users())
    return render_template("signin.html", failed=failed, has_accounts=has_accounts), 401 if failed else 200


@blueprint.route("/signout", methods=["POST"])
def signout():
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("auth.signin"))
