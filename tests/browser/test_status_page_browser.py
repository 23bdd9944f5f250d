"""The status page in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, installed
by ``scripts/ensure-system-deps.sh``), served by the dev host's HTTP server exactly as the routes run
in Azure, on a twin region with one delivered and one failed statement and a stored reconciliation.

The browser loads the page, finds both regions, the active one and its lease, the live FAILED and
in-doubt lists (read from the idempotency records, not from the reconciliation), follows the failed
statement's link to its trace, and checks that the page loaded nothing from anywhere else. A
full-page screenshot goes to ``out/browser/status-page.png``; ``docs/status-page.png`` is a copy of one
(``cp out/browser/status-page.png docs/`` after ``make test-browser`` or this file's pytest run).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.functions.timer import TimerRequest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from dev.http import serve_routes
from shared.model import delivery_key_for
from tests.ops.region import GOOD, UNBALANCED, USER_FUNCTIONS, call, flow, install, request, uninstall
from tests.twins import InMemoryIdempotencyStore

ROOT = Path(__file__).parents[2]
BAD_ID, GOOD_ID, CLAIMED_ID = "b2" * 24, "a1" * 24, "c3" * 24
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
    store = components.ports.store
    assert isinstance(store, InMemoryIdempotencyStore)
    claimed = store.claim(
        message_id=CLAIMED_ID,
        session_id="CH9300762011623852957",
        region="DC04",
        epoch=1,
        delivery_key=delivery_key_for(CLAIMED_ID),
        lease_until=datetime.now(UTC),
        wal_name=f"20261126/0000000001/000000000003-{CLAIMED_ID}",
        sequence=3,
    )
    # A runner claimed it five minutes ago and stopped before its record: in doubt now.
    ago = datetime.now(UTC) - timedelta(minutes=5)
    store._records[CLAIMED_ID] = replace(claimed, updated_at=ago, lease_until=ago + timedelta(seconds=60))
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
    assert "lease until 20" in browser.find_element(By.ID, "summary").text
    assert "QueueBuilder last run: 20" in browser.find_element(By.ID, "region-DC04").text
    failed = browser.find_elements(By.CSS_SELECTOR, "#failed + p + table a")
    in_doubt = browser.find_elements(By.CSS_SELECTOR, "#in-doubt + p + table a")
    assert [a.text for a in failed] == [BAD_ID] and [a.text for a in in_doubt] == [CLAIMED_ID]
    assert str(in_doubt[0].get_attribute("href")).endswith(f"/api/trace?message_id={CLAIMED_ID}")
    screenshot = ROOT / "out" / "browser" / "status-page.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, int(height) + 160)  # the whole page (and the window frame) in it
    browser.save_screenshot(str(screenshot))
    # Resource Timing lists every subresource the page fetched: no script, stylesheet, font or image.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert browser.execute_script("return document.scripts.length") == 0

    browser.find_element(By.LINK_TEXT, BAD_ID).click()
    trace = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert trace["state"] == "FAILED" and trace["steps"][-1]["reason"] == "unbalanced"
