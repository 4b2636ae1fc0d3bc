"""Web UI fixtures: a platform with a stand-in runner, three accounts, signed-in test clients."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import BUILTIN_PLUGINS, FddPluginManager
from nvflare_fdd.stats.store import JsonStatsStore
from nvflare_fdd.web import plugin as web_plugin
from nvflare_fdd.web.app import create_app
from nvflare_fdd.web.settings import WebSettings

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw"}
SITES = ("site_a", "site_b")


def web_plugins() -> FddPluginManager:
    """A plugin manager with the web UI plugin (registered here until it is a built-in)."""
    extra = () if "nvflare_fdd.web.plugin" in BUILTIN_PLUGINS else (web_plugin,)
    return FddPluginManager(autoload=False, plugins=extra)


def add_accounts(storage: SqlStorage) -> None:
    """alice and bob (plain users) and root (an admin), with hashed passwords."""
    for name, password in PASSWORDS.items():
        storage.create_user(name, generate_password_hash(password, method="pbkdf2:sha256:1000"), is_admin=name == "root")


@pytest.fixture(scope="session")
def make_plugins():
    """``make_plugins()``: a fresh plugin manager with the web UI plugin."""
    return web_plugins


class StandInRunner:
    """Runs nothing: the tests write progress and metrics into storage as a job's server would."""

    name = "simulator"

    def __init__(self):
        self.aborted: list[str] = []

    def sites(self):
        return list(SITES)

    def submit(self, job, job_dir: Path, work_dir: Path) -> str:
        return json.dumps({"job": job.name})

    def poll(self, handle: str) -> RunStatus:
        return RunStatus("running")

    def abort(self, handle: str) -> None:
        self.aborted.append(json.loads(handle)["job"])


@pytest.fixture
def platform(tmp_path):
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    storage = SqlStorage(url)
    add_accounts(storage)
    yield Platform(PlatformConfig(home=tmp_path / "home", storage_url=url), storage=storage, runner=StandInRunner(),
                   plugins=web_plugins())  # fmt: skip
    storage.close()


@pytest.fixture
def model(platform, tiny_bundle):
    """alice's TinyRegressor:1.0."""
    return platform.register_model(platform.user("alice"), tiny_bundle, "TinyRegressor", "1.0")


@pytest.fixture
def job(platform, model):
    """alice's ready job ``alice_job``: two rounds over site_a and site_b."""
    return platform.create_job(platform.user("alice"), "alice_job", model.label, 2, ["site_a", "site_b"])


@pytest.fixture
def stats_store(tmp_path) -> JsonStatsStore:
    return JsonStatsStore(tmp_path / "stats")


@pytest.fixture
def app(platform, stats_store):
    app = create_app(platform, WebSettings(secret_key="test-secret"), stats=stats_store)
    app.config["TESTING"] = True
    return app


def csrf_of(client) -> str:
    """The CSRF token of ``client``'s session (a page view creates it)."""
    with client.session_transaction() as session:
        token = session.get("csrf_token")
    if token is None:
        client.get("/signin")
        with client.session_transaction() as session:
            token = session["csrf_token"]
    return token


def sign_in(client, name: str):
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/signin", data={"user": name, "password": PASSWORDS[name], "csrf_token": token})


@pytest.fixture
def client_for(app):
    """``client_for("alice")``: a test client signed in as that user."""

    def make(name: str):
        client = app.test_client()
        response = sign_in(client, name)
        assert response.status_code == 302, response.text
        return client

    return make


@pytest.fixture
def post():
    """``post(client, url, data)``: a POST with the session's CSRF token, as the pages' scripts send it."""

    def send(client, url: str, data: dict | None = None, **kwargs):
        headers = {"X-CSRF-Token": csrf_of(client), "Accept": "application/json"}
        return client.post(url, data=data or {}, headers=headers, **kwargs)

    return send


@pytest.fixture
def bundle_upload():
    """``bundle_upload(folder, skip=())``: a bundle folder's files as the register form sends them."""

    def files(folder: Path, skip: tuple[str, ...] = ()) -> list:
        return [(io.BytesIO(path.read_bytes()), path.name) for path in sorted(folder.iterdir())
                if path.is_file() and path.name not in skip]  # fmt: skip

    return files
