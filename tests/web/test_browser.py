"""The web UI in a real browser (headless Chromium from Debian's packages, driven by Selenium),
over the real platform: SQLite storage, the NVFlare simulator runner and the demo institutions.

Run ``scripts/install-browser.sh`` first (as root); without Chromium, chromedriver or selenium
the test is skipped, unless ``$FDD_REQUIRE_BROWSER`` is set (CI), where it fails.
Screenshots of every page, and ``timings.json`` (page load times, the lag of live state behind
the run), go to ``$FDD_TEST_ARTIFACTS/screenshots``, by default a temporary folder (its path is printed).

The walk goes through every page in Korean and in English at 1366 px and at 390 px (and 800 px),
and fails on English text in the Korean UI outside user data, on anything off-screen and on any
page error (``browser_checks``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from browser_checks import check_page, load_time  # tests/web is on the path
from browser_results import check_baseline_lines, check_payoff
from werkzeug.security import generate_password_hash

from nvflare_fdd.demo import EXAMPLE_BUNDLE, demo_sites
from nvflare_fdd.platform.config import PlatformConfig
from nvflare_fdd.platform.records import JobState, NewJob
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
JOB_TIMEOUT = 300
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "root": "root-pw-1"}
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1366,900", "--lang=ko")  # fmt: skip


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
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path_factory.mktemp("fdd-browser")) / "screenshots"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"\nscreenshots and timings: {folder}")
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
            storage.create_user(name, generate_password_hash(password), is_admin=name == "root")
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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


# -- helpers ------------------------------------------------------------------------------------


def replaced(element):
    """Selenium's ``staleness_of``, also when Chrome, under load, reports the element's node as gone from the
    document with an inspector error instead of a stale reference."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def check(driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False

    return check


def wait(driver, condition, timeout: float = 20, message: str = ""):
    # the progress page redraws its steps on every poll: an element found may be replaced at once
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    waiting = WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    try:
        return waiting.until(condition)
    except TimeoutException:
        raise AssertionError(message() if callable(message) else message) from None


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
    driver.get(f"{base}/lang/{LANGUAGE}?next=/data")


LANGUAGE = "ko"


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

WIDE, NARROW, MIDDLE = (1366, 900), (390, 844), (800, 900)


class Walk:
    """The browser, the checks every page gets, and what the run measured."""

    def __init__(self, driver, base: str, shots: Path, user_data: set[str]):
        self.driver, self.base, self.shots, self.user_data = driver, base, shots, user_data
        self.loads: dict[str, list[float]] = {}
        self.count = 0

    def size(self, size: tuple[int, int]) -> None:
        self.driver.set_window_size(*size)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 500})

    def open(self, path: str, name: str) -> None:
        self.driver.get(f"{self.base}{path}")
        self.loads.setdefault(name, []).append(load_time(self.driver))

    def check(self, where: str, korean: bool = True) -> None:
        self.count += 1
        width = self.driver.execute_script("return innerWidth")
        self.driver.save_screenshot(str(self.shots / f"{self.count:02d}-{where}-{width}px-{'ko' if korean else 'en'}.png"))
        check_page(self.driver, where, korean, self.user_data)


def set_value(driver, selector: str, text: str) -> None:
    field = css(driver, selector)
    field.clear()
    field.send_keys(text)


def inline_error(driver, near: str) -> str:
    return wait(driver, lambda d: next((n.text for n in all_css(d, f"{near} + .inline-note.error") if n.text), None),
                message=f"no inline refusal beside {near}")  # fmt: skip


def test_a_user_trains_a_model_through_the_web_ui(served, browser, shots, tmp_path):
    from selenium.webdriver.support.ui import Select

    base, platform, root = served
    driver = browser
    sites = platform.sites()
    data_names: set[str] = set()  # the sites' own test names and units: their data, not the UI's words

    def collect(nodes):
        for node in nodes:
            data_names.update([node["name"], *node.get("units", [])])
            collect(node.get("children", []))

    for summary in JsonStatsStore(root / "stats").latest().values():
        collect(summary["tests"])
    user_data = {*sites, *PASSWORDS, "SolubilityMLP", "SolubilityMLP:1.0", "demo_job", "queued_job", "q_two", "q_three",
                 "failed_job", "a_and_b", "bad_bundle", "utils/", "pharma", "nope", "지문 → MLP, 용해도", *data_names}  # fmt: skip
    walk = Walk(driver, base, shots, user_data)
    walk.size(WIDE)

    # sign in: the brand once, Korean, throttled after repeated failures
    walk.open("/", "signin")
    assert "/signin" in driver.current_url and css(driver, ".brand").text == "FDD 연합학습 플랫폼"
    walk.check("signin")
    for password in [f"wrong-{attempt}" for attempt in range(5)] + [PASSWORDS["bob"]]:
        set_value(driver, "#user", "bob")
        set_value(driver, "#password", password)
        page = css(driver, "#user")
        css(driver, "#signin-submit").click()
        wait(driver, replaced(page), message="the sign-in page did not answer")
    assert "초 후에 다시 시도하세요" in css(driver, "#signin-throttled").text  # the right password waits too
    walk.check("signin-throttled")
    sign_in(driver, base, "alice")

    # data information
    walk.open("/data?institution=pharma_a&level=4", "data")
    rows = all_css(driver, "#stats-table tbody tr")
    assert {row.get_attribute("data-level") for row in rows} == {"test", "test_type", "measurement_type", "test_subject"}
    walk.check("data")

    # AI models: problems in Korean by file; a folder with a sub-folder is refused with the guide's reason
    walk.open("/models", "models")
    css(driver, "#new-model").click()
    set_value(driver, "#class-name", "SolubilityMLP")
    set_value(driver, "#version", "1.0")
    set_value(driver, "#description", "지문 → MLP, 용해도")
    drop_files(driver, {name: (EXAMPLE_BUNDLE / name).read_text() for name in ("model.py", "train_eval.py", "requirements.txt")})
    wait(driver, lambda d: len(all_css(d, "#file-list > li")) == 3, message="dropped files are not listed")
    css(driver, "#model-submit").click()
    problem = wait(driver, lambda d: all_css(d, '#file-list li.bad[data-file="data.py"] .problem'), message="no data.py problem")
    assert "필수 파일이 없습니다" in problem[0].text
    remove = css(driver, "#file-list .remove")
    assert remove.size["height"] >= 24 and remove.value_of_css_property("color") != "rgba(0, 0, 0, 0)"
    walk.check("model-problems")
    while all_css(driver, "#file-list .remove"):  # each click redraws the list
        all_css(driver, "#file-list .remove")[0].click()
    folder = tmp_path / "bad_bundle"
    (folder / "utils").mkdir(parents=True)
    for path in EXAMPLE_BUNDLE.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    (folder / "utils" / "additional_utils.py").write_text("def helper():\n    return 1\n")
    css(driver, "#folder-input").send_keys(str(folder))
    wait(driver, lambda d: all_css(d, '#file-list li[data-file="bad_bundle/utils/additional_utils.py"]'), message="paths lost")
    css(driver, "#model-submit").click()
    subfolder = wait(driver, lambda d: next((n.text for n in all_css(d, "#file-list li.bad") if "하위 폴더" in n.text), None),
                     message="the sub-folder was not refused")  # fmt: skip
    assert "from utils.additional_utils import" in subfolder and platform.storage.list_models() == []
    walk.check("model-subfolder")
    while all_css(driver, "#file-list .remove"):  # each click redraws the list
        all_css(driver, "#file-list .remove")[0].click()
    css(driver, "#file-input").send_keys("\n".join(str(p) for p in sorted(EXAMPLE_BUNDLE.iterdir()) if p.is_file()))
    wait(driver, lambda d: not all_css(d, "#file-list li.bad"), message="problems stayed after adding the files")
    css(driver, "#model-submit").click()
    wait(driver, lambda d: all_css(d, 'tr[data-model="SolubilityMLP:1.0"]'), message="the model is not listed")
    css(driver, "#new-model").click()  # the same name in other letter case: refused in Korean
    set_value(driver, "#class-name", "SolubilityMLP")
    set_value(driver, "#version", "1.0")
    css(driver, "#file-input").send_keys("\n".join(str(p) for p in sorted(EXAMPLE_BUNDLE.iterdir()) if p.is_file()))
    css(driver, "#model-submit").click()
    assert "이미 있습니다" in wait(driver, lambda d: css(d, "#model-error").text, message="no duplicate refusal")
    css(driver, "#model-cancel").click()
    walk.check("models")

    # jobs: limits, rules as you type, site groups, refusals in Korean
    walk.open("/jobs", "jobs")
    css(driver, "#new-job").click()
    css(driver, "#job-name").send_keys("n" * 120)
    assert len(css(driver, "#job-name").get_attribute("value")) == 64  # the field stops at the limit
    set_value(driver, "#job-name", "demo job")
    assert "bad" in css(driver, "#name-rule").get_attribute("class")
    css(driver, "#group-save").click()  # no group name
    assert "선택그룹 이름을 입력하세요" in wait(driver, lambda d: css(d, "#group-error").text, message="no group error")
    set_value(driver, "#job-description", "두 기관, 두 Round")
    Select(css(driver, "#job-model")).select_by_value("SolubilityMLP:1.0")
    set_value(driver, "#job-rounds", "2")
    assert not css(driver, "#job-local-baseline").is_selected()  # off unless asked for
    css(driver, "#job-local-baseline").click()  # each site also trains alone: what federating gives it
    css(driver, '#site-buttons input[value="pharma_c"]').click()
    css(driver, "#group-name").send_keys("a_and_b")
    css(driver, "#group-save").click()
    wait(driver, lambda d: "a_and_b" in css(d, "#group-select").text, message="the site group was not saved")
    set_value(driver, "#job-name", "demo_job")
    for box in all_css(driver, "#site-buttons input:checked"):
        box.click()
    css(driver, "#job-submit").click()
    no_sites = wait(driver, lambda d: css(d, "#job-error").text, message="no refusal without sites")
    assert "기관을 하나 이상 선택하세요" in no_sites and "--" not in no_sites
    walk.check("job-create")
    Select(css(driver, "#group-select")).select_by_value("")
    Select(css(driver, "#group-select")).select_by_value("a_and_b")  # the saved group ticks its sites again
    css(driver, "#job-submit").click()
    wait(driver, lambda d: all_css(d, 'tr[data-job="demo_job"][data-state="ready"]'), message="the job is not listed")
    assert platform.storage.get_job("demo_job").sites == ("pharma_a", "pharma_b")
    assert platform.storage.get_job("demo_job").local_baseline is True
    walk.check("jobs")

    # the list follows the run without a reload (measured: the lag behind the platform's records)
    driver.execute_script("window.loadedOnce = true;")
    css(driver, 'tr[data-job="demo_job"] .start-job').click()
    confirm(driver)
    lag = {}
    deadline = time.monotonic() + JOB_TIMEOUT
    seen_db: dict[str, float] = {}
    while time.monotonic() < deadline and "completed" not in lag:
        state = job_state(platform, "demo_job").value
        seen_db.setdefault(state, time.monotonic())
        recorded = platform.storage.progress("demo_job")
        for site, phases in recorded.setup.items():
            if any(p["code"] == 3000 for p in phases):
                seen_db.setdefault(f"setup {site}", time.monotonic())
        for site in (recorded.rounds[1].sites if 1 in recorded.rounds else {}):
            seen_db.setdefault(f"round 1 {site}", time.monotonic())
        shown = driver.execute_script("const r = document.querySelector('tr[data-job=\"demo_job\"]'); return r && r.dataset.state;")
        if shown in seen_db and shown not in lag:
            lag[shown] = time.monotonic() - seen_db[shown]
        if state in ("failed", "cancelled"):
            break
        if "running" in lag and "q_two" not in seen_db:  # meanwhile: two more wait, a third is refused where it was asked
            seen_db["q_two"] = 0
            for name in ("queued_job", "q_two", "q_three"):
                platform.create_job(platform.user("alice"), name, "SolubilityMLP:1.0", 1, ["pharma_a"])
            wait(driver, lambda d: all_css(d, 'tr[data-job="q_three"] .start-job'), message="new jobs did not appear live")
            for name in ("queued_job", "q_two", "q_three"):
                css(driver, f'tr[data-job="{name}"] .start-job').click()
                confirm(driver)
                if name != "q_three":
                    wait(driver, lambda d, n=name: all_css(d, f'tr[data-job="{n}"][data-state="queued"]'))
            refusal = inline_error(driver, 'tr[data-job="q_three"] form')
            assert "최대 2개" in refusal and "/jobs" in driver.current_url
            walk.check("jobs-refused")
            for name in ("queued_job", "q_two"):
                platform.stop_job(platform.user("alice"), name)
        time.sleep(0.05)
    assert job_state(platform, "demo_job") == JobState.COMPLETED, platform.storage.get_job("demo_job").failure
    # each site's setup reached the platform as it ended, not with its first round's result
    assert all(seen_db[f"setup {site}"] < seen_db[f"round 1 {site}"] for site in ("pharma_a", "pharma_b")), seen_db
    assert driver.execute_script("return window.loadedOnce === true;"), "the jobs list was reloaded"
    walk.lag = lag
    walk.check("jobs-completed")

    # the job page: truthful progress, history in Korean, charts with readable axes and value tables
    walk.open("/jobs/demo_job#progress", "job")
    environment = css(driver, '[data-step="environment"]')
    assert environment.get_attribute("class").endswith("done")
    progress = platform.storage.progress("demo_job")
    for site in ("pharma_a", "pharma_b"):
        setup_end = progress.setup[site][-1]["end"]
        assert setup_end < progress.rounds[1].finished  # the environment step ended before round 1 did
    walk.check("job-progress")
    css(driver, "#tab-info").click()
    history = css(driver, "#history").text
    assert "학습 시작을 요청함" in history and "모든 Round 완료" in history and "running" not in history
    assert css(driver, "#job-local-baseline").text == "예"
    walk.check("job-info")
    css(driver, "#tab-results").click()
    wait(driver, lambda d: all_css(d, "figure.chart"), message="no charts")
    metrics = {m.metric for m in platform.storage.metrics("demo_job")}
    assert {c.get_attribute("data-metric") for c in all_css(driver, "figure.chart")} == metrics
    font = driver.execute_script("return parseFloat(getComputedStyle(document.querySelector('svg.plot .axis text')).fontSize)"
                                 " * document.querySelector('svg.plot').getBoundingClientRect().width"
                                 " / document.querySelector('svg.plot').viewBox.baseVal.width")  # fmt: skip
    assert font >= 12, f"axis labels are {font:.1f} px"
    assert all(len(c.find_elements("css selector", ".values-table tbody tr")) == 2 for c in all_css(driver, "figure.chart"))
    if "rmse" in metrics:
        assert "평균 제곱근 오차" in css(driver, 'figure.chart[data-metric="rmse"] figcaption').text
    css(driver, "#robust-range").click()
    wait(driver, lambda d: all_css(d, "figure.chart"))
    walk.check("job-results")
    expected = {(m, s, k) for m in metrics for s in ("pharma_a", "pharma_b") for k in ("global", "local", "baseline")}
    wait(driver, lambda d: visible_series(d) == expected, message=lambda: f"drawn: {visible_series(driver)}")  # charts redraw
    recorded = platform.storage.metrics("demo_job")
    check_baseline_lines(driver, korean=True)
    check_payoff(driver, recorded, ["pharma_a", "pharma_b"], korean=True)
    check_payoff(driver, recorded, ["pharma_a", "pharma_b"], korean=True, metric="r2")  # higher is better: signs turn
    walk.check("job-payoff")
    css(driver, "#download-csv").click()
    with open(wait_for_download(driver.downloads, "_metrics.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(recorded) and {r["kind"] for r in rows} == {"global", "local", "baseline"}

    # a model its jobs use cannot be deleted: the refusal names them, where the user clicked
    walk.open("/models", "models")
    css(driver, 'tr[data-model="SolubilityMLP:1.0"] .delete-model').click()
    assert "demo_job" in inline_error(driver, 'tr[data-model="SolubilityMLP:1.0"] form')
    assert platform.storage.list_models()

    # a failure at the server reads as such; an unknown job is a page that says so
    platform.storage.create_job(NewJob("alice", "failed_job", ("SolubilityMLP", "1.0"), 1, ("pharma_a",)), state=JobState.RUNNING)
    failure = {"code": None, "phase": "interrupted", "site": "server", "round": None, "message": "NVFlare", "trace": ""}
    platform.storage.transition("failed_job", JobState.FAILED, "x", failure=failure, reason_code="event.runner_unreachable")
    walk.open("/jobs/failed_job#info", "job")
    summary = css(driver, "#failure-summary").text
    assert "서버" in summary and "Round —" not in summary and "server" not in summary
    walk.check("job-failed")
    walk.open("/jobs/nope", "error")
    assert "찾을 수 없습니다" in css(driver, "#error-title").text and "nope" in css(driver, "#error-message").text
    walk.check("unknown-job")

    # narrow and middle widths, Korean: every page holds
    for size in (NARROW, MIDDLE):
        walk.size(size)
        for path, name in (("/data?institution=pharma_a&level=4", "data"), ("/models", "models"), ("/jobs", "jobs"),
                           ("/jobs/demo_job#info", "job"), ("/jobs/demo_job#progress", "job"), ("/jobs/demo_job#results", "job"),
                           ("/account/password", "password")):  # fmt: skip
            walk.open(path, name)
            walk.check(f"{name}-{path.rsplit('#', 1)[-1] if '#' in path else 'page'}")
            if path.endswith("#results"):
                check_baseline_lines(driver, korean=True)
                check_payoff(driver, recorded, ["pharma_a", "pharma_b"], korean=True)
        walk.open("/jobs", "jobs")
        css(driver, "#new-job").click()
        walk.check("job-dialog")
        header = css(driver, ".topbar").size["height"]
        assert header < 160, f"the header is {header} px high"

    # English, both widths
    walk.size(WIDE)
    walk.open("/jobs", "jobs")
    css(driver, "#lang-switch").click()
    wait(driver, lambda d: "Federated jobs" in css(d, "h1").text, message="the labels did not switch to English")
    for size in (WIDE, NARROW):
        walk.size(size)
        for path, name in (("/data", "data"), ("/models", "models"), ("/jobs", "jobs"), ("/jobs/demo_job#progress", "job"),
                           ("/jobs/demo_job#results", "job")):  # fmt: skip
            walk.open(path, name)
            walk.check(f"{name}-en", korean=False)
            if path.endswith("#results"):
                check_baseline_lines(driver, korean=False)
                check_payoff(driver, recorded, ["pharma_a", "pharma_b"], korean=False)
    walk.size(WIDE)

    # deleting: the owner deletes a finished job with its results, then the model
    walk.open("/jobs", "jobs")
    for name in ("queued_job", "q_two", "q_three", "failed_job", "demo_job"):
        if job_state(platform, name) in (JobState.QUEUED, JobState.RUNNING):
            platform.stop_job(platform.user("alice"), name)
        wait(driver, lambda d, n=name: all_css(d, f'tr[data-job="{n}"] .delete-job'), message=f"no delete button for {name}")
        css(driver, f'tr[data-job="{name}"] .delete-job').click()
        confirm(driver)
        wait(driver, lambda d, n=name: not all_css(d, f'tr[data-job="{n}"]'), message=f"{name} was not deleted")
    walk.open("/models", "models")
    css(driver, 'tr[data-model="SolubilityMLP:1.0"] .delete-model').click()
    confirm(driver)
    wait(driver, lambda d: all_css(d, "#models-empty"),
         message=lambda: f"the model was not deleted: {[n.text for n in all_css(driver, '.inline-note')]}")
    assert platform.storage.list_models() == []

    # sign-out revokes the session: the same cookie replayed is signed out
    cookie = driver.get_cookie("fdd_session")
    sign_out(driver)
    driver.add_cookie({"name": cookie["name"], "value": cookie["value"], "path": "/"})
    walk.open("/jobs", "signin")
    assert "/signin" in driver.current_url

    # an admin refreshes the data information from the page
    sign_in(driver, base, "root")
    walk.open("/data", "data")
    css(driver, "#refresh-data").click()
    wait(driver, lambda d: css(d, "#refresh-status").get_attribute("data-state") == "done", timeout=JOB_TIMEOUT,
         message="the data refresh did not finish")  # fmt: skip
    walk.check("data-refreshed")

    timings = {"page_load_ms": {name: round(max(v for v in values if v is not None)) for name, values in walk.loads.items()},
               "live_lag_s": {state: round(seconds, 2) for state, seconds in walk.lag.items()}}  # fmt: skip
    (shots / "timings.json").write_text(json.dumps(timings, indent=1))
    print("\n" + json.dumps(timings))
