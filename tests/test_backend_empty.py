"""Empty and truncated replies against a real local OpenAI-compatible server (issue 9, item 5)."""
from __future__ import annotations

import json

import pytest
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI

from arena.config import load_config
from arena.pipeline import run_pipeline


def _cand(srv, **kw):
    return {"name": "m1", "backend": "openai", "model": "fake-model", "base_url": srv.base_url, **kw}


def _run(cfg_path):
    return run_pipeline(load_config(cfg_path), show_progress=False, log=lambda s: None)


def _answers(tmp_path):
    path = tmp_path / "ws" / "answers" / "m1.jsonl"
    return read_jsonl(path) if path.exists() else []


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("kind", ["empty", "null"])
def test_an_empty_reply_is_retried_and_never_stored(tmp_path, questions_file, fake_openai, stream, kind):
    fake_openai.break_next(kind)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai)],
                       generation={"stream": stream, "concurrency": 1, "max_retries": 2})
    ctx = _run(cfg)
    recs = _answers(tmp_path)
    assert len(recs) == 4 and all(t.strip() for r in recs for t in r["turns"])
    assert len(fake_openai.requests) == 6  # 5 turns + the one empty attempt, asked again
    assert sorted(a for r in recs for a in r["attempts"]) == [1, 1, 1, 1, 2]
    assert ctx.run.info["stages"]["answers"]["models"]["m1"]["failed"] == 0


def test_a_model_that_stays_empty_fails_and_is_asked_again_next_run(tmp_path, questions_file):
    with FakeOpenAI(reply=lambda body: "") as srv:
        cfg = write_config(tmp_path, questions_file, [_cand(srv)],
                           generation={"concurrency": 1, "max_retries": 1})
        ctx = _run(cfg)
        assert len(srv.requests) == 8  # 4 first turns, each tried twice; q1's second turn never asked
    s = ctx.run.info["stages"]["answers"]["models"]["m1"]
    assert s["failed"] == 4 and s["generated"] == 0
    assert [r for r in _answers(tmp_path) if r.get("status", "ok") == "ok"] == []  # nothing cached as valid
    errors = json.dumps(ctx.run.info["errors"])
    assert "the reply is empty" in errors
    with FakeOpenAI() as srv:  # the model answers now: every question is asked again
        cfg = write_config(tmp_path, questions_file, [_cand(srv)], generation={"concurrency": 1})
        ctx2 = _run(cfg)
        assert ctx2.run.info["stages"]["answers"]["models"]["m1"]["generated"] == 4
        assert len(srv.requests) == 5


@pytest.mark.parametrize("stream", [True, False])
def test_a_reply_cut_at_max_tokens_is_kept_and_marked_truncated(tmp_path, questions_file, fake_openai, stream):
    fake_openai.finish_reason = lambda body: "length" if "sky" in body["messages"][-1]["content"] else "stop"
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai)], generation={"stream": stream})
    ctx = _run(cfg)
    recs = {r["question_id"]: r for r in _answers(tmp_path)}
    assert recs["q4"]["truncated"] is True and recs["q4"]["finish_reason"] == ["length"]
    assert recs["q4"]["turns"][0].startswith("answer from fake-model")  # kept, not retried
    assert [recs[q]["truncated"] for q in ("q1", "q2", "q3")] == [False, False, False]
    assert ctx.run.info["stages"]["answers"]["models"]["m1"]["truncated"] == 1
    assert len(fake_openai.requests) == 5


def test_no_text_within_max_tokens_fails_without_retrying(tmp_path, questions_file):
    with FakeOpenAI(reply=lambda body: "") as srv:
        srv.finish_reason = lambda body: "length"
        cfg = write_config(tmp_path, questions_file, [_cand(srv)],
                           generation={"concurrency": 1, "max_retries": 3})
        ctx = _run(cfg)
        assert len(srv.requests) == 4  # asking again with the same max_tokens would not help
    assert ctx.run.info["stages"]["answers"]["models"]["m1"]["failed"] == 4
    assert "raise max_tokens" in json.dumps(ctx.run.info["errors"])


def test_an_empty_judge_reply_is_a_failed_judgment_not_a_verdict(tmp_path, questions_file, fake_openai):
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("a", "b")]
    with FakeOpenAI(reply=lambda body: "") as judge:
        judge_cfg = {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url, "max_retries": 1}
        cfg = write_config(tmp_path, questions_file, cands, judge=judge_cfg, rating={"bootstrap": 10})
        ctx = _run(cfg)
        # 10 judgments (5 turns, both orders): an empty reply is a reply (billed), not retried; its follow-up
        # asks for the verdict once
        assert len(judge.requests) == 20
        assert sum(len(r["messages"]) > 2 for r in judge.requests) == 10  # the follow-ups
    recs = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert len(recs) == 10 and {r["status"] for r in recs} == {"unparsed"}  # never a verdict; asked again next run
    assert all(r["raw"] == "" and r["followup_raw"] == "" and r["prompt_tokens"] > 0 for r in recs)
    assert read_jsonl(ctx.run.path / "battles.jsonl") == []
