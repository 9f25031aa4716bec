"""The Vote page driven through streamlit.testing: votes land with the right battle, the shown order is
undone correctly, withdrawal appends a record, and a shared server asks for ARENA_VOTE_TOKEN."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest
from viz_fixture import JUDGES, RUN2, RUN_SINGLE, build_workspace

from arena.human.items import battle_key, shown_swapped
from arena.human.votes import votes_path

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
ANSWER = re.compile(r"Answer of (model-\w+) to (q\d)")
TOKEN = "team-token-7f3a"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture workspace, built once for this module."""
    return build_workspace(tmp_path_factory.mktemp("vote") / "ws")


@pytest.fixture
def workspace(built: Path) -> Iterator[Path]:
    """The fixture workspace with no votes yet."""
    shutil.rmtree(built / "human", ignore_errors=True)
    yield built


@pytest.fixture
def host() -> Iterator[callable]:
    """Set the app server's bind address as `--server.address` would; restored afterwards."""
    before = config.get_option("server.address")
    yield lambda value: config.set_option("server.address", value)
    config.set_option("server.address", before)


def open_vote(ws: Path, monkeypatch: pytest.MonkeyPatch, run: str = RUN2, page: str = "vote") -> AppTest:
    """The app on the Vote page of a run."""
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["page"], at.query_params["run"] = page, run
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, name: str) -> object:
    """The button whose key starts with `name`_ (vote and grade keys carry the item and showing they are for)."""
    (found,) = [b for b in at.button if b.key and (b.key == name or b.key.startswith(name + "_"))]
    return found


def run_ok(at: AppTest) -> AppTest:
    """Rerun and check for exceptions and errors."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def shown_models(at: AppTest) -> list[str]:
    """Model names in the answer texts, in page order (Answer 1's, then Answer 2's)."""
    names = [m for md in at.markdown for m, _ in ANSWER.findall(md.value)]
    return list(dict.fromkeys(names))


def page_text(at: AppTest) -> str:
    """Every text element of the page."""
    parts = [e.value for kind in (at.markdown, at.caption, at.info, at.success, at.warning) for e in kind]
    return "\n".join(str(p) for p in parts)


def records(ws: Path, run: str = RUN2) -> list[dict]:
    """The run's vote log."""
    path = votes_path(ws, run)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_votes_are_recorded_with_the_right_battle_and_order(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable
) -> None:
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch)
    assert not at.button  # no name yet: no vote buttons
    at.text_input(key="human_voter").input("alice")
    at = run_ok(at)
    at.toggle(key="human_reveal").set_value(False)
    at = run_ok(at)
    swaps, votes = set(), 0
    while votes < 6:
        shown = shown_models(at)
        text = page_text(at)
        assert not any(j in text for j in JUDGES)  # the judge's verdict stays hidden
        if len(shown) != 2:  # an answer without the model name in its text (HTML/code fixture answers)
            button(at, "vote_skip").click()
            at = run_ok(at)
            continue
        qid = ANSWER.findall(next(m.value for m in at.markdown if ANSWER.search(m.value)))[0][1]
        choice = "2" if votes % 2 else "1"
        at.text_area(key="vote_comment").input(f"comment {votes}")
        button(at, f"vote_{choice}").click()
        at = run_ok(at)
        votes += 1
        rec = records(workspace)[-1]
        assert rec["voter"] == "alice" and rec["question_id"] == qid and rec["shown"] == shown
        assert rec["battle"] == battle_key(qid, rec["turn"], *shown)
        assert rec["comment"] == f"comment {votes - 1}"
        preferred = shown[int(choice) - 1]
        assert rec[rec["winner"]] == preferred  # de-randomised: the winner is the model shown at that place
        swapped = shown[0] != rec["model_a"]
        assert swapped == shown_swapped("alice", rec["battle"], 0)
        swaps.add(swapped)
        assert len(rec["judgments"]) == 4  # both orders of both judges
    assert swaps == {True, False}
    assert "24** vote(s) left" in page_text(at) and len({r["battle"] for r in records(workspace)}) == 6


def test_reveal_then_withdraw_the_last_vote(workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable) -> None:
    host("localhost")
    at = open_vote(workspace, monkeypatch)
    at.text_input(key="human_voter").input("bob")
    at = run_ok(at)
    assert "30** vote(s) left" in page_text(at)
    button(at, "vote_tie").click()
    at = run_ok(at)
    vote = records(workspace)[-1]
    reveal = " ".join(s.value for s in at.success)
    assert vote["model_a"] in reveal and vote["model_b"] in reveal and JUDGES[0] in reveal
    assert "29** vote(s) left" in page_text(at)
    button(at, "vote_undo").click()
    at = run_ok(at)
    log = records(workspace)
    assert log[-1] == {**log[-1], "kind": "withdraw", "vote_id": vote["vote_id"], "voter": "bob"}
    assert log[0] == vote  # the vote line itself is untouched
    assert "30** vote(s) left" in page_text(at)


def test_k_votes_per_battle(workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable) -> None:
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch)
    at.text_input(key="human_voter").input("carol")
    at = run_ok(at)
    at.number_input(key="human_k").set_value(2)
    at = run_ok(at)
    assert "60** vote(s) left" in page_text(at)
    button(at, "vote_bothbad").click()
    at = run_ok(at)
    assert "59** vote(s) left" in page_text(at) and records(workspace)[-1]["winner"] == "tie (bothbad)"
    button(at, "vote_1").click()
    at = run_ok(at)
    first, second = records(workspace)
    assert first["battle"] != second["battle"]  # a battle voted once comes back after the others


def test_shared_server_needs_the_token(workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable) -> None:
    host("0.0.0.0")
    monkeypatch.delenv("ARENA_VOTE_TOKEN", raising=False)
    at = open_vote(workspace, monkeypatch)
    assert "ARENA_VOTE_TOKEN" in page_text(at) and not at.button
    monkeypatch.setenv("ARENA_VOTE_TOKEN", TOKEN)
    at = open_vote(workspace, monkeypatch)
    at.text_input(key="human_voter").input("dave")
    at.text_input(key="human_token").input("wrong-token")
    at = run_ok(at)
    assert not [b for b in at.button if b.key and b.key.startswith("vote_")]
    at.text_input(key="human_token").input(TOKEN)
    at = run_ok(at)
    button(at, "vote_1").click()
    at = run_ok(at)
    assert records(workspace)[-1]["voter"] == "dave"
    stored = b"".join(p.read_bytes() for p in (workspace / "human").rglob("*") if p.is_file())
    assert TOKEN.encode() not in stored
    board = open_vote(workspace, monkeypatch, page="leaderboard")  # browsing needs no token
    assert board.dataframe and not board.error


def test_single_mode_run_points_to_grading(workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable) -> None:
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch, run=RUN_SINGLE)
    assert "Grade" in page_text(at) and not at.button


def test_grading_a_single_mode_answer(workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable) -> None:
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch, run=RUN_SINGLE, page="grade")
    at.text_input(key="human_voter").input("erin")
    at = run_ok(at)
    assert "20** grade(s) left" in page_text(at)
    while len(shown_models(at)) != 1:
        button(at, "grade_skip").click()
        at = run_ok(at)
    (model,) = shown_models(at)
    assert JUDGES[0] not in page_text(at)
    at.text_area(key="grade_comment").input("too short")
    button(at, "grade_10").click()
    at = run_ok(at)
    rec = records(workspace, RUN_SINGLE)[-1]
    assert rec["kind"] == "grade" and rec["model"] == model and rec["grade"] == 10 and rec["comment"] == "too short"
    assert JUDGES[0] in " ".join(s.value for s in at.success) and "19** grade(s) left" in page_text(at)
    button(at, "grade_undo").click()
    at = run_ok(at)
    assert records(workspace, RUN_SINGLE)[-1]["kind"] == "withdraw" and "20** grade(s) left" in page_text(at)
    button(at, "grade_7").click()
    at = run_ok(at)
    results = open_vote(workspace, monkeypatch, run=RUN_SINGLE, page="human-results")
    assert not results.error
    grades, agree = results.dataframe[0].value, results.dataframe[1].value
    assert list(grades["grades"]) == [1] and list(agree["judge"]) == [JUDGES[0], "human (inter-annotator)"]
    assert int(agree["n"].iloc[0]) == 1


def test_human_results_page_leaderboard_and_agreement(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable
) -> None:
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch, page="human-results")
    assert "Nobody has voted" in page_text(at)
    at = open_vote(workspace, monkeypatch)
    for voter in ("fay", "gus"):
        at.text_input(key="human_voter").input(voter)
        at = run_ok(at)
        for _ in range(4):
            button(at, "vote_1").click()
            at = run_ok(at)
    log = records(workspace)
    lb = open_vote(workspace, monkeypatch, page="leaderboard")
    assert "**Human results** page" in page_text(lb)
    at = open_vote(workspace, monkeypatch, page="human-results")
    assert not at.error, [e.value for e in at.error]
    board = at.dataframe[0].value
    models = {m for r in log for m in (r["model_a"], r["model_b"])}
    assert set(board["model"]) == models
    agree = at.dataframe[1].value
    assert list(agree["judge"]) == [*JUDGES, "human (inter-annotator)"]
    assert int(agree["n"].iloc[0]) == len(log)  # one gpt-4o verdict per voted item and vote
    at.radio(key="hr_source").set_value("pooled")
    at = run_ok(at)
    assert int(at.dataframe[0].value["battles"].sum()) > int(board["battles"].sum())


def test_a_vote_key_pressed_again_at_once_does_not_vote_on_the_next_battle(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable
) -> None:
    """The second press of a quick double press lands on the battle drawn after the first vote: it is refused
    until that battle has been on screen for ARENA_VOTE_MIN_SECONDS, then a press counts."""
    monkeypatch.setenv("ARENA_VOTE_MIN_SECONDS", "0.6")
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch)
    at.text_input(key="human_voter").input("carol")
    at = run_ok(at)
    time.sleep(0.7)  # the first battle has been read
    button(at, "vote_1").click()
    at = run_ok(at)
    assert len(records(workspace)) == 1
    first = records(workspace)[0]["battle"]
    button(at, "vote_1").click()  # at once: the next battle has just appeared
    at.run()
    assert len(records(workspace)) == 1  # before: a second vote, on a battle never read
    assert any("less than 0.6 s after this item appeared" in e.value for e in at.error)
    time.sleep(0.7)
    button(at, "vote_2").click()
    at = run_ok(at)
    second = records(workspace)
    assert len(second) == 2 and second[1]["battle"] != first


def test_a_grade_key_pressed_again_at_once_does_not_grade_the_next_answer(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, host: callable
) -> None:
    monkeypatch.setenv("ARENA_VOTE_MIN_SECONDS", "0.6")
    host("127.0.0.1")
    at = open_vote(workspace, monkeypatch, run=RUN_SINGLE, page="grade")
    at.text_input(key="human_voter").input("dave")
    at = run_ok(at)
    button(at, "grade_5").click()  # the answer appeared a moment ago
    at.run()
    assert not records(workspace, RUN_SINGLE) and any("less than 0.6 s" in e.value for e in at.error)
    time.sleep(0.7)
    button(at, "grade_5").click()
    at = run_ok(at)
    assert [r["grade"] for r in records(workspace, RUN_SINGLE)] == [5]
