"""The app in a real headless Chromium against `streamlit run` on 127.0.0.1 serving the fixture workspace.

Needs Debian's chromium at /usr/bin/chromium (CI installs it) and playwright (driven with
executable_path; playwright's own browser download is not used). Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from viz_fixture import (
    CODE_MODEL,
    CODE_QUESTION,
    HTML_MODEL,
    HTML_QUESTION,
    RATING_ORDER,
    build_workspace,
)

from viz.launch import serve_app

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 45_000  # upper bound of every wait; a healthy run takes well under a second per wait
APP_IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium: apt-get install -y chromium"),
    pytest.mark.timeout(300),  # server, browser and first page share the first test; each wait is bounded below
]
if CHROMIUM.exists():
    try:
        from playwright import sync_api
        from playwright.sync_api import expect
    except ImportError as exc:  # chromium is there, so the browser test must run: say what is missing
        raise ImportError("the browser test needs playwright: pip install playwright") from exc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run viz/app.py` on a free port, serving the fixture workspace; yields the base URL."""
    ws = build_workspace(tmp_path_factory.mktemp("vizb") / "ws")
    log_path = tmp_path_factory.mktemp("vizlog") / "streamlit.log"
    with open(log_path, "w") as log, serve_app(ws, log=log, extra=["--server.fileWatcherType", "none"]) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    """Headless Debian chromium through playwright; the app is loaded once to warm it up."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page, _ = open_page(chromium, server, '[data-testid="stSidebar"]')
        page.close()
        yield chromium
        chromium.close()


def open_page(browser: object, url: str, ready: str) -> tuple[object, list[str]]:
    """A new tab on url once the app is connected, its script done and `ready` visible; returns it and its alerts."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(WAIT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url, wait_until="domcontentloaded")
    expect(page.locator(APP_IDLE)).to_have_count(1, timeout=WAIT_MS)
    crashed = page.locator('[data-testid="stException"]')
    expect(page.locator(ready).or_(crashed).first).to_be_visible(timeout=WAIT_MS)
    assert crashed.count() == 0, crashed.first.inner_text()
    expect(page.locator(APP_IDLE)).to_have_count(1, timeout=WAIT_MS)  # no rerun started by what it showed
    return page, dialogs


def shown(locator: object) -> object:
    """Wait until the locator matches a visible element; return the locator."""
    expect(locator.first).to_be_visible(timeout=WAIT_MS)
    return locator


def test_leaderboard_lists_models_in_rating_order(browser: object, server: str) -> None:
    page, _ = open_page(browser, server + "/?page=leaderboard", '[data-testid="stDataFrame"]')
    names = page.locator('[data-testid="stDataFrame"] [role="gridcell"][aria-colindex="2"]')
    expect(names).to_have_text(RATING_ORDER, timeout=WAIT_MS)
    expect(page.get_by_text("Download CSV")).to_have_count(1, timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viz-leaderboard.png"), full_page=True)
    assert (ARTIFACTS / "viz-leaderboard.png").stat().st_size > 10_000
    page.close()


def test_battle_browser_shows_html_answer_as_text(browser: object, server: str) -> None:
    url = f"{server}/?page=battles&model={HTML_MODEL}&question={HTML_QUESTION}"
    page, dialogs = open_page(browser, url, "text=Judge reasoning")
    shown(page.get_by_text("<script>alert(1)</script>", exact=False))
    shown(page.get_by_text("<img src=x onerror=alert(1)>", exact=False))
    expect(page.get_by_text("Order AB")).to_have_count(1, timeout=WAIT_MS)
    expect(page.get_by_text("Order BA")).to_have_count(1, timeout=WAIT_MS)
    content = page.locator('[data-testid="stMain"]')
    assert content.locator("script").count() == 0
    assert content.locator('img[src="x"]').count() == 0 and page.locator("img[onerror]").count() == 0
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viz-battles.png"), full_page=True)
    page.close()


def test_battle_browser_shows_code_verbatim_and_no_remote_images(browser: object, server: str) -> None:
    url = f"{server}/?page=battles&model={CODE_MODEL}&question={CODE_QUESTION}"
    page, dialogs = open_page(browser, url, "text=Here is the check")
    content = page.locator('[data-testid="stMain"]')
    lines = ("if a < b and cost == '$x':", "while i < n: total += '$y'", "if (x < 10) { echo '$z'; }")
    for line in lines:
        shown(content.locator("pre").filter(has_text=line))  # code blocks are highlighted after the text
    shown(content.locator("code").filter(has_text="a < b"))
    shown(content.locator("code").filter(has_text="'$w'"))
    shown(content.get_by_text("![pixel](http://tracker.invalid/x.png)", exact=False))
    shown(content.get_by_text("Prices \\$5 and $6.", exact=False))
    code = " ".join(content.locator("pre").all_inner_texts())
    inline = " ".join(content.locator("code").all_inner_texts())
    assert all(line in code for line in lines), code
    assert "a < b" in inline and "'$w'" in inline and "&lt;" not in code + inline
    assert content.locator('img[src*="tracker"]').count() == 0
    assert content.locator(".katex").count() == 0
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viz-battles-code.png"), full_page=True)
    page.close()
