"""The web UI in a real browser (headless Chromium from Debian's packages, driven by Selenium),
over the real platform: SQLite storage, the NVFlare simulator runner and the demo institutions.

Run ``scripts/install-browser.sh`` first (as root); without Chromium, chromedriver or selenium
the test is skipped, unless ``$FDD_REQUIRE_BROWSER`` is set (CI), where it fails.
Screenshots of every page go to ``$FDD_TEST_ARTIFACTS/screenshots`` (default
``test-artifacts/screenshots`` in the repository).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from nvflare_fdd.demo import EXAMPLE_BUNDLE, demo_sites
from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.records import JobState
from nvflare_fdd.platform.service import Platform
from nvflare_fdd.platform.storage import SqlStorage
from nvflare_fdd.stats.compute import site_statistics
from nvflare_fdd.stats.store import JsonStatsStore
from nvflare_fdd.web.server import start_server
from nvflare_fdd.web.settings import WebSettings

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRE_ENV = "FDD_REQUIRE_BROWSER"
ARTIFACTS_ENV = "FDD_TEST_ARTIFACTS"
REPOSITORY = Path(__file__).resolve().parents[2]
JOB_TIMEOUT = 300
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1400,1000")  # fmt: skip


def browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: run scripts/install-browser.sh"
    return None


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV) or REPOSITORY / "test-artifacts") / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory, make_plugins):
    """The embedded platform (demo institutions, simulator runner, SQLite) served on a free port."""
    missing = browser_missing()
    if missing:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"${REQUIRE_ENV} is set but {missing}")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FDD_HOME", str(root / "home"))
        patch.setenv("FDD_STATS_DIR", str(root / "stats"))
        patch.setenv("FDD_ENV_CACHE", str(root / "env-cache"))
        url = f"sqlite:///{root / 'platform.db'}"
        storage = SqlStorage(url)
        platform = Platform(PlatformConfig(home=root / "home", storage_url=url), storage=storage, plugins=make_plugins())
        for name, password in PASSWORDS.items():
            storage.create_user(name, generate_password_hash(password))
        platform.sites()  # prepares the demo institutions, as `fdd ui` does on first start
        stats = JsonStatsStore(root / "stats")
        for site in demo_sites(root / "home" / "demo"):  # what `fdd data refresh` leaves at the platform
            stats.save(site_statistics(site.url, site.name))
        server = start_server(platform, settings=WebSettings(secret_key="browser-test"), stats=stats)
        yield server.url, platform, root
        server.close()
        for job in platform.storage.list_jobs(states=[JobState.RUNNING]):
            platform.stop_job(platform.user("alice"), job.name)
        storage.close()


@pytest.fixture(scope="module")
def browser(served, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    prefs = {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


# -- helpers ------------------------------------------------------------------------------------


def wait(driver, condition, timeout: float = 20, message: str = ""):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # the progress page redraws its steps on every poll: an element found may be replaced at once
    waiting = WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    return waiting.until(condition, message)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def sign_in(driver, base: str, name: str) -> None:
    driver.get(f"{base}/signin")
    css(driver, "#user").send_keys(name)
    css(driver, "#password").send_keys(PASSWORDS[name])
    css(driver, "#signin-submit").click()
    wait(driver, lambda d: d.find_elements("css selector", "#who"), message="sign-in did not finish")


def sign_out(driver) -> None:
    css(driver, "#signout").click()
    wait(driver, lambda d: "/signin" in d.current_url)


def confirm(driver) -> None:
    wait(driver, lambda d: css(d, "#confirm-dialog").get_attribute("open") is not None, message="no confirmation dialog")
    css(driver, "#confirm-ok").click()


def drop_files(driver, files: dict[str, str]) -> None:
    """Drop files on the upload area the way a browser does (a ``drop`` event with a DataTransfer)."""
    driver.execute_script(
        """
        const transfer = new DataTransfer();
        for (const [name, text] of Object.entries(arguments[0])) transfer.items.add(new File([text], name));
        const zone = document.getElementById("dropzone");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        """,
        files,
    )


def job_state(platform, name: str) -> JobState:
    return platform.storage.get_job(name).state


def visible_series(driver) -> set[tuple[str, str, str]]:
    """(metric, site, kind) of every line drawn."""
    return {
        (chart.get_attribute("data-metric"), series.get_attribute("data-site"), series.get_attribute("data-kind"))
        for chart in all_css(driver, "figure.chart")
        for series in chart.find_elements("css selector", "g.series")
    }


def wait_for_download(folder: Path, suffix: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} download in {folder}: {sorted(p.name for p in folder.iterdir())}")


# -- the walk through the guide's pages ---------------------------------------------------------


def test_a_user_trains_a_model_through_the_web_ui(served, browser, shots):
    base, platform, _ = served
    driver = browser

    # sign in
    driver.get(base)
    assert "/signin" in driver.current_url
    driver.save_screenshot(str(shots / "01-signin.png"))
    sign_in(driver, base, "alice")

    # data information: institution, test and level selectors over the sites' summaries
    driver.get(f"{base}/data?institution=pharma_a&level=4")
    rows = all_css(driver, "#stats-table tbody tr")
    assert {row.get_attribute("data-level") for row in rows} == {"test", "test_type", "measurement_type", "test_subject"}
    assert all_css(driver, "#stats-table .tag.admet")
    driver.save_screenshot(str(shots / "02-data-information.png"))

    # AI models: a drop with a file missing shows the problem by that file; then the real bundle
    driver.get(f"{base}/models")
    css(driver, "#new-model").click()
    css(driver, "#class-name").send_keys("SolubilityMLP")
    css(driver, "#version").send_keys("1.0")
    css(driver, "#description").send_keys("Morgan fingerprints → MLP, logS")
    drop_files(driver, {name: (EXAMPLE_BUNDLE / name).read_text() for name in ("model.py", "train_eval.py", "requirements.txt")})
    wait(driver, lambda d: len(all_css(d, "#file-list > li")) == 3, message="dropped files are not listed")
    css(driver, "#model-submit").click()
    problem = wait(driver, lambda d: all_css(d, '#file-list li.bad[data-file="data.py"] .problem'), message="no data.py problem")
    assert "data.py" in problem[0].text
    driver.save_screenshot(str(shots / "03-model-register-problems.png"))
    paths = [str(p) for p in sorted(EXAMPLE_BUNDLE.iterdir()) if p.is_file()]
    css(driver, "#file-input").send_keys("\n".join(paths))
    wait(driver, lambda d: not all_css(d, "#file-list li.bad"), message="problems stayed after adding the files")
    css(driver, "#model-submit").click()
    wait(driver, lambda d: all_css(d, 'tr[data-model="SolubilityMLP:1.0"]'), message="the model is not listed")
    css(driver, 'tr[data-model="SolubilityMLP:1.0"] .edit-model').click()
    assert css(driver, "#class-name").get_attribute("readonly") is not None
    description = css(driver, "#description")
    description.clear()
    description.send_keys("Morgan fingerprints → MLP, aqueous solubility (logS)")
    css(driver, "#model-submit").click()
    wait(driver, lambda d: "aqueous" in css(d, 'tr[data-model="SolubilityMLP:1.0"] .description').text, message="edit not saved")
    driver.save_screenshot(str(shots / "04-models.png"))

    # jobs: name rules as you type, model picker, site checkboxes, a saved site group
    driver.get(f"{base}/jobs")
    css(driver, "#new-job").click()
    css(driver, "#job-name").send_keys("demo job")
    assert "bad" in css(driver, "#name-rule").get_attribute("class")
    css(driver, "#job-description").send_keys("two institutions, two rounds")
    from selenium.webdriver.support.ui import Select

    Select(css(driver, "#job-model")).select_by_value("SolubilityMLP:1.0")
    rounds = css(driver, "#job-rounds")
    rounds.clear()
    rounds.send_keys("2")
    css(driver, '#site-buttons input[value="pharma_c"]').click()
    css(driver, "#group-name").send_keys("a_and_b")
    css(driver, "#group-save").click()
    wait(driver, lambda d: "a_and_b" in css(d, "#group-select").text, message="the site group was not saved")
    driver.save_screenshot(str(shots / "05-job-create-name-rule.png"))
    name = css(driver, "#job-name")
    name.clear()
    name.send_keys("demo_job")
    assert "ok" in css(driver, "#name-rule").get_attribute("class")
    css(driver, "#job-submit").click()
    wait(driver, lambda d: all_css(d, 'tr[data-job="demo_job"][data-state="ready"]'), message="the job is not listed")
    assert platform.storage.get_job("demo_job").sites == ("pharma_a", "pharma_b")
    driver.save_screenshot(str(shots / "06-jobs.png"))

    # start with the confirmation dialog
    css(driver, 'tr[data-job="demo_job"] .start-job').click()
    driver.save_screenshot(str(shots / "07-job-start-confirm.png"))
    confirm(driver)
    wait(driver, lambda d: all_css(d, 'tr[data-job="demo_job"]:not([data-state="ready"])'), message="the job did not start")

    # a second job, from the saved group, waits in the queue behind the first
    css(driver, "#new-job").click()
    css(driver, "#job-name").send_keys("queued_job")
    Select(css(driver, "#job-model")).select_by_value("SolubilityMLP:1.0")
    Select(css(driver, "#group-select")).select_by_value("a_and_b")
    css(driver, "#job-submit").click()
    wait(driver, lambda d: all_css(d, 'tr[data-job="queued_job"] .start-job'))
    css(driver, 'tr[data-job="queued_job"] .start-job').click()
    confirm(driver)
    wait(driver, lambda d: all_css(d, 'tr[data-job="queued_job"][data-state="queued"]'), message="the second job is not queued")

    # someone else sees the queued job but has no stop button, and a forged stop is refused
    sign_out(driver)
    sign_in(driver, base, "bob")
    driver.get(f"{base}/jobs/queued_job")
    assert not all_css(driver, "#stop-job")
    status = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const token = document.querySelector('meta[name="csrf-token"]').content;
        const body = new FormData();
        body.append("csrf_token", token);
        fetch("/jobs/queued_job/stop", {method: "POST", body, credentials: "same-origin"}).then((r) => done(r.status));
        """
    )
    assert status == 403
    assert job_state(platform, "queued_job") == JobState.QUEUED
    driver.save_screenshot(str(shots / "08-job-seen-by-another-user.png"))
    driver.get(f"{base}/jobs/demo_job")
    assert css(driver, "#job-state").text and not all_css(driver, "#stop-job")

    # its owner stops it
    sign_out(driver)
    sign_in(driver, base, "alice")
    driver.get(f"{base}/jobs/queued_job")
    css(driver, "#stop-job").click()
    confirm(driver)
    wait(driver, lambda d: job_state(platform, "queued_job") == JobState.CANCELLED, message="the job was not stopped")

    # progress updates live: the page is loaded once and never reloaded
    driver.get(f"{base}/jobs/demo_job#progress")
    driver.execute_script("window.loadedOnce = true;")
    wait(driver, lambda d: css(d, '[data-step="environment"]').get_attribute("class").endswith("done"), timeout=JOB_TIMEOUT,
         message="environment creation did not finish")  # fmt: skip
    driver.save_screenshot(str(shots / "09-job-progress-running.png"))
    wait(driver, lambda d: d.find_element("css selector", "body").get_attribute("data-job-final") == "true",
         timeout=JOB_TIMEOUT, message="the job did not end")  # fmt: skip
    assert driver.execute_script("return window.loadedOnce === true;"), "the page was reloaded"
    assert job_state(platform, "demo_job") == JobState.COMPLETED, platform.storage.get_job("demo_job").failure
    assert css(driver, '[data-step="results"]').get_attribute("class").endswith("done")
    assert len(all_css(driver, "tr[data-round]")) == 2 and not all_css(driver, "#stop-job")
    driver.save_screenshot(str(shots / "10-job-progress-completed.png"))

    # results: one chart per metric, Global and Local per site; the site toggle applies to every chart
    css(driver, "#tab-results").click()
    wait(driver, lambda d: all_css(d, "figure.chart"), message="no charts")
    drawn = visible_series(driver)
    metrics = {metric for metric, _, _ in drawn}
    assert metrics == {m.metric for m in platform.storage.metrics("demo_job")}
    assert drawn == {(m, s, k) for m in metrics for s in ("pharma_a", "pharma_b") for k in ("global", "local")}
    driver.save_screenshot(str(shots / "11-results.png"))
    css(driver, '#site-filter [data-site="pharma_b"] input').click()
    assert visible_series(driver) == {(m, "pharma_a", k) for m in metrics for k in ("global", "local")}
    first = all_css(driver, "figure.chart")[0]
    first.find_element("css selector", '.legend-item[data-series="pharma_a|local"]').click()
    first_metric = all_css(driver, "figure.chart")[0].get_attribute("data-metric")
    assert (first_metric, "pharma_a", "local") not in visible_series(driver)
    assert len(visible_series(driver)) == 2 * len(metrics) - 1  # the legend toggle is this chart's own
    driver.save_screenshot(str(shots / "12-results-site-toggled.png"))

    # downloads: the metrics CSV and the global model
    css(driver, "#download-csv").click()
    table = wait_for_download(driver.downloads, "_metrics.csv")
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(platform.storage.metrics("demo_job")) and {r["kind"] for r in rows} == {"global", "local"}
    css(driver, "#download-pt").click()
    assert wait_for_download(driver.downloads, "_global_model.pt").stat().st_size > 0

    # the jobs list afterwards, in English
    driver.get(f"{base}/jobs")
    css(driver, "#lang-switch").click()
    wait(driver, lambda d: "Federated jobs" in css(d, "h1").text, message="the labels did not switch to English")
    assert all_css(driver, 'tr[data-job="demo_job"][data-state="completed"]')
    assert all_css(driver, 'tr[data-job="queued_job"][data-state="cancelled"]')
    driver.save_screenshot(str(shots / "13-jobs-english.png"))

    # a model is deleted for good, after a confirmation
    driver.get(f"{base}/models")
    css(driver, 'tr[data-model="SolubilityMLP:1.0"] .delete-model').click()
    confirm(driver)
    wait(driver, lambda d: all_css(d, "#models-empty"), message="the model was not deleted")
    assert platform.storage.list_models() == []
    (shots / "index.json").write_text(json.dumps(sorted(p.name for p in shots.glob("*.png")), indent=1))
