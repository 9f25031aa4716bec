"""The Vote page in real headless Chromium against `streamlit run` on 127.0.0.1: two voters at once (keyboard
shortcuts cast the votes, and the vote log ends with every vote on its own line, none lost, none
interleaved), and hostile answers that draw no heading or rule of their own, even on a narrow screen."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_human_vote_page import HOSTILE, set_answers
from viz_fixture import RUN2, build_workspace

from arena.human.votes import votes_path
from viz.launch import serve_app

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 45_000
APP_IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
VOTES_EACH = 5

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium: apt-get install -y chromium"),
    pytest.mark.timeout(300),
]
if CHROMIUM.exists():
    from playwright import sync_api
    from playwright.sync_api import expect


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The fixture workspace served by `streamlit run`; yields (base URL, workspace)."""
    ws = build_workspace(tmp_path_factory.mktemp("voteb") / "ws")
    yield from serve_voting(ws, tmp_path_factory, "0")  # these voters press at once: no time on screen


def serve_voting(ws: Path, tmp_path_factory: pytest.TempPathFactory, min_seconds: str) -> Iterator[tuple[str, Path]]:
    """`streamlit run` on a workspace with ARENA_VOTE_MIN_SECONDS set; yields (base URL, workspace)."""
    log_path = tmp_path_factory.mktemp("votelog") / "streamlit.log"
    with (pytest.MonkeyPatch.context() as env, open(log_path, "w") as log):
        env.setenv("ARENA_VOTE_MIN_SECONDS", min_seconds)
        with serve_app(ws, log=log, extra=["--server.fileWatcherType", "none"]) as base:
            yield base, ws


def left(page: object, n: int) -> None:
    """Wait until the page says n votes are left and its script is idle."""
    expect(page.get_by_text(re.compile(rf"^{n} vote\(s\) left")).first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(APP_IDLE)).to_have_count(1, timeout=WAIT_MS)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture workspace with every answer hostile, served by `streamlit run`; yields the base URL."""
    ws = build_workspace(tmp_path_factory.mktemp("hvoteb") / "ws")
    set_answers(ws, HOSTILE)
    for base, _ in serve_voting(ws, tmp_path_factory, "0"):
        yield base


def launch(p: object, url: str) -> object:
    """Headless Chromium, the app warmed up (the first load after start may come back empty)."""
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
    warm = browser.new_page()
    warm.goto(url)
    warm.close()
    return browser


def open_voter(browser: object, url: str, name: str, width: int = 1400) -> object:
    """A voter's own browser context on the Vote page, name typed, first battle shown."""
    page = browser.new_context(viewport={"width": width, "height": 1100}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url, wait_until="domcontentloaded")
    expect(page.locator(APP_IDLE)).to_have_count(1, timeout=WAIT_MS)
    field = page.get_by_label("Your name (required to vote)")
    field.fill(name)
    field.press("Enter")
    left(page, 30)
    page.locator('[data-testid="stMain"] h1').first.click()  # focus off the text field: shortcuts reach the app
    return page


def test_two_voters_at_once_lose_no_line(served: tuple[str, Path]) -> None:
    base, ws = served
    url = f"{base}/?page=vote&run={RUN2}"
    with sync_api.sync_playwright() as p:
        browser = launch(p, url)
        alice, bob = open_voter(browser, url, "alice"), open_voter(browser, url, "bob")
        for i in range(VOTES_EACH):
            alice.keyboard.press("1")  # both key presses go out before either vote is waited for
            bob.keyboard.press("2")
            left(alice, 29 - i)
            left(bob, 29 - i)
        browser.close()
    lines = votes_path(ws, RUN2).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2 * VOTES_EACH
    by_voter = {v: [r for r in records if r["voter"] == v] for v in ("alice", "bob")}
    assert [r["choice"] for r in by_voter["alice"]] == ["1"] * VOTES_EACH
    assert [r["choice"] for r in by_voter["bob"]] == ["2"] * VOTES_EACH
    assert all(len({r["battle"] for r in rs}) == VOTES_EACH for rs in by_voter.values())


def test_a_key_pressed_again_as_the_next_battle_appears_is_not_a_vote(
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A voter presses 1, and again the moment the next battle is drawn: the second press is refused (the page
    says why) until that battle has been on screen for ARENA_VOTE_MIN_SECONDS; a later press counts."""
    ws = build_workspace(tmp_path_factory.mktemp("dvoteb") / "ws")
    for base, _ in serve_voting(ws, tmp_path_factory, "3"):
        url = f"{base}/?page=vote&run={RUN2}"
        with sync_api.sync_playwright() as p:
            browser = launch(p, url)
            carol = open_voter(browser, url, "carol")
            time.sleep(3.2)  # the first battle was read
            carol.keyboard.press("1")
            left(carol, 29)
            carol.keyboard.press("1")  # at once: the battle it lands on has just appeared
            expect(carol.get_by_text(re.compile("after this item appeared, so it was not counted"))).to_be_visible()
            left(carol, 29)
            assert len(votes_path(ws, RUN2).read_text(encoding="utf-8").splitlines()) == 1
            time.sleep(3.2)
            carol.locator('[data-testid="stMain"] h1').first.click()
            carol.keyboard.press("2")
            left(carol, 28)
            browser.close()
    records = [json.loads(line) for line in votes_path(ws, RUN2).read_text(encoding="utf-8").splitlines()]
    assert [r["choice"] for r in records] == ["1", "2"] and records[0]["battle"] != records[1]["battle"]


def test_hostile_answers_draw_no_heading_on_a_narrow_screen(hostile: str) -> None:
    url = f"{hostile}/?page=vote&run={RUN2}"
    with sync_api.sync_playwright() as p:
        browser = launch(p, url)
        narrow = open_voter(browser, url, "nina", 480)  # columns stack: answers follow each other
        expect(narrow.get_by_text("This answer is wrong, ignore it.")).to_have_count(2)
        main = narrow.locator('[data-testid="stMain"]')
        headings = [t.strip() for t in main.locator("h1, h2, h3, h4, h5, h6").all_inner_texts()]
        assert headings == ["Vote", "Question", "Answer 1", "Answer 2"]
        assert main.locator("hr").count() == 0
        expect(main.locator("table")).to_have_count(2)  # the rest of the formatting is kept
        expect(main.locator("code", has_text="x = 1")).to_have_count(2)
        browser.close()
