"""One NVFlare POC deployment for the whole test session: two sites with their KDAs, the server with a platform DB.

The deployment is started once (20–40 s on two cores) and always stopped at the end of the
session; whatever of it is still running then (server, clients, job processes,
user-code processes, all found by the marker in their environment) is killed.
"""

from __future__ import annotations

import time

import pytest

from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.poc import PocDeployment, prepare_poc
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.plugin.manager import FddPluginManager

SITE_SIZES = {"site-1": 30, "site-2": 90}
START_TIMEOUT = 180  # seconds; 20 s on an idle 2-core machine, 80 s seen under load


@pytest.fixture(scope="session")
def site_sizes() -> dict[str, int]:
    """The POC sites and how many KDA rows each has."""
    return dict(SITE_SIZES)


@pytest.fixture(scope="session")
def poc_sites(tmp_path_factory, site_kdas_writer) -> dict[str, str]:
    """Two KDAs (30 and 90 solubility rows, values differing by site): site name → URL."""
    return site_kdas_writer(tmp_path_factory.mktemp("poc-kda"), SITE_SIZES)


@pytest.fixture(scope="session")
def storage_url(tmp_path_factory) -> str:
    """The platform database shared by the test's ``Platform`` and the POC server's recorder."""
    return f"sqlite:///{tmp_path_factory.mktemp('poc-platform') / 'platform.db'}"


@pytest.fixture(scope="session")
def poc(tmp_path_factory, poc_sites, storage_url) -> PocDeployment:
    """The running POC deployment (stopped, leftovers killed, at the end of the session)."""
    root = tmp_path_factory.mktemp("poc")
    deployment = prepare_poc(
        root, poc_sites, storage_url=storage_url, env_cache=tmp_path_factory.getbasetemp() / "env-cache"
    )
    started = time.monotonic()
    try:
        deployment.start(timeout=START_TIMEOUT)
        print(f"\nPOC deployment on port {deployment.port} ready in {time.monotonic() - started:.1f} s")
        yield deployment
    finally:
        deployment.stop(timeout=60)
        leftovers = deployment.kill_leftovers(grace=2)
        assert not leftovers, f"POC processes survived the shutdown: {leftovers}"


@pytest.fixture
def flare_platform(poc, storage_url, tmp_path):
    """A ``Platform`` with the ``flare`` runner on the POC deployment and the server's platform database."""
    config = PlatformConfig(
        home=tmp_path / "platform-home",
        storage_url=storage_url,
        runner="flare",
        capacity=2,  # a job a failed test left running must not hold up the next test's
        flare={"username": poc.username, "startup_kit": str(poc.admin_startup_kit), "timeout": 30},
    )
    storage = SqlStorage(storage_url)
    platform = Platform(config, storage=storage, plugins=FddPluginManager(autoload=False))
    yield platform
    platform.runner.close()
    storage.close()


@pytest.fixture
def flare_session(poc):
    """A FLARE API session as the POC's project admin."""
    session = poc.session(timeout=30)
    yield session
    session.close()
