"""The Vote and Grade pages against hostile answers, a voter in two tabs, answers missing from the cache and a
vote log with bad records, driven through streamlit.testing (the real app, a real workspace on disk)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit import config
from streamlit.testing.v1 import AppTest
from test_viz_vote import button
from viz_fixture import RUN2, RUN_SINGLE, build_workspace

from arena.human.items import battle_key
from arena.human.votes import append_record, vote_record, votes_path

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
HOSTILE = (
    "Short answer.\n\n---\n\n### Answer 2\n\nThis answer is wrong, ignore it.\n\nAnswer 1\n========\n\n"
    "# Vote\n\n***\n\n> ## Question\n\n- ## Answer 1\n- item two\n\n**Your vote: Answer 1 is better.** Answer 1 "
    "was **gpt-4o**.\n\n| Answer 1 is better | Answer 2 is better |\n|---|---|\n| yes | |\n\n"
    "```python\n# a comment, not a heading\nx = 1\n```\n\nThe end."
)
PAGE_HEADINGS = {"Vote", "Question", "Answer 1", "Answer 2", "Answer", "Grade"}
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture workspace, built once for this module."""
    return build_workspace(tmp_path_factory.mktemp("humanpage") / "ws")


@pytest.fixture
def workspace(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the fixture workspace for one test (tests change answers and logs)."""
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(built, copy)
    return copy


@pytest.fixture(autouse=True)
def loopback() -> Iterator[None]:
    """The app bound to 127.0.0.1 (voting needs no token), restored afterwards."""
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


def open_page(ws: Path, monkeypatch: pytest.MonkeyPatch, page: str = "vote", run: str = RUN2,
              voter: str | None = "alice") -> AppTest:
    """The app on a page of a run, the voter's name typed."""
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["page"], at.query_params["run"] = page, run
    at.run()
    if voter is not None:
        at.text_input(key="human_voter").input(voter)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at




def records(ws: Path, run: str = RUN2) -> list[dict]:
    """The run's vote log."""
    path = votes_path(ws, run)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def set_answers(ws: Path, text: str | None) -> None:
    """Every cached answer's turns become `text`; None removes the answer files."""
    for path in (ws / "answers").glob("*.jsonl"):
        if text is None:
            path.unlink()
            continue
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**r, "turns": [text] * len(r["turns"])}) + "\n" for r in recs))


def rendered_tags(source: str) -> set[str]:
    """HTML tags (and `fence` for a fenced code block) a CommonMark+tables parser makes of a markdown source."""
    tokens = [t for block in MD.parse(source) for t in [block, *(block.children or [])]]
    return {t.tag for t in tokens if t.nesting == 1 or t.type == "hr"} | {t.type for t in tokens if t.type == "fence"}


def bordered_markdown(at: AppTest) -> list[str]:
    """Markdown sources drawn inside bordered containers."""
    found: list[str] = []

    def walk(node: object, inside: bool) -> None:
        proto = getattr(node, "proto", None)
        which = proto.WhichOneof("type") if type(proto).__name__ == "Block" else None
        border = bool(getattr(getattr(proto, which), "border", False)) if which else False
        if getattr(node, "type", "") == "markdown" and inside:
            found.append(node.value)
        for child in getattr(node, "children", {}).values():
            walk(child, inside or border)

    walk(at._tree, False)
    return found


def test_a_hostile_answer_cannot_draw_the_pages_headings(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_answers(workspace, HOSTILE)
    at = open_page(workspace, monkeypatch)
    headings = [e.value for kind in (at.main.title, at.main.header, at.main.subheader) for e in kind]
    assert headings == ["Vote", "Question", "Answer 1", "Answer 2"]
    answers = [m.value for m in at.markdown if "This answer is wrong" in m.value]
    assert len(answers) == 2
    for source in answers:
        tags = rendered_tags(source)
        assert not {"h1", "h2", "h3", "h4", "h5", "h6", "hr"} & tags, tags  # no heading, no section break
        assert {"table", "strong", "ul", "blockquote", "fence"} <= tags  # the rest of the formatting stays
        assert "### Answer 2" in source.replace("\\", "")  # the words are all still there, as text
    boxed = bordered_markdown(at)
    assert all(a in boxed for a in answers)  # each answer in a bordered box, its label outside
    assert not {e.value for e in at.subheader} & set(boxed)


def test_a_hostile_answer_on_the_grade_page(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_answers(workspace, HOSTILE)
    at = open_page(workspace, monkeypatch, page="grade", run=RUN_SINGLE)
    headings = [e.value for kind in (at.main.title, at.main.header, at.main.subheader) for e in kind]
    assert headings == ["Grade", "Question", "Answer"]
    (answer,) = [m.value for m in at.markdown if "This answer is wrong" in m.value]
    assert not {"h1", "h2", "h3", "hr"} & rendered_tags(answer) and answer in bordered_markdown(at)


def test_two_tabs_of_one_voter_store_one_vote(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tabs = [open_page(workspace, monkeypatch, voter="twotabs") for _ in range(2)]
    first, second = (button(t, "vote_1") for t in tabs)
    assert first.key == second.key  # both tabs show the same battle to the same voter
    first.click()
    tabs[0].run()
    button(tabs[1], "vote_2").click()  # the second tab still shows that battle
    tabs[1].run()
    votes = [r for r in records(workspace) if r["voter"] == "twotabs"]
    assert [r["choice"] for r in votes] == ["1"]
    assert "not recorded" in " ".join(e.value for e in tabs[1].error)
    assert not tabs[0].error
    # the second tab has moved on to another battle; its buttons are bound to that one
    (moved,) = {b.key.split("_")[-2] for b in tabs[1].button if b.key and b.key.startswith("vote_")}
    assert moved != votes[0]["battle"]
    button(tabs[1], "vote_2").click()
    tabs[1].run()
    votes = [r for r in records(workspace) if r["voter"] == "twotabs"]
    assert [(r["battle"], r["choice"]) for r in votes[1:]] == [(moved, "2")] and not tabs[1].error


def test_k_is_enforced_when_the_vote_is_written(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(workspace, monkeypatch, voter="kay")
    stale = button(at, "vote_tie")
    # another session of kay votes on the shown battle first (K = 1 everywhere)
    other = open_page(workspace, monkeypatch, voter="kay")
    assert button(other, "vote_tie").key == stale.key
    button(other, "vote_tie").click()
    other.run()
    (battle,) = [r["battle"] for r in records(workspace)]
    stale.click()  # the first session still shows that battle: its vote would be kay's second on it
    at.run()
    assert [r["battle"] for r in records(workspace) if r["voter"] == "kay"] == [battle]
    assert "limit is 1" in " ".join(e.value for e in at.error)


def test_no_vote_when_the_answers_are_not_cached(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_answers(workspace, None)
    at = open_page(workspace, monkeypatch)
    assert "not in the answer cache" in " ".join(w.value for w in at.warning)
    assert [b.key.split("_")[1] for b in at.button if b.key and b.key.startswith("vote_")] == ["skip"]
    grade = open_page(workspace, monkeypatch, page="grade", run=RUN_SINGLE)
    assert [b.key.split("_")[1] for b in grade.button if b.key and b.key.startswith("grade_")] == ["skip"]
    assert not records(workspace) and not records(workspace, RUN_SINGLE)


def bad_log(ws: Path) -> tuple[Path, list[dict]]:
    """Good votes on the run's battles with bad records between them; returns (log, good votes)."""
    battles = [json.loads(line) for line in (ws / "runs" / RUN2 / "battles.jsonl").read_text().splitlines()]
    good = []
    for i, b in enumerate(battles[:6]):
        item = {"battle": battle_key(b["question_id"], b.get("turn"), b["model_a"], b["model_b"]),
                "question_id": str(b["question_id"]), "turn": b.get("turn") or 1, "category": b.get("category"),
                "model_a": b["model_a"], "model_b": b["model_b"], "judgments": []}
        good.append(vote_record("ann" if i % 2 else "ben", item, False, "1"))
    path = votes_path(ws, RUN2)
    append_record(path, good[0])
    append_record(path, good[1])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({**good[2], "turn": "abc", "vote_id": "bad-turn"}) + "\n")  # line 3
        fh.write("this is not json\n")  # line 4
        fh.write(json.dumps([1, 2]) + "\n")  # line 5
        fh.write(json.dumps({**good[3], "winner": "bogus", "vote_id": "bad-winner"}) + "\n")  # line 6
        fh.write(json.dumps({**good[4], "model_b": 7, "vote_id": "bad-model"}) + "\n")  # line 7
    for rec in good[2:]:
        append_record(path, rec)
    return path, good


def test_bad_records_are_skipped_with_a_warning_in_the_app(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, good = bad_log(workspace)
    vote = open_page(workspace, monkeypatch, voter="cy")
    warning = " ".join(w.value for w in vote.warning)
    assert "5 bad record(s)" in warning and "votes.jsonl:3: field 'turn'" in warning
    assert "votes.jsonl:6: field 'winner'" in warning and "votes.jsonl:7: field 'model_b'" in warning
    assert "; 6 vote(s) from 2 voter(s)" in " ".join(m.value for m in vote.markdown)
    results = open_page(workspace, monkeypatch, page="human-results", voter=None)
    assert not results.exception and not results.error, [e.value for e in results.error]
    assert not [i.value for i in results.info if "No human leaderboard" in i.value]
    assert "votes.jsonl:6: field 'winner'" in " ".join(w.value for w in results.warning)  # said there too
    board = results.dataframe[0].value
    assert int(board["battles"].sum()) == 2 * len(good)  # every good vote is a battle of two models
    assert set(board["model"]) == {m for v in good for m in (v["model_a"], v["model_b"])}
