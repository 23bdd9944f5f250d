"""The status page in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed
by ``scripts/ensure-system-deps.sh``), served by the dev host's HTTP server exactly as the routes run
in Azure, on a twin region with one delivered and one failed statement and a stored reconciliation.

The browser loads the page, finds both regions, the active one, the failed statement, follows the
failed statement's link to its trace, and checks that the page loaded nothing from anywhere else. A
screenshot goes to ``out/browser/status-page.png`` (``docs/status-page.png`` is a copy of one).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.functions.timer import TimerRequest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from dev.http import serve_routes
from tests.ops.region import GOOD, UNBALANCED, USER_FUNCTIONS, call, flow, install, request, uninstall

ROOT = Path(__file__).parents[2]
BAD_ID, GOOD_ID = "b2" * 24, "a1" * 24
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)


pytestmark = pytest.mark.integration  # serves the routes on a local socket, drives Chromium


@pytest.fixture
def page_url() -> Iterator[str]:
    components, _ = install()
    flow(components, GOOD_ID, GOOD.read_bytes())
    flow(components, BAD_ID, UNBALANCED.read_bytes())
    call("ops_reconcile", request("POST", "reconcile", "operator", {}))
    call("watchdog_timer", TimerRequest(past_due=False))  # health after the QueueBuilder ran
    call(
        "ops_resend",
        request("POST", "resend", "operator", {"message_id": GOOD_ID, "reason": "receiver lost it"}),
    )
    server = serve_routes(0, "browser-test-key", USER_FUNCTIONS)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/statuspage"
    finally:
        server.shutdown()
        server.server_close()
        uninstall()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium/chromium-driver missing: run scripts/ensure-system-deps.sh"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_status_page_in_a_real_browser(page_url: str, browser: webdriver.Chrome) -> None:
    browser.get(page_url)
    assert browser.title == "Statement bridge status — DC04"
    assert browser.find_element(By.ID, "active").text == "DC04"
    assert browser.find_element(By.ID, "epoch").text == "1"
    assert "ACTIVE" in browser.find_element(By.ID, "region-DC04").text
    assert "passive" in browser.find_element(By.ID, "region-DC06").text
    names = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#counts th")]
    values = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#counts td")]
    figures = dict(zip(names, values, strict=True))
    assert figures["taken off mq"] == "2" and figures["failed"] == "1" and figures["stuck"] == "0"
    assert "none (expired or never)" in browser.find_element(By.ID, "region-DC06").text
    assert "Requests waiting for an approver (1)" in browser.find_element(By.ID, "pending").text
    screenshot = ROOT / "out" / "browser" / "status-page.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(screenshot))
    # Resource Timing lists every subresource the page fetched: no script, stylesheet, font or image.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0

    browser.find_element(By.LINK_TEXT, BAD_ID).click()
    trace = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert trace["state"] == "FAILED" and trace["steps"][-1]["reason"] == "unbalanced"
