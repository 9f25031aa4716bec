"""Stalled endpoints against real local sockets (issue 9, item 6): connect, idle and total timeouts."""
from __future__ import annotations

import json
import time

import pytest
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI, UnacceptingPort

from arena.config import load_config
from arena.pipeline import run_pipeline

FAST = {"connect_timeout_s": 0.5, "idle_timeout_s": 0.5, "timeout_s": 20}  # a stall would cost 20 s unnoticed


def _cand(url, **kw):
    return {"name": "m1", "backend": "openai", "model": "fake-model", "base_url": url, **kw}


def _timed_run(cfg_path):
    t0 = time.monotonic()
    ctx = run_pipeline(load_config(cfg_path), show_progress=False, log=lambda s: None)
    return ctx, time.monotonic() - t0


@pytest.mark.parametrize("kind", ["stall", "stall_mid"])
def test_a_stalled_stream_is_given_up_after_the_idle_timeout_and_retried(tmp_path, questions_file, fake_openai,
                                                                          kind):
    fake_openai.break_next(kind)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai.base_url)],
                       generation={**FAST, "concurrency": 1, "max_retries": 2})
    ctx, seconds = _timed_run(cfg)
    assert seconds < 6  # one idle timeout and one backoff (~1 s), not timeout_s
    recs = read_jsonl(tmp_path / "ws" / "answers" / "m1.jsonl")
    assert len(recs) == 4 and sorted(a for r in recs for a in r["attempts"]) == [1, 1, 1, 1, 2]
    assert ctx.run.info["stages"]["answers"]["models"]["m1"]["failed"] == 0


def test_a_stall_that_outlasts_the_retries_is_reported_as_a_stall(tmp_path, questions_file, fake_openai):
    fake_openai.break_next("stall_mid")
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai.base_url)],
                       generation={**FAST, "concurrency": 1, "max_retries": 0})
    ctx, seconds = _timed_run(cfg)
    assert seconds < 4
    errors = ctx.run.info["errors"]
    assert len(errors) == 1 and "stalled: no data for 0.5 s (idle_timeout_s)" in errors[0]["message"]


def test_a_reply_that_trickles_forever_is_cut_at_the_total_timeout(tmp_path, questions_file, fake_openai):
    fake_openai.break_next("drip")  # a byte every 0.1 s: never idle, never finished
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai.base_url)],
                       generation={"idle_timeout_s": 0.5, "timeout_s": 1.5, "concurrency": 1, "max_retries": 0})
    ctx, seconds = _timed_run(cfg)
    assert seconds < 5
    messages = json.dumps(ctx.run.info["errors"])
    assert "did not finish a reply within timeout_s=1.5 s" in messages
    assert ctx.run.info["stages"]["answers"]["models"]["m1"]["generated"] == 3


def test_a_host_that_never_accepts_fails_after_the_connect_timeout(tmp_path, questions_file):
    with UnacceptingPort() as port:
        cfg = write_config(tmp_path, questions_file, [_cand(port.base_url, connect_timeout_s=0.3)],
                           generation={"timeout_s": 20, "max_retries": 0})
        ctx, seconds = _timed_run(cfg)
    assert seconds < 4
    messages = json.dumps(ctx.run.info["errors"])
    assert "no connection within connect_timeout_s=0.3 s" in messages
    assert ctx.run.info["stages"]["answers"]["models"]["m1"]["failed"] == 4


def test_a_run_with_a_third_of_requests_stalled_takes_at_most_three_times_a_healthy_one(tmp_path):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps({"question_id": f"x{i}", "turns": [f"question {i}"]}) + "\n"
                             for i in range(8)))
    gen = {**FAST, "concurrency": 4, "max_retries": 3}
    seen: set[str] = set()

    def first_try_of_every_third(body: dict) -> str | None:
        q = body["messages"][-1]["content"]
        if q in seen or int(q.split()[-1]) % 3:
            return None
        seen.add(q)
        return "stall" if len(seen) % 2 else "stall_mid"

    times = {}
    for label in ("healthy", "faulty"):
        with FakeOpenAI(reply=lambda body: " ".join(["word"] * 16)) as srv:
            srv.chunk_delay_s = 0.05  # 0.8 s per answer, a token every 50 ms
            if label == "faulty":
                srv.fault_for = first_try_of_every_third
            (tmp_path / label).mkdir()
            cfg = write_config(tmp_path / label, qfile, [_cand(srv.base_url)], generation=gen)
            ctx, times[label] = _timed_run(cfg)
        assert ctx.run.info["stages"]["answers"]["models"]["m1"]["generated"] == 8
    assert len(seen) == 3
    assert times["faulty"] <= 3 * times["healthy"], times


def test_a_stalled_judge_is_given_up_after_the_idle_timeout(tmp_path, questions_file, fake_openai):
    """The judge streams by default, so a judge that goes silent costs idle_timeout_s, not timeout_s."""
    from test_judge_stage import _cands, prefer

    with FakeOpenAI(reply=prefer("good")) as judge_srv:
        judge_srv.break_next("stall_mid")
        judge = {"mode": "pairwise", "model": "j", "base_url": judge_srv.base_url, "concurrency": 1,
                 "max_retries": 1, **FAST}
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge=judge, rating={"bootstrap": 0})
        ctx, seconds = _timed_run(cfg)
    assert seconds < 10  # one idle timeout and one backoff, not the 20 s total timeout
    judgments = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert judgments and all(j["status"] == "ok" for j in judgments)
