"""`arena perf` keeps its figures honest: no prompt sent twice (prefix caches), failed tests fail, the probe
survives one hiccup, URLs with credentials or a query string work as in `arena run`, bad numbers refused."""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI

from arena.backends.vllm_server import find_free_port
from arena.cli import main

PROBE = "Say hello."


def _perf(*args: str) -> int:
    return main(["perf", "--no-progress", *args])


def _doc(ws: Path) -> dict:
    (path,) = sorted((ws / "perf").glob("*.json"))
    return json.loads(path.read_text())


def _sent_prompts(srv: FakeOpenAI) -> list[str]:
    """The prompt of every request but the preflight test request, in arrival order."""
    return [r["messages"][-1]["content"] for r in srv.requests if r["messages"][-1]["content"] != PROBE]


class PathRecordingOpenAI(FakeOpenAI):
    """FakeOpenAI that also records the path (query included) of every GET and POST it receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.all_paths: list[tuple[str, str]] = []
        self.get_auth: list[str | None] = []
        super().__init__(*args, **kwargs)

    def _handler(self) -> type:
        base = super()._handler()
        fake = self

        class Recording(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                fake.all_paths.append(("GET", self.path))
                fake.get_auth.append(self.headers.get("Authorization"))
                self.path = self.path.split("?")[0]  # the fake routes on the bare path
                super().do_GET()

            def do_POST(self) -> None:
                fake.all_paths.append(("POST", self.path))
                self.path = self.path.split("?")[0]
                super().do_POST()

        return Recording


# 1. every request of a test has a prompt of its own (a prefix-caching server would make later levels fast)

@pytest.mark.parametrize("load", [["--concurrency", "2,2,3"], ["--rate", "200,200", "--concurrency", "2"]])
def test_no_prompt_is_sent_twice_in_a_synthetic_sweep(load, tmp_path):
    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", *load, "--requests", "5", "--warmup", "2",
                     "--input-tokens", "24", "--out", str(tmp_path)) == 0
        sent = _sent_prompts(srv)
    levels = len(_doc(tmp_path)["levels"])
    assert len(sent) == levels * (5 + 2)
    assert len(set(sent)) == len(sent), "a prompt was sent twice"
    assert all(len(p.split()) == 23 for p in sent)  # still about --input-tokens tokens each
    assert all(lv["repeated_prompts"] == 0 for lv in _doc(tmp_path)["levels"])


def test_a_question_set_repeats_as_late_as_possible_and_says_so(tmp_path, questions_file, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", "--questions", str(questions_file),
                     "--concurrency", "1,1", "--requests", "3", "--warmup", "0", "--out", str(tmp_path)) == 0
        sent = _sent_prompts(srv)
    first_turns = [q["turns"][0] for q in read_jsonl(questions_file)]
    assert len(first_turns) == 4 and len(sent) == 6
    assert sorted(sent[:4]) == sorted(first_turns)  # the first 4 requests: every question once
    assert sent[4:] == sent[:2]  # then again, in the same order
    doc = _doc(tmp_path)
    assert [lv["repeated_prompts"] for lv in doc["levels"]] == [0, 2]
    assert any("repeat" in n and "4 distinct prompts" in n for n in doc["notes"])
    shown = capsys.readouterr()
    assert "4 distinct prompts" in shown.err and "6 requests" in shown.err  # warned before the load
    assert "2 of 3 measured requests repeated an earlier prompt" in shown.out


def test_warm_up_prompts_are_not_measured_again(tmp_path, questions_file):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", "--questions", str(questions_file),
                     "--concurrency", "1,1", "--requests", "1", "--warmup", "1", "--out", str(tmp_path)) == 0
        sent = _sent_prompts(srv)
    assert len(sent) == 4 and len(set(sent)) == 4  # 4 questions, 4 requests: none sent twice
    assert not any("repeat" in n for n in _doc(tmp_path)["notes"])


# 2. a test in which requests fail is not "completed"; the probe survives one hiccup

def _fail_all_but_probe(body: dict) -> str | None:
    return None if body["messages"][-1]["content"] == PROBE else "truncated"


def test_every_request_failing_is_a_failed_test_exit_1(tmp_path, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.fault_for = _fail_all_but_probe
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1,2", "--requests", "3",
                     "--warmup", "0", "--out", str(tmp_path)) == 1
    doc = _doc(tmp_path)
    assert doc["status"] == "failed"
    assert all(lv["completed"] == 0 and lv["failed"] == 3 for lv in doc["levels"])
    assert all(lv["tokens_source"] == "none" for lv in doc["levels"])
    err = capsys.readouterr().err
    assert "failed" in err and "no request succeeded" in err


def test_a_level_with_no_success_makes_the_test_partial_exit_3(tmp_path, capsys):
    count = [0]

    def second_level_fails(body: dict) -> str | None:
        if body["messages"][-1]["content"] == PROBE:
            return None
        count[0] += 1
        return "truncated" if count[0] > 3 else None  # concurrency 1: the first level's 3 succeed

    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.fault_for = second_level_fails
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1,1", "--requests", "3",
                     "--warmup", "0", "--out", str(tmp_path)) == 3
    doc = _doc(tmp_path)
    assert doc["status"] == "partial" and [lv["completed"] for lv in doc["levels"]] == [3, 0]
    assert doc["levels"][0]["tokens_source"] == "usage" and doc["levels"][1]["tokens_source"] == "none"
    err = capsys.readouterr().err
    assert "partial" in err and "concurrency 1" in err and "no request succeeded" in err


def test_one_transient_error_on_the_probe_is_retried(tmp_path):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.fail_next(503)
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1", "--requests", "2",
                     "--warmup", "0", "--out", str(tmp_path)) == 0
        assert [r["messages"][-1]["content"] for r in srv.requests[:2]] == [PROBE, PROBE]
    assert _doc(tmp_path)["status"] == "completed"


def test_an_endpoint_that_keeps_failing_or_is_down_is_exit_1_not_bad_input(tmp_path, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.fail_next(500, times=20)
        assert _perf("--url", srv.base_url, "--model", "fake", "--out", str(tmp_path)) == 1
        probes = len(srv.requests)
    assert 2 <= probes <= 5  # retried a couple of times, then given up
    assert "failed a test request" in capsys.readouterr().err
    dead = f"http://127.0.0.1:{find_free_port()}/v1"
    assert _perf("--url", dead, "--model", "m", "--out", str(tmp_path)) == 1
    assert "cannot reach" in capsys.readouterr().err
    with FakeOpenAI() as srv:  # a user error stays exit 2: a model the server does not serve
        srv.served_models = ["served-a"]
        assert _perf("--url", srv.base_url, "--model", "nope", "--out", str(tmp_path)) == 2
    assert not (tmp_path / "perf").exists() or not list((tmp_path / "perf").glob("*.json"))


def test_a_vllm_server_that_cannot_launch_is_a_failure_exit_1(tmp_path, questions_file, capsys):
    cand = {"name": "served", "backend": "vllm", "model": "/models/served",
            "command": [str(tmp_path / "no-such-vllm")], "health_timeout_s": 5}
    cfg = write_config(tmp_path, questions_file, [cand])
    assert _perf("-c", str(cfg), "--requests", "2") == 1
    assert "could not launch vLLM server" in capsys.readouterr().err


# 3. URLs: user:password@ becomes basic auth (as in `arena run`), a query string stays a query string

def test_credentials_in_the_url_are_basic_auth_as_in_arena_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PERF_URL_KEY", "sk-perf-url-key-5555")
    with PathRecordingOpenAI(reply=lambda body: "a b c") as srv:
        url = srv.base_url.replace("http://", "http://alice:pw-SECRET-4711@")
        assert _perf("--url", url, "--model", "fake", "--api-key-env", "PERF_URL_KEY", "--concurrency", "1",
                     "--requests", "2", "--warmup", "0", "--out", str(tmp_path)) == 0
        expected = "Basic " + base64.b64encode(b"alice:pw-SECRET-4711").decode()
        assert srv.auth_headers and set(srv.auth_headers) == {expected}
        assert srv.get_auth == [expected]  # the /models listing too
    shown = capsys.readouterr()
    files = "".join(p.read_text() for p in (tmp_path / "perf").iterdir())
    assert "pw-SECRET-4711" not in shown.out + shown.err + files
    assert "sk-perf-url-key-5555" not in shown.out + shown.err + files
    assert _doc(tmp_path)["status"] == "completed"


def test_a_query_string_in_the_url_is_kept_as_a_query(tmp_path, capsys):
    with PathRecordingOpenAI(reply=lambda body: "a b") as srv:
        url = srv.base_url + "/?api_key=qs-SECRET-9931&x=1"
        assert _perf("--url", url, "--model", "fake", "--concurrency", "1", "--requests", "2",
                     "--warmup", "0", "--out", str(tmp_path)) == 0
        paths = set(srv.all_paths)
    assert paths == {("GET", "/v1/models?api_key=qs-SECRET-9931&x=1"),
                     ("POST", "/v1/chat/completions?api_key=qs-SECRET-9931&x=1")}
    shown = capsys.readouterr()
    files = "".join(p.read_text() for p in (tmp_path / "perf").iterdir())
    assert "qs-SECRET-9931" not in shown.out + shown.err + files


def test_the_post_url_is_built_from_the_parts_of_the_base_url():
    from arena.perf.client import ClientSettings

    assert ClientSettings("http://h:1/v1/?k=v", "m").url == "http://h:1/v1/chat/completions?k=v"
    assert ClientSettings("http://h:1/v1", "m", api="completions").url == "http://h:1/v1/completions"


# 4. numbers that cannot be meant are refused before any request

@pytest.mark.parametrize("args, message", [
    (["--input-tokens", "0"], "--input-tokens must be at least 1"),
    (["--input-tokens", "-3"], "--input-tokens must be at least 1"),
    (["--rate", "nan"], "--rate 'nan': give numbers > 0"),
    (["--rate", "inf"], "--rate 'inf': give numbers > 0"),
    (["--rate", "5,inf"], "--rate '5,inf'"),
    (["--duration", "nan"], "--duration must be"),
    (["--timeout", "inf"], "--timeout must be"),
])
def test_impossible_numbers_are_exit_2_before_any_request(args, message, tmp_path, capsys):
    assert not math.isfinite(float("nan"))
    with FakeOpenAI() as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", "--out", str(tmp_path), *args) == 2
        assert srv.requests == []
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1 and "Traceback" not in err


# 5. the demo has no completions endpoint; a stream with no content Arena recognises is not a success

def test_demo_with_the_completions_api_names_the_demo(tmp_path, capsys):
    assert _perf("--demo", "--api", "completions", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "demo server" in err and "/v1/completions" in err and "--model" not in err


def test_replies_without_content_are_counted_as_empty_errors(tmp_path, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.fault_for = lambda body: None if body["messages"][-1]["content"] == PROBE else "empty"
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "2", "--requests", "4",
                     "--warmup", "0", "--out", str(tmp_path)) == 1
    level = _doc(tmp_path)["levels"][0]
    assert level["completed"] == 0 and level["errors"] == {"empty": 4}
    rows = read_jsonl(next((tmp_path / "perf").glob("*.requests.jsonl")))
    assert all(r["error"] == "empty" and r["finish_reason"] == "stop" for r in rows)
    assert "empty 4" in capsys.readouterr().out


def test_a_server_whose_every_reply_is_empty_fails_the_test_with_a_note(tmp_path, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.fault_for = lambda body: "empty"  # the test request too: a stream format Arena does not read
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1", "--requests", "2",
                     "--warmup", "0", "--out", str(tmp_path)) == 1
    doc = _doc(tmp_path)
    assert doc["status"] == "failed" and doc["levels"][0]["errors"] == {"empty": 2}
    assert any("test request's reply had no text" in n for n in doc["notes"])
    assert "without content Arena recognises" in capsys.readouterr().out


def test_some_empty_replies_are_counted_and_the_rest_measured(tmp_path):
    count = [0]

    def every_other(body: dict) -> str | None:
        if body["messages"][-1]["content"] == PROBE:
            return None
        count[0] += 1
        return "empty" if count[0] % 2 else None

    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        srv.fault_for = every_other
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1", "--requests", "6",
                     "--warmup", "0", "--out", str(tmp_path)) == 0
    level = _doc(tmp_path)["levels"][0]
    assert (level["completed"], level["errors"]) == (3, {"empty": 3})
    assert level["ttft_s"]["n"] == 3 and level["output_tokens"]["mean"] == 3


# 6. --from-run takes no load options

@pytest.mark.parametrize("extra", [["--demo"], ["--concurrency", "4"], ["--requests", "9"], ["--warmup", "0"],
                                   ["--input-tokens", "64"]])
def test_from_run_with_load_options_is_refused(extra, tmp_path, capsys):
    run = tmp_path / "ws" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "answers_index.json").write_text("{}")
    assert _perf("--from-run", str(run), *extra) == 2
    err = capsys.readouterr().err
    assert "--from-run" in err and extra[0] in err
    assert not (run / "serving.json").exists()



def test_usage_counts_sent_as_text_are_read_and_odd_ones_left_unknown(tmp_path):
    shapes = iter([{"prompt_tokens": "9", "completion_tokens": "3"}, {"prompt_tokens": 9, "completion_tokens": True}]
                  * 10)
    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        srv.usage = lambda body, text: next(shapes)
        assert _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1", "--requests", "4",
                     "--warmup", "0", "--out", str(tmp_path)) == 0
    level = _doc(tmp_path)["levels"][0]
    assert level["completed"] == 4 and level["output_tokens"]["mean"] == 3  # "3" read; true not taken as 1


def test_the_proxy_from_the_environment_carries_the_load_as_in_arena_run(tmp_path, monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with FakeOpenAI(reply=lambda body: "a b c") as proxy:  # answers forwarded requests itself
        monkeypatch.setenv("http_proxy", proxy.base_url.replace("/v1", ""))
        monkeypatch.setenv("PERF_PROXY_KEY", "sk-perf-proxy-0123456789")
        assert _perf("--url", "http://llm.example.invalid/v1", "--model", "fake", "--api-key-env", "PERF_PROXY_KEY",
                     "--concurrency", "1", "--requests", "3", "--warmup", "0", "--out", str(tmp_path)) == 0
    # llm.example.invalid does not resolve: every request went through the proxy
    assert len(proxy.requests) == 4 and _doc(tmp_path)["levels"][0]["completed"] == 3  # the probe and 3
    assert {h["authorization"] for h in proxy.headers} == {"Bearer sk-perf-proxy-0123456789"}


def test_progress_bars_only_on_a_terminal(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "arena.cli", "perf", "--demo", "--concurrency", "2", "--requests",
                           "6", "--warmup", "0", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "req/s]" not in done.stderr  # a log file gets no bar updates
