"""The weekly story end to end: two real runs against local OpenAI-compatible servers (candidates and a scripted
judge that prefers the better answer with noise); in week 2 one candidate's answers change, and `arena compare`
names that model and only it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from openai_server import FakeOpenAI

from arena.cli import main

STRENGTH = {"c1": 0.8, "c2": 0.3, "c3": -0.2, "c4-v1": -0.8, "c4-v2": 2.0}  # log-odds of the answers' quality
N_QUESTIONS = 20
APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"


def _candidate(version: dict[str, str]):
    """Candidates' replies name the model (c4's with its current version)."""
    def reply(req: dict) -> str:
        name = req["model"] + (f"-{version['c4']}" if req["model"] == "c4" else "")
        return f"answer from {name} : {req['messages'][-1]['content']}"
    return reply


def _between(text: str, start: str, end: str) -> str:
    """The text between two markers ('' when absent)."""
    return text.split(start, 1)[1].split(end, 1)[0] if start in text and end in text else ""


def _judge(req: dict) -> str:
    """Prefer the stronger answer with BT probability, the noise drawn from a hash of the prompt (so a repeated
    prompt gets the same verdict)."""
    user = req["messages"][-1]["content"]
    names = [re.search(r"answer from (\S+)", _between(user, f"<<<ANSWER {s} START>>>", f"<<<ANSWER {s} END>>>"))
             for s in "AB"]
    if not all(names):
        return "Final verdict: [[C]]"
    a, b = (STRENGTH[m.group(1)] for m in names)
    u = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    p_a = 1 / (1 + 2.718281828 ** (b - a))
    return "Final verdict: " + ("[[A]]" if u < p_a else "[[B]]")


def _config(tmp_path: Path, questions: Path, cand: FakeOpenAI, judge: FakeOpenAI, revision: str) -> Path:
    """A weekly pairwise config; c4's revision forces its answers to be regenerated."""
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": cand.base_url} for n in ("c1", "c2", "c3")]
    cands.append({"name": "c4", "backend": "openai", "model": "c4", "base_url": cand.base_url, "revision": revision})
    cfg = {"workspace": str(tmp_path / "ws"), "run_name": "weekly", "questions": {"path": str(questions)},
           "candidates": cands, "rating": {"bootstrap": 10},
           "judge": {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url, "verdict": "3way",
                     "order": "random"}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def weekly_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two weekly runs in one workspace; week 2 regenerates c4's answers (now much better) and judges its pairs."""
    tmp_path = tmp_path_factory.mktemp("weekly")
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question_id": f"w{k:02d}", "category": "ab"[k % 2],
                                             "turns": [f"Question number {k}?"]}) + "\n" for k in range(N_QUESTIONS)))
    version = {"c4": "v1"}
    with pytest.MonkeyPatch.context() as mp, FakeOpenAI(reply=_candidate(version)) as cand, \
            FakeOpenAI(reply=_judge) as judge:
        mp.setenv("OPENAI_API_KEY", "sk-test-weekly")
        assert main(["run", "-c", str(_config(tmp_path, questions, cand, judge, "v1")), "--no-progress"]) == 0
        calls_week1 = len(judge.requests)
        version["c4"] = "v2"
        assert main(["run", "-c", str(_config(tmp_path, questions, cand, judge, "v2")), "--no-progress"]) == 0
        # week 2 judges only the pairs with c4's new answers (3 pairs per question, one seeded order)
        assert len(judge.requests) - calls_week1 == N_QUESTIONS * 3
    return tmp_path / "ws"


def test_week_two_names_the_changed_candidate_only(weekly_ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["compare", str(weekly_ws), "--rounds", "100", "--format", "json", "--fail-on-regression", "c1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["comparable"], out["reasons"]
    assert out["better"] == ["c4"] and out["worse"] == [] and out["summary"] == "improvement"
    c4 = next(r for r in out["models"] if r["model"] == "c4")
    assert c4["old_rank"] == 4 and c4["new_rank"] == 1
    assert list(out["why"]) == ["c4"] and out["why"]["c4"]["flips"]["toward"] > 0
    assert main(["compare", str(weekly_ws), "--rounds", "50", "--no-categories"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"c4 .* better", table) and "significantly worse: none" in table
    assert re.search(r"^c4 .* 4->1 +better$", table, re.M) and "rank by rating" in table  # ordinal, and said so
    assert [line.split()[0] for line in table.splitlines() if line.endswith((" better", " worse"))] == ["c4"]
    assert "why c4:" in table and table.count("why ") == 1


def _changed_rows(head: list[str], rows: list[list[str]]) -> list[str]:
    """Models whose verdict cell says better or worse."""
    k = head.index("verdict")
    return [row[0] for row in rows if row[k] in ("better", "worse")]


def _md_overall(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first Markdown table after '## Overall'."""
    lines = text.split("## Overall", 1)[1].strip().splitlines()
    table = lines[: next(i for i, ln in enumerate(lines) if not ln.startswith("|"))]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in table]
    return cells[0], cells[2:]


def _html_overall(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the report's first HTML table (the overall one)."""
    table = text.split("<table>", 1)[1].split("</table>", 1)[0]
    head = re.findall(r"<th>(.*?)</th>", table)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", table)]
    return head, [r for r in rows if r]


def test_reports_and_app_page_name_only_the_changed_model(weekly_ws: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    assert main(["compare", str(weekly_ws)]) == 0  # the app's defaults too (500 rounds, seed 0): the same numbers
    capsys.readouterr()
    new_run = sorted((weekly_ws / "runs").iterdir())[-1]
    md = (new_run / "report.md").read_text()
    assert _changed_rows(*_md_overall(md)) == ["c4"] and "- significantly better: c4" in md
    assert "### c4: better" in md and md.count("### ") == 1  # one 'why' subsection: c4's
    html = (new_run / "report.html").read_text()
    assert _changed_rows(*_html_overall(html)) == ["c4"] and "<li>significantly better: c4</li>" in html
    assert "<h3>c4: better" in html and html.count("<h3>") == 1
    monkeypatch.setenv("ARENA_WORKSPACE", str(weekly_ws))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["page"] = "compare"
    at.run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    overall = at.dataframe[0].value
    assert overall.loc[overall["verdict"].isin(["better", "worse"]), "model"].tolist() == ["c4"]
    assert [m.value for m in at.warning] == ["Summary: **improvement**"]
    assert [m.value for m in at.markdown if m.value.startswith("#### ")] == [m for m in (
        "#### " + ln[4:] for ln in md.splitlines() if ln.startswith("### "))]


def test_flipped_verdict_link_opens_that_battle(weekly_ws: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from streamlit.testing.v1 import AppTest

    assert main(["compare", str(weekly_ws), "--rounds", "50", "--format", "json", "--no-write"]) == 0
    result = json.loads(capsys.readouterr().out)
    # an opponent other than the first in file order, so the link must select the opponent, not only the model
    flip = next(f for f in result["why"]["c4"]["flips"]["listed"] if f["opponent"] == "c3")
    query = {k: v[0] for k, v in parse_qs(urlsplit(flip["new_link"]).query).items()}
    monkeypatch.setenv("ARENA_WORKSPACE", str(weekly_ws))
    at = AppTest.from_file(str(APP), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Battles"
    assert {f"c4 vs {flip['opponent']}", f"{flip['opponent']} vs c4"} & {s.value for s in at.subheader}
    facts = next(m.value for m in at.markdown if m.value.startswith("verdict:"))
    assert f"question_id: {flip['question_id']}" in facts
    winner = "c4" if flip["new"] == "win" else flip["opponent"]
    assert f"verdict: **{winner}** wins" in facts
