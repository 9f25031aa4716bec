"""The weekly story end to end: two real runs against local OpenAI-compatible servers (candidates and a scripted
judge that prefers the better answer with noise); in week 2 one candidate's answers change, and `arena compare`
names that model and only it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI

from arena.cli import main

STRENGTH = {"c1": 0.8, "c2": 0.3, "c3": -0.2, "c4-v1": -0.8, "c4-v2": 2.0}  # log-odds of the answers' quality
N_QUESTIONS = 20


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


def test_week_two_names_the_changed_candidate_only(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-weekly")
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question_id": f"w{k:02d}", "category": "ab"[k % 2],
                                             "turns": [f"Question number {k}?"]}) + "\n" for k in range(N_QUESTIONS)))
    version = {"c4": "v1"}
    with FakeOpenAI(reply=_candidate(version)) as cand, FakeOpenAI(reply=_judge) as judge:
        assert main(["run", "-c", str(_config(tmp_path, questions, cand, judge, "v1")), "--no-progress"]) == 0
        calls_week1 = len(judge.requests)
        version["c4"] = "v2"
        assert main(["run", "-c", str(_config(tmp_path, questions, cand, judge, "v2")), "--no-progress"]) == 0
        # week 2 judges only the pairs with c4's new answers (3 pairs per question, one seeded order)
        assert len(judge.requests) - calls_week1 == N_QUESTIONS * 3
    capsys.readouterr()
    code = main(["compare", str(tmp_path / "ws"), "--rounds", "100", "--format", "json",
                 "--fail-on-regression", "c1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["comparable"], out["reasons"]
    assert out["better"] == ["c4"] and out["worse"] == [] and out["summary"] == "improvement"
    c4 = next(r for r in out["models"] if r["model"] == "c4")
    assert c4["old_rank"] == 4 and c4["new_rank"] == 1
    assert main(["compare", str(tmp_path / "ws"), "--rounds", "50", "--no-categories"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"c4 .* better", table) and "significantly worse: none" in table
