"""The pretrained-model store's upload in a real browser: a folder chosen whole (its paths kept, as
``webkitRelativePath`` gives them) and one file, then removal through the confirmation dialog."""

from __future__ import annotations

import os
import re

import pytest
from test_browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, REQUIRE_ENV, browser_missing, wait

pytestmark = pytest.mark.slow


@pytest.fixture
def driver(tmp_path):
    missing = browser_missing()
    if missing:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"${REQUIRE_ENV} is set but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    chrome = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield chrome
    chrome.quit()


@pytest.fixture
def served(platform):
    from nvflare_fdd.web.server import start_server
    from nvflare_fdd.web.settings import WebSettings

    server = start_server(platform, settings=WebSettings(secret_key="browser-test"))
    yield server.url
    server.close()


def test_a_folder_and_a_file_are_uploaded_listed_and_removed(driver, served, platform, tmp_path):
    from selenium.webdriver.common.by import By

    folder = tmp_path / "chemberta"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "model.safetensors").write_bytes(os.urandom(300_000))
    (tmp_path / "weights.pt").write_bytes(b"\x02" * 1000)

    driver.get(f"{served}/signin")
    driver.find_element(By.NAME, "user").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys("alice-pw")
    driver.find_element(By.ID, "signin-submit").click()
    wait(driver, lambda d: "/signin" not in d.current_url, message="sign-in failed")

    uploads = (("chemberta-77M", "pretrained-folder", folder), ("weights", "pretrained-file", tmp_path / "weights.pt"))
    for name, picker, path in uploads:
        driver.get(f"{served}/models")
        driver.find_element(By.ID, "new-pretrained").click()
        driver.find_element(By.ID, "pretrained-name").send_keys(name)
        driver.execute_script(f"document.getElementById('{picker}').hidden = false")
        driver.find_element(By.ID, picker).send_keys(str(path))
        driver.execute_script(f"document.getElementById('{picker}').hidden = true")
        wait(driver, lambda d: re.search(r"\d", d.find_element(By.ID, "pretrained-chosen").text), message="nothing chosen")
        driver.find_element(By.ID, "pretrained-submit").click()
        wait(driver, lambda d, name=name: d.find_elements(By.CSS_SELECTOR, f'tr[data-pretrained="{name}"]'), message=f"{name} not listed")

    model = platform.pretrained_model("chemberta-77M")
    assert sorted(f.path for f in model.files) == ["1_Pooling/config.json", "config.json", "model.safetensors"]
    assert [f.path for f in platform.pretrained_model("weights").files] == ["weights.pt"]
    size_cell = driver.find_element(By.CSS_SELECTOR, 'tr[data-pretrained="weights"] td.size').text
    assert size_cell == "1000 B"

    driver.find_element(By.CSS_SELECTOR, 'tr[data-pretrained="weights"] .delete-pretrained').click()
    driver.find_element(By.ID, "confirm-ok").click()
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, 'tr[data-pretrained="weights"]'), message="not removed")
    assert [m.name for m in platform.pretrained_models()] == ["chemberta-77M"]
