"""The web console in a real browser: Debian's headless Chromium driven by Selenium through
Debian's chromedriver, against a live ``rdplic serve --web``.

One browser session and one server for the module (the machine is shared): the tables
show what the CLI's JSON says, a client licensed by ``rdplic client`` while the page is open
appears without a reload, installing a pack, changing a configuration key, revoking and
transferring a CAL from the page change the store, a refused action shows its one-line
error, and a page of another origin cannot act.  Screenshots of the main views are kept in
test-artefacts/web/.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web_helpers import ARTEFACTS, WebServer, license_client, rdplic, rdplic_client, rdplic_json

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20.0


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = f"not installed: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    state = tmp_path_factory.mktemp("web-browser") / "state"
    rdplic(state, "keypack", "add", "--type", "per-device", "--count", "2")
    server = WebServer(state)
    license_client(server.port, "BROWSER1", user="alice")
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, no background network, Debian's driver."""
    _require_browser()
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    arguments = [
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={profile}",
        "--window-size=1400,1700",
    ]
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    for argument in arguments:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _wait(driver: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, what)


def _rows(driver: Any) -> list[tuple[int, str, str]]:
    """The license table's (id, status, client) rows, read in one go (the page re-renders)."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#licenses tbody tr')].map(r =>"
        " [...r.cells].slice(0, 3).map(c => c.textContent));"
    )
    return [(int(i), status, client) for i, status, client in rows]


def _text(driver: Any, selector: str) -> str:
    """An element's text, read in one go (the page re-renders)."""
    return str(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            selector,
        )
    )


def _confirm(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    _wait(driver, lambda d: d.find_element(By.ID, "confirm").is_displayed(), "the confirmation")
    driver.find_element(By.ID, "confirm-yes").click()


def _message(driver: Any, part: str) -> str:
    _wait(driver, lambda d: part in _text(d, "#message"), f"message {part!r}")
    return _text(driver, "#message")


def test_tables_show_what_the_cli_says(served: WebServer, browser: Any) -> None:
    """The tables say what the CLI's --json says; filtering works."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(served.base + "/")
    _wait(
        browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"), "load"
    )
    cli = rdplic_json(served.state_dir, "license", "list")
    assert _rows(browser) == [(x["license_id"], x["status"], x["client_name"]) for x in cli]
    pack = _text(browser, '#keypacks [data-key-pack-id="1"] .numbers')
    packs = {p["key_pack_id"]: p for p in rdplic_json(served.state_dir, "keypack", "list")}
    assert pack.startswith(f"0 / {packs[1]['total']} issued")
    Select(browser.find_element(By.ID, "filter-status")).select_by_visible_text("active")
    assert _rows(browser) == []
    Select(browser.find_element(By.ID, "filter-status")).select_by_visible_text("all")
    _wait(browser, lambda d: _text(d, "#live") == "live", "the live feed")
    browser.save_screenshot(str(ARTEFACTS / "overview.png"))


def test_client_licensed_while_open_appears_without_reload(
    served: WebServer, browser: Any, tmp_path: Path
) -> None:
    """`rdplic client` licensed while the page is open appears live, without reload; sorting."""
    from selenium.webdriver.common.by import By

    browser.execute_script("window.stillHere = 42;")
    done = rdplic_client(served.port, "BROWSER2", tmp_path / "machine", user="bob")
    assert done["outcome"] == "new_license"
    _wait(browser, lambda d: any(r[2] == "BROWSER2" for r in _rows(d)), "the new license row")
    _wait(browser, lambda d: "BROWSER2" in _text(d, "#conn-recent"), "the recent connection")
    assert browser.execute_script("return window.stillHere;") == 42
    recent = _text(browser, "#conn-recent tbody tr")
    assert "new_license" in recent
    header = '#licenses th[data-sort="license_id"]'
    browser.find_element(By.CSS_SELECTOR, header).click()  # sorted by id already: now descending
    ids = [r[0] for r in _rows(browser)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    browser.find_element(By.CSS_SELECTOR, '#licenses th[data-sort="client_name"]').click()
    assert [r[2] for r in _rows(browser)] == ["BROWSER1", "BROWSER2"]


def test_actions_from_the_page_change_the_store(served: WebServer, browser: Any) -> None:
    """Confirmed page actions change the store; a refused one shows the CLI's one-line error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    count = browser.find_element(By.ID, "kp-count")
    count.clear()
    count.send_keys("7")
    browser.find_element(By.ID, "kp-install").click()
    _confirm(browser)
    _message(browser, "installed key pack")
    assert 7 in [p["total"] for p in rdplic_json(served.state_dir, "keypack", "list")]

    Select(browser.find_element(By.ID, "config-key")).select_by_value("first_license")
    browser.find_element(By.ID, "config-value").send_keys("permanent")
    browser.find_element(By.CSS_SELECTOR, "#form-config button").click()
    _confirm(browser)
    _message(browser, "first_license = permanent")
    assert "permanent" in rdplic(served.state_dir, "config", "show").stdout

    license_client(served.port, "BROWSER3", user="carol")
    _wait(browser, lambda d: any(r[2] == "BROWSER3" and r[1] == "active" for r in _rows(d)), "CAL")
    (lic,) = [
        x
        for x in rdplic_json(served.state_dir, "license", "list")
        if x["client_name"] == "BROWSER3"
    ]
    row = f'#licenses tr[data-license-id="{lic["license_id"]}"] button.revoke'
    browser.find_element(By.CSS_SELECTOR, row).click()
    _confirm(browser)
    _message(browser, f"license {lic['license_id']} revoked")
    (after,) = [
        x
        for x in rdplic_json(served.state_dir, "license", "list")
        if x["client_name"] == "BROWSER3"
    ]
    assert after["status"] == "revoked"

    license_client(served.port, "BROWSER4", user="dave")
    _wait(browser, lambda d: any(r[2] == "BROWSER4" and r[1] == "active" for r in _rows(d)), "CAL")
    (moved,) = [
        x
        for x in rdplic_json(served.state_dir, "license", "list")
        if x["client_name"] == "BROWSER4"
    ]
    button = f'#licenses tr[data-license-id="{moved["license_id"]}"] button.transfer'
    browser.find_element(By.CSS_SELECTOR, button).click()
    prompt = _wait(browser, lambda d: d.switch_to.alert, "the transfer's target prompt")
    prompt.send_keys("NEWPC")
    prompt.accept()
    _confirm(browser)
    _message(browser, f"license {moved['license_id']} transferred")
    (after,) = [
        x
        for x in rdplic_json(served.state_dir, "license", "list")
        if x["client_name"] == "BROWSER4"
    ]
    assert after["status"] == "revoked" and after["transferred"] is True

    advance = browser.find_element(By.ID, "clock-advance")
    advance.send_keys("soon")
    browser.find_element(By.CSS_SELECTOR, "#form-clock button[type=submit]").click()
    _confirm(browser)
    text = _message(browser, "is not like 91d")
    cli = rdplic(served.state_dir, "clock", "advance", "soon", check=False)
    assert cli.returncode == 2 and cli.stderr.strip() == f"rdplic: error: {text}"
    assert browser.find_element(By.ID, "message").get_attribute("class") == "error"


def test_client_timeline_and_diagnosis(served: WebServer, browser: Any) -> None:
    """Clicking a client shows its history with the rule of each step and its diagnosis."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "filter-client").send_keys("BROWSER3")
    browser.find_element(By.CSS_SELECTOR, "#licenses a.client").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline li"), "the timeline")
    timeline = _text(browser, "#timeline")
    assert (
        "issued" in timeline and "R31" in timeline and "revoked" in timeline and "R51" in timeline
    )
    assert "Next connection" in _text(browser, "#explain-out")
    browser.save_screenshot(str(ARTEFACTS / "client.png"))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_page_of_another_origin_cannot_act(
    served: WebServer, browser: Any, tmp_path: Path
) -> None:
    """A page of another origin cannot install a key pack (CORS, Origin and CSRF checks)."""
    before = rdplic_json(served.state_dir, "keypack", "list")
    target = served.base + "/api/key-packs"
    (tmp_path / "evil.html").write_text(
        "<!DOCTYPE html><title>evil</title><script>\n"
        "const results = [];\n"
        f"fetch('{target}', {{method: 'POST', headers: {{'Content-Type': 'application/json',"
        " 'X-CSRF-Token': 'guess'}, body: JSON.stringify({cal_type: 'per-device', count: 9})})"
        ".then(r => results.push('json:' + r.status), e => results.push('json:blocked'))\n"
        f".then(() => fetch('{target}', {{method: 'POST', mode: 'no-cors', headers:"
        " {'Content-Type': 'text/plain'}, body: '{\"cal_type\": \"per-device\", \"count\": 9}'}))"
        ".then(r => results.push('simple:' + r.type), e => results.push('simple:blocked'))"
        ".then(() => { document.title = 'done ' + results.join(' '); });\n"
        "</script>"
    )
    handler = partial(_Quiet, directory=str(tmp_path))
    other = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get(f"http://127.0.0.1:{other.server_address[1]}/evil.html")
        _wait(browser, lambda d: d.title.startswith("done"), "the other page's attempts")
        assert "json:blocked" in browser.title
    finally:
        other.shutdown()
        other.server_close()
    assert rdplic_json(served.state_dir, "keypack", "list") == before


def test_screenshot_for_the_readme_is_current() -> None:
    """The README shows a PNG screenshot of the page (docs/images/web-console.png)."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    image = readme.parent / "docs" / "images" / "web-console.png"
    assert "docs/images/web-console.png" in readme.read_text()
    assert image.stat().st_size > 10_000
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
