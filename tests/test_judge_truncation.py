"""Answers and judge replies cut at max_tokens are kept but counted in the judge statistics and the report."""
from __future__ import annotations

import json

from arena.config import load_config
from arena.pipeline import run_pipeline
from arena.report import judge_report
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI


def _last_user(req: dict) -> str:
    return [m["content"] for m in req["messages"] if m["role"] == "user"][-1]


def test_truncated_answers_and_judge_replies_are_counted(tmp_path, questions_file):
    with FakeOpenAI() as cands, FakeOpenAI(reply=lambda req: "A is better. [[A>B]]") as judge:
        # model "cut" runs out of max_tokens on the coding question; the judge on the sky question
        cands.finish_reason = lambda req: ("length" if req["model"] == "cut" and "Reverse" in _last_user(req)
                                           else "stop")
        judge.finish_reason = lambda req: "length" if "Why is the sky blue?" in _last_user(req) else "stop"
        candidates = [{"name": n, "backend": "openai", "model": n, "base_url": cands.base_url} for n in ("good", "cut")]
        cfg = write_config(tmp_path, questions_file, candidates, rating={"bootstrap": 10},
                           judge={"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url})
        ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    rows = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert len(rows) == 10 and {r["status"] for r in rows} == {"ok"}  # kept and used, only marked
    assert sorted(r["question_id"] for r in rows if r["answer_truncated"]) == ["q3", "q3"]
    assert sorted(r["question_id"] for r in rows if r["judge_truncated"]) == ["q4", "q4"]
    stats = json.loads((ctx.run.path / "judge_stats.json").read_text())["judge-model"]
    assert stats["truncated_answers"] == 2 and stats["truncated_judge_replies"] == 2
    assert "truncated at max_tokens: 2 judgments saw a cut answer, 2 judge replies were cut" in judge_report(ctx.run.info)
