"""The answer stage against a real local OpenAI-compatible server."""
from __future__ import annotations

import json
import time

import pytest

from arena.cli import main
from arena.config import load_config
from arena.pipeline import run_pipeline
from conftest import read_jsonl, write_config


def _cand(srv, **kw):
    return {"name": "m1", "backend": "openai", "model": "fake-model", "base_url": srv.base_url, **kw}


def _run(cfg_path, **kw):
    return run_pipeline(load_config(cfg_path), show_progress=False, log=lambda s: None, **kw)


def test_answers_written_with_accounting_and_second_run_makes_no_request(tmp_path, questions_file, fake_openai):
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai)])
    ctx = _run(cfg)
    recs = read_jsonl(tmp_path / "ws" / "answers" / "m1.jsonl")
    assert len(recs) == 4 and len(fake_openai.requests) == 5  # q1 has two turns
    r1 = next(r for r in recs if r["question_id"] == "q1")
    assert r1["turns"][0].startswith("answer from fake-model to turn 1: Write a haiku")
    assert r1["finish_reason"] == ["stop", "stop"]
    assert all(t > 0 for t in r1["completion_tokens"]) and all(t is not None for t in r1["ttft_s"])
    assert r1["params"]["temperature"] == 0.7  # writing
    assert next(r for r in recs if r["question_id"] == "q2")["params"]["temperature"] == 0.0  # math
    info = json.loads((ctx.run.path / "run.json").read_text())
    assert info["status"] == "completed" and info["stages"]["answers"]["models"]["m1"]["generated"] == 4
    n = len(fake_openai.requests)
    ctx2 = _run(cfg)
    assert len(fake_openai.requests) == n  # everything cached
    assert ctx2.run.info["stages"]["answers"]["models"]["m1"]["cached"] == 4
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "m1.jsonl")) == 4


def test_multi_turn_sends_the_models_own_earlier_answer(tmp_path, questions_file, fake_openai):
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai)])
    _run(cfg)
    second = [r for r in fake_openai.requests if len(r["messages"]) == 3]
    assert len(second) == 1
    msgs = second[0]["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == "answer from fake-model to turn 1: Write a haiku about rain."
    assert msgs[2]["content"] == "Now make it sadder."


def test_concurrency_limit_per_endpoint_holds(tmp_path, questions_file, fake_openai):
    fake_openai.delay_s = 0.2
    lines = [json.dumps({"question_id": f"x{i}", "turns": [f"question {i}"]}) for i in range(12)]
    qfile = tmp_path / "many.jsonl"
    qfile.write_text("\n".join(lines) + "\n")
    # two candidates on the same endpoint share its limit
    cfg = write_config(tmp_path, qfile, [_cand(fake_openai, concurrency=3),
                                         _cand(fake_openai, name="m2", concurrency=3)])
    _run(cfg)
    assert len(fake_openai.requests) == 24
    assert fake_openai.max_in_flight == 3


def test_429_with_retry_after_and_500_are_retried(tmp_path, questions_file, fake_openai):
    fake_openai.fail_next(429, headers={"Retry-After": "1"})
    fake_openai.fail_next(500)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai, concurrency=1)],
                       generation={"max_retries": 3, "concurrency": 1})
    ctx = _run(cfg)
    s = ctx.run.info["stages"]["answers"]["models"]["m1"]
    assert s["generated"] == 4 and s["failed"] == 0
    assert len(fake_openai.requests) == 7  # 5 successful + 2 failed attempts
    gap = fake_openai.request_times[1] - fake_openai.request_times[0]
    assert gap >= 0.95  # Retry-After: 1 was honoured
    recs = read_jsonl(tmp_path / "ws" / "answers" / "m1.jsonl")
    assert max(max(r["attempts"]) for r in recs) == 3


def test_400_is_not_retried_and_is_recorded(tmp_path, questions_file, fake_openai):
    fake_openai.fail_next(400)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai, concurrency=1)],
                       generation={"max_retries": 3, "concurrency": 1})
    ctx = _run(cfg)
    s = ctx.run.info["stages"]["answers"]["models"]["m1"]
    assert s["failed"] == 1 and s["generated"] == 3
    # q1 went first and got the 400: not retried, so its second turn was never asked; q2-q4 one request each
    assert len(fake_openai.requests) == 4
    firsts = [r["messages"][0]["content"] for r in fake_openai.requests]
    assert firsts.count("Write a haiku about rain.") == 1
    errors = ctx.run.info["errors"]
    assert len(errors) == 1 and "HTTP 400" in errors[0]["message"]
    # the failed question is retried on the next run, and only it
    n = len(fake_openai.requests)
    ctx2 = _run(cfg)
    assert ctx2.run.info["stages"]["answers"]["models"]["m1"]["generated"] == 1
    assert len(fake_openai.requests) - n == 2  # both turns of q1, nothing else


def test_unreachable_endpoint_fails_fast_with_a_clear_error(tmp_path, questions_file, capsys):
    cand = {"name": "down", "backend": "openai", "model": "x", "base_url": "http://127.0.0.1:9/v1"}
    cfg = write_config(tmp_path, questions_file, [cand], generation={"max_retries": 1, "timeout_s": 2})
    t0 = time.monotonic()
    code = main(["run", "-c", str(cfg), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert "cannot reach http://127.0.0.1:9/v1" in out
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "ws" / "answers" / "down.jsonl").read_text().strip()


def test_api_key_comes_from_env_and_never_reaches_run_files(tmp_path, questions_file, fake_openai, monkeypatch):
    secret = "sk-test-very-secret-value-123"
    monkeypatch.setenv("MY_ARENA_KEY", secret)
    fake_openai.fail_next(401)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai, api_key_env="MY_ARENA_KEY")],
                       generation={"concurrency": 1})
    fake_openai.failures[0].body = {"error": {"message": f"bad key {secret}"}}
    _run(cfg)
    blob = "".join(p.read_text() for p in (tmp_path / "ws").rglob("*") if p.is_file())
    assert secret not in blob and "MY_ARENA_KEY" in blob
    assert "***" in blob  # the echoed key was redacted from the recorded error


def test_missing_key_variable_is_a_clear_error(tmp_path, questions_file, fake_openai, monkeypatch, capsys):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai, api_key_env="NOPE_KEY")])
    assert main(["run", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "set the environment variable NOPE_KEY" in err and "Traceback" not in err
    assert fake_openai.requests == []


@pytest.mark.parametrize("stream", [True, False])
def test_streaming_and_non_streaming_agree(tmp_path, questions_file, fake_openai, stream):
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai)], generation={"stream": stream})
    _run(cfg)
    assert all(bool(r.get("stream")) == stream for r in fake_openai.requests)
    recs = read_jsonl(tmp_path / "ws" / "answers" / "m1.jsonl")
    q2 = next(r for r in recs if r["question_id"] == "q2")
    assert q2["turns"] == ["answer from fake-model to turn 1: What is 2+2?"]
    assert q2["completion_tokens"] == [9]
    assert (q2["ttft_s"][0] is not None) == stream


def test_candidates_sharing_an_endpoint_get_the_smallest_concurrency_any_asks_for(tmp_path, fake_openai):
    fake_openai.delay_s = 0.1
    qfile = tmp_path / "many.jsonl"
    qfile.write_text("".join(json.dumps({"question_id": f"x{i}", "turns": [f"question {i}"]}) + "\n"
                             for i in range(6)))
    # the first candidate asks for 6, the second for 1 because the server cannot take more
    cfg = write_config(tmp_path, qfile, [_cand(fake_openai, concurrency=6), _cand(fake_openai, name="m2",
                                                                                   concurrency=1)])
    _run(cfg)
    assert len(fake_openai.requests) == 12 and fake_openai.max_in_flight == 1


def test_one_server_written_two_ways_still_shares_one_limit(tmp_path, fake_openai):
    """`.../v1/` and `http://localhost:PORT/v1` are the same server as `http://127.0.0.1:PORT/v1`: the smallest
    concurrency holds for all of them (a trailing slash used to give a second, separate limit)."""
    from arena.backends.openai_compat import endpoint_key

    fake_openai.delay_s = 0.1
    qfile = tmp_path / "many.jsonl"
    qfile.write_text("".join(json.dumps({"question_id": f"x{i}", "turns": [f"question {i}"]}) + "\n"
                             for i in range(6)))
    local = fake_openai.base_url.replace("127.0.0.1", "LOCALHOST") + "/"
    cands = [_cand(fake_openai, concurrency=1), _cand(fake_openai, name="m2", concurrency=6),
             {**_cand(fake_openai, name="m3", concurrency=6), "base_url": local}]
    _run(write_config(tmp_path, qfile, cands))
    assert len(fake_openai.requests) == 18 and fake_openai.max_in_flight == 1
    assert endpoint_key(local) == endpoint_key(fake_openai.base_url) != endpoint_key(fake_openai.base_url + "x")
    assert endpoint_key("https://API.openai.com/v1") == endpoint_key("https://api.openai.com:443/v1/")


def test_a_conversation_runs_to_its_end_before_other_first_turns(tmp_path, fake_openai):
    """Turn 2 used to queue behind every other question's turn 1, so an interrupted multi-turn run had saved
    nothing until about half of the stage was done."""
    fake_openai.delay_s = 0.02
    qfile = tmp_path / "two_turns.jsonl"
    qfile.write_text("".join(json.dumps({"question_id": f"x{i}", "turns": [f"first {i}", f"second {i}"]}) + "\n"
                             for i in range(6)))
    cfg = write_config(tmp_path, qfile, [_cand(fake_openai, concurrency=2)])
    _run(cfg)
    sent = [[m["content"] for m in r["messages"] if m["role"] == "user"] for r in fake_openai.requests]
    assert len(sent) == 12
    for k, users in enumerate(sent):
        if len(users) == 1:  # a first turn: its second turn comes before two more first turns have started
            later = sent[k + 1:]
            second = next(j for j, u in enumerate(later) if u[:1] == users and len(u) == 2)
            assert sum(len(u) == 1 for u in later[:second]) <= 1


def test_url_credentials_echoed_by_the_endpoint_are_masked_everywhere(tmp_path, questions_file, fake_openai,
                                                                      capsys):
    import base64

    fake_openai.reply = lambda body: f"seen auth={fake_openai.headers[-1].get('authorization')}"
    url = fake_openai.base_url.replace("http://", "http://alice:Passw0rdXYZ@")
    cfg = write_config(tmp_path, questions_file, [{"name": "c", "backend": "openai", "model": "m",
                                                    "base_url": url}])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    token = base64.b64encode(b"alice:Passw0rdXYZ").decode()
    assert {h["authorization"] for h in fake_openai.headers} == {f"Basic {token}"}  # sent as basic auth
    out = capsys.readouterr()
    texts = [out.out, out.err] + [p.read_text(errors="replace") for p in (tmp_path / "ws").rglob("*") if p.is_file()]
    answers = read_jsonl(tmp_path / "ws" / "answers" / "c.jsonl")
    assert answers and all("seen auth=Basic ***" in a["turns"][0] for a in answers)
    assert not any(token in t or "Passw0rdXYZ" in t for t in texts)


def test_a_query_string_in_base_url_stays_after_the_path(tmp_path, questions_file, fake_openai):
    url = fake_openai.base_url + "?api-version=2024-06-01"
    cfg = write_config(tmp_path, questions_file, [{"name": "c", "backend": "openai", "model": "m", "base_url": url}])
    _run(cfg)
    assert set(fake_openai.paths) == {"/v1/chat/completions?api-version=2024-06-01"}


@pytest.mark.parametrize("value", ["later", "nan", "inf", "Mon, 99 Foo 2026 25:61:00 GMT"])
def test_an_unreadable_retry_after_is_ignored_and_the_usual_backoff_retries(tmp_path, questions_file, fake_openai,
                                                                           value):
    fake_openai.fail_next(429, headers={"Retry-After": value})
    fake_openai.fail_next(503, headers={"Retry-After": value})
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai, concurrency=1)],
                       generation={"max_retries": 3, "concurrency": 1})
    ctx = _run(cfg)
    s = ctx.run.info["stages"]["answers"]["models"]["m1"]
    assert (s["generated"], s["failed"]) == (4, 0) and len(fake_openai.requests) == 7
    assert fake_openai.request_times[2] - fake_openai.request_times[0] < 10  # backoff, not an endless wait


@pytest.mark.parametrize("stream", [True, False])
def test_usage_counts_in_odd_shapes_are_read_or_left_unknown_never_a_crash(tmp_path, questions_file, fake_openai,
                                                                          stream):
    shapes = iter([{"prompt_tokens": "11", "completion_tokens": "7"}, {"prompt_tokens": None, "completion_tokens": -3},
                   {"prompt_tokens": 2.5, "completion_tokens": True}, {"prompt_tokens": 4, "completion_tokens": 5}] * 3)
    fake_openai.usage = lambda body, text: next(shapes)
    cfg = write_config(tmp_path, questions_file, [_cand(fake_openai, concurrency=1)],
                       generation={"concurrency": 1, "stream": stream})
    ctx = _run(cfg)
    s = ctx.run.info["stages"]["answers"]["models"]["m1"]
    assert (s["generated"], s["failed"]) == (4, 0)
    # 5 requests (one question has two turns): "11" is read; None, -3, 2.5 and true are unknown
    assert len(fake_openai.requests) == 5
    assert (s["prompt_tokens"], s["completion_tokens"]) == (11 + 4 + 11, 7 + 5 + 7)
