"""Platform fixtures: a storage URL on SQLite and on PostgreSQL, a platform with a stand-in runner."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.runners import RunStatus
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager

POSTGRES_ENV = "FDD_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "FDD_REQUIRE_POSTGRES"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    """A fresh, empty platform database: a SQLite file, or a new PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'platform.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get(REQUIRE_POSTGRES_ENV):
            pytest.fail(f"${POSTGRES_ENV} is not set but ${REQUIRE_POSTGRES_ENV} is: start it with scripts/postgres.sh")
        pytest.skip(f"no PostgreSQL: run `eval \"$(scripts/postgres.sh)\"` to set ${POSTGRES_ENV}")
    from sqlalchemy import create_engine, make_url, text

    name = f"fdd_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class StandInRunner:
    """A runner double: it records submissions and aborts, and reports what the test decides.

    The real runners (simulator, FLARE API) are exercised by the end-to-end and POC tests;
    this one lets the queue and state rules be tested fast, on both databases.
    """

    name = "simulator"

    def __init__(self, sites=("site_a", "site_b")):
        self._sites = list(sites)
        self.submitted: list[str] = []
        self.aborted: list[str] = []
        self.outcomes: dict[str, RunStatus] = {}
        self.fail_submit: set[str] = set()

    def sites(self):
        return list(self._sites)

    def submit(self, job, job_dir: Path, work_dir: Path) -> str:
        if job.name in self.fail_submit:
            raise RuntimeError("the deployment refused the job")
        assert (job_dir / "app" / "custom" / "model.py").is_file()
        self.submitted.append(job.name)
        return json.dumps({"job": job.name})

    def poll(self, handle: str) -> RunStatus:
        return self.outcomes.get(json.loads(handle)["job"], RunStatus("running"))

    def abort(self, handle: str) -> None:
        self.aborted.append(json.loads(handle)["job"])


@pytest.fixture
def runner():
    return StandInRunner()


@pytest.fixture
def platform_factory(storage_url, tmp_path, runner):
    """``make(capacity=1, max_queued=2)`` → a Platform on the fresh database with the stand-in runner."""
    created = []

    def make(capacity: int = 1, max_queued: int = 2) -> Platform:
        config = PlatformConfig(home=tmp_path / "home", storage_url=storage_url, capacity=capacity, max_queued_per_user=max_queued)
        storage = SqlStorage(storage_url)
        created.append(storage)
        return Platform(config, storage=storage, runner=runner, plugins=FddPluginManager(autoload=False))

    yield make
    for storage in created:
        storage.close()


@pytest.fixture
def platform(platform_factory):
    return platform_factory()
