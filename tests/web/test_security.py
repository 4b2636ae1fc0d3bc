"""Sign-in, sessions, CSRF, cookie flags, redirects and the secret key."""

from __future__ import annotations

import stat

import pytest

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.web.app import create_app
from nvflare_fdd.web.settings import SECRET_KEY_ENV, SECRET_KEY_FILE, WebSettings, load_web_settings


def session_token(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("csrf_token")


@pytest.mark.parametrize("path", ["/data", "/models", "/jobs", "/jobs/anything"])
def test_signed_out_visitors_are_sent_to_sign_in(app, path):
    response = app.test_client().get(path)

    assert response.status_code == 302
    assert response.location.startswith("/signin?next=")


def test_scripts_get_401_when_signed_out(app):
    assert app.test_client().get("/api/jobs/x").status_code == 401


@pytest.mark.parametrize("name, password", [("alice", "wrong"), ("nobody", "alice-pw"), ("", "")])
def test_a_wrong_name_or_password_is_refused(app, name, password):
    client = app.test_client()
    client.get("/signin")

    response = client.post("/signin", data={"user": name, "password": password, "csrf_token": session_token(client)})

    assert response.status_code == 401
    assert 'id="signin-error"' in response.text
    assert client.get("/data").status_code == 302


def test_a_user_without_a_password_cannot_sign_in(app, platform):
    platform.user("cli_only")  # CLI users are created without a password
    client = app.test_client()
    client.get("/signin")

    response = client.post("/signin", data={"user": "cli_only", "password": "", "csrf_token": session_token(client)})

    assert response.status_code == 401


def test_sign_in_starts_a_new_session_with_httponly_samesite_cookie(app):
    client = app.test_client()
    client.get("/signin")
    before = session_token(client)

    response = client.post("/signin", data={"user": "alice", "password": "alice-pw", "csrf_token": before})

    assert response.status_code == 302 and response.location == "/data"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert session_token(client) != before
    assert client.get("/data").status_code == 200


def test_secure_cookies_when_configured(platform, stats_store):
    app = create_app(platform, WebSettings(secret_key="k", secure_cookies=True), stats=stats_store)
    client = app.test_client()
    client.get("/signin")

    response = client.post("/signin", data={"user": "alice", "password": "alice-pw", "csrf_token": session_token(client)})

    assert "; Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("target, expected", [
    ("/jobs", "/jobs"), ("//evil.example/x", "/data"), ("https://evil.example/", "/data"), ("/\\evil.example", "/data"),
])  # fmt: skip
def test_sign_in_returns_only_to_pages_of_this_site(app, target, expected):
    client = app.test_client()
    client.get("/signin")

    form = {"user": "alice", "password": "alice-pw", "csrf_token": session_token(client)}

    response = client.post(f"/signin?next={target}", data=form)

    assert response.location == expected


@pytest.mark.parametrize("headers, data", [({}, {}), ({"X-CSRF-Token": "forged"}, {}), ({}, {"csrf_token": "forged"})])
def test_a_post_without_the_session_token_is_refused(client_for, platform, headers, data):
    client = client_for("alice")

    response = client.post("/api/groups", data={"name": "g", "sites": ["site_a"], **data}, headers=headers)

    assert response.status_code == 400
    assert platform.groups(platform.user("alice")) == []


def test_sign_in_itself_needs_the_token(app):
    client = app.test_client()

    response = client.post("/signin", data={"user": "alice", "password": "alice-pw"})

    assert response.status_code == 400


def test_sign_out_ends_the_session(client_for, post):
    client = client_for("alice")

    post(client, "/signout")

    assert client.get("/data").status_code == 302


def test_pages_carry_security_headers(client_for):
    response = client_for("alice").get("/jobs")

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)
    config = PlatformConfig(home=tmp_path / "home", storage_url="sqlite://")

    first = load_web_settings(config).secret_key
    second = load_web_settings(config).secret_key

    assert first == second and len(first) >= 64
    assert stat.S_IMODE((tmp_path / "home" / SECRET_KEY_FILE).stat().st_mode) == 0o600


def test_settings_come_from_the_ui_section_then_the_environment(tmp_path, monkeypatch):
    config_file = tmp_path / "platform.yaml"
    config_file.write_text("ui:\n  host: 0.0.0.0\n  port: 9000\n  secure_cookies: true\n  secret_key: from-file\n")
    config = PlatformConfig(home=tmp_path, storage_url="sqlite://", source=config_file)
    for name in (SECRET_KEY_ENV, "FDD_UI_PORT", "FDD_UI_HOST", "FDD_UI_SECURE_COOKIES"):
        monkeypatch.delenv(name, raising=False)

    from_file = load_web_settings(config)
    monkeypatch.setenv(SECRET_KEY_ENV, "from-env")
    monkeypatch.setenv("FDD_UI_PORT", "9100")
    monkeypatch.setenv("FDD_UI_SECURE_COOKIES", "0")
    from_env = load_web_settings(config)

    assert (from_file.host, from_file.port, from_file.secure_cookies) == ("0.0.0.0", 9000, True)
    assert from_file.secret_key == "from-file"
    assert (from_env.port, from_env.secure_cookies, from_env.secret_key) == (9100, False, "from-env")


def test_labels_are_korean_first_and_switch_to_english(client_for):
    client = client_for("alice")

    korean = client.get("/jobs").text
    client.get("/lang/en?next=/jobs")
    english = client.get("/jobs").text

    assert "연합학습 작업 관리" in korean and 'lang="ko"' in korean
    assert "Federated jobs" in english and 'lang="en"' in english


def test_the_sign_in_page_says_how_to_make_the_first_account(tmp_path, make_plugins, stats_store):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    storage = SqlStorage(url)
    platform = Platform(PlatformConfig(home=tmp_path, storage_url=url), storage=storage, runner=object(), plugins=make_plugins())
    try:
        page = create_app(platform, WebSettings(secret_key="k"), stats=stats_store).test_client().get("/signin").text
    finally:
        storage.close()

    assert 'id="no-accounts"' in page and "fdd users" not in page  # no CLI text in the web UI


def test_with_accounts_the_sign_in_page_has_no_setup_hint(app):
    assert 'id="no-accounts"' not in app.test_client().get("/signin").text


def sign_in_as(client, name: str, password: str):
    client.get("/signin")
    return client.post("/signin", data={"user": name, "password": password, "csrf_token": session_token(client)})


def test_sign_in_is_throttled_per_account_even_with_the_right_password(app):
    client = app.test_client()
    statuses = [sign_in_as(client, "alice", f"wrong-{i}").status_code for i in range(7)]
    right = sign_in_as(client, "alice", "alice-pw")

    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert right.status_code == 429 and 'id="signin-throttled"' in right.text and "초 후에 다시 시도하세요" in right.text
    assert client.get("/data").status_code == 302  # not signed in
    assert sign_in_as(app.test_client(), "bob", "bob-pw").status_code == 302  # another account is not locked


def test_sign_in_is_throttled_per_address_across_accounts(app):
    client = app.test_client()
    for i in range(20):
        assert sign_in_as(client, f"guess_{i}", "x").status_code == 401
    assert sign_in_as(client, "bob", "bob-pw").status_code == 429
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert sign_in_as(other, "bob", "bob-pw").status_code == 302


def test_a_cookie_replayed_after_sign_out_no_longer_works(app):
    client = app.test_client()
    assert sign_in_as(client, "alice", "alice-pw").status_code == 302
    cookie = client.get_cookie("fdd_session").value
    client.post("/signout", data={"csrf_token": session_token(client)})

    replay = app.test_client()
    replay.set_cookie("fdd_session", cookie)

    assert replay.get("/data").status_code == 302 and replay.get("/api/jobs").status_code == 401


def test_a_new_password_ends_every_other_session_and_works(app):
    laptop, phone = app.test_client(), app.test_client()
    sign_in_as(laptop, "alice", "alice-pw")
    sign_in_as(phone, "alice", "alice-pw")
    page = laptop.get("/account/password")

    wrong = laptop.post("/account/password", data={"csrf_token": session_token(laptop), "current": "nope", "new": "n" * 10,
                                                   "repeat": "n" * 10})  # fmt: skip
    short = laptop.post("/account/password", data={"csrf_token": session_token(laptop), "current": "alice-pw", "new": "s",
                                                   "repeat": "s"})  # fmt: skip
    changed = laptop.post("/account/password", data={"csrf_token": session_token(laptop), "current": "alice-pw",
                                                     "new": "new-password-1", "repeat": "new-password-1"})  # fmt: skip

    assert page.status_code == 200 and 'id="password-form"' in page.text
    assert wrong.status_code == 400 and "현재 비밀번호가 올바르지 않습니다" in wrong.text
    assert short.status_code == 400 and "8자 이상" in short.text
    assert changed.status_code == 302 and laptop.get("/data").status_code == 200  # this browser stays signed in
    assert phone.get("/data").status_code == 302  # the other session ended
    assert sign_in_as(app.test_client(), "alice", "alice-pw").status_code == 401
    assert sign_in_as(app.test_client(), "alice", "new-password-1").status_code == 302


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(app):
    client = app.test_client()
    client.get("/signin", base_url="https://localhost")
    token = session_token(client)

    response = client.post("/signin", base_url="https://localhost",
                           data={"user": "alice", "password": "alice-pw", "csrf_token": token})  # fmt: skip
    plain = app.test_client().get("/signin")

    assert "; Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in plain.headers


def test_waitress_serves_the_ui(platform, stats_store):
    import urllib.request

    from nvflare_fdd.web.server import start_server

    server = start_server(platform, settings=WebSettings(secret_key="k", tick_interval=60), stats=stats_store)
    try:
        with urllib.request.urlopen(f"{server.url}/signin") as response:
            assert response.status == 200 and response.headers["Server"] == "fdd"
    finally:
        server.close()
