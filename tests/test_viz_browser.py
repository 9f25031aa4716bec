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
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian chromium: apt-get install -y chromium"
)
if CHROMIUM.exists():
    try:
        from playwright import sync_api
    except ImportError as exc:  # chromium is there, so the browser test must run: say what is missing
        raise ImportError("the browser test needs playwright: pip install playwright") from exc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run viz/app.py` on a free port, serving the fixture workspace; yields the base URL."""
    ws = build_workspace(tmp_path_factory.mktemp("vizb") / "ws")
    with open(tmp_path_factory.mktemp("vizlog") / "streamlit.log", "w") as log:
        with serve_app(ws, log=log, extra=["--server.fileWatcherType", "none"]) as base:
            yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    """Headless Debian chromium through playwright; the app is loaded once to warm it up."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = chromium.new_page()
        page.goto(server)
        page.wait_for_timeout(1000)
        page.close()
        yield chromium
        chromium.close()


def open_page(browser: object, url: str, ready: str) -> tuple[object, list[str]]:
    """A new tab on url, waiting until the selector is in the DOM; returns it and the alerts it raised."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector(ready, state="attached", timeout=30_000)
    page.wait_for_timeout(500)
    return page, dialogs


def test_leaderboard_lists_models_in_rating_order(browser: object, server: str) -> None:
    page, _ = open_page(browser, server + "/?page=leaderboard", '[role="gridcell"][aria-colindex="2"]')
    names = page.locator('[data-testid="stDataFrame"] [role="gridcell"][aria-colindex="2"]').all_inner_texts()
    assert [n.strip() for n in names] == RATING_ORDER
    assert page.get_by_text("Download CSV").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viz-leaderboard.png"), full_page=True)
    assert (ARTIFACTS / "viz-leaderboard.png").stat().st_size > 10_000
    page.close()


def test_battle_browser_shows_html_answer_as_text(browser: object, server: str) -> None:
    url = f"{server}/?page=battles&model={HTML_MODEL}&question={HTML_QUESTION}"
    page, dialogs = open_page(browser, url, "text=Judge reasoning")
    answer = page.get_by_text("<script>alert(1)</script>", exact=False)
    assert answer.count() >= 1 and answer.first.is_visible()
    assert page.get_by_text("<img src=x onerror=alert(1)>", exact=False).count() >= 1
    content = page.locator('[data-testid="stMain"]')
    assert content.locator("script").count() == 0
    assert content.locator('img[src="x"]').count() == 0 and page.locator("img[onerror]").count() == 0
    assert page.get_by_text("Order AB").count() == 1 and page.get_by_text("Order BA").count() == 1
    page.wait_for_timeout(300)
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viz-battles.png"), full_page=True)
    page.close()


def test_battle_browser_shows_code_verbatim_and_no_remote_images(browser: object, server: str) -> None:
    url = f"{server}/?page=battles&model={CODE_MODEL}&question={CODE_QUESTION}"
    page, dialogs = open_page(browser, url, "text=Judge reasoning")
    content = page.locator('[data-testid="stMain"]')
    page.wait_for_selector("text=Here is the check", timeout=30_000)
    page.wait_for_timeout(500)
    code = " ".join(content.locator("pre").all_inner_texts())
    for line in ("if a < b and cost == '$x':", "while i < n: total += '$y'", "if (x < 10) { echo '$z'; }"):
        assert line in code, line
    inline = " ".join(content.locator("code").all_inner_texts())
    assert "a < b" in inline and "'$w'" in inline and "&lt;" not in code + inline
    assert content.locator('img[src*="tracker"]').count() == 0
    assert content.get_by_text("![pixel](http://tracker.invalid/x.png)", exact=False).count() >= 1
    assert content.get_by_text("Prices \\$5 and $6.", exact=False).count() >= 1
    assert content.locator(".katex").count() == 0
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viz-battles-code.png"), full_page=True)
    page.close()
