"""`arena perf` end to end: targets (URL, config candidates, demo), files, bad input before any load, Ctrl-C."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI

from arena.backends.vllm_server import find_free_port
from arena.cli import main

FAKE_VLLM = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
ROOT = Path(__file__).resolve().parents[1]


def _perf(*args: str) -> int:
    return main(["perf", "--no-progress", *args])


def _doc(ws: Path) -> dict:
    (path,) = sorted((ws / "perf").glob("*.json"))
    return json.loads(path.read_text())


def test_url_target_sweep_writes_json_csv_and_requests(tmp_path, capsys):
    with FakeOpenAI(reply=lambda body: "a b c d") as srv:
        code = _perf("--url", srv.base_url, "--model", "fake", "--concurrency", "1,3", "--requests", "6",
                     "--warmup", "1", "--input-tokens", "32", "--max-tokens", "8:16", "--ignore-eos", "--out", str(tmp_path))
        chat = [r for r in srv.requests if r.get("max_tokens") != 4]  # minus the one preflight request
    assert code == 0
    doc = _doc(tmp_path)
    assert doc["status"] == "completed" and [lv["label"] for lv in doc["levels"]] == ["concurrency 1", "concurrency 3"]
    assert all(lv["completed"] == 6 and lv["request_throughput"] > 0 for lv in doc["levels"])
    assert len(chat) == 2 * (6 + 1) and all(8 <= r["max_tokens"] <= 16 and r["ignore_eos"] for r in chat)
    assert all(len(r["messages"][0]["content"].split()) == 31 for r in chat)
    rows = list(csv.DictReader((tmp_path / "perf" / f"{doc['perf_id']}.csv").read_text().splitlines()))
    assert [r["label"] for r in rows] == ["concurrency 1", "concurrency 3"] and rows[0]["target"] == "fake"
    assert float(rows[1]["ttft_s_p50"]) == pytest.approx(doc["levels"][1]["ttft_s"]["p50"])
    assert len(read_jsonl(tmp_path / "perf" / f"{doc['perf_id']}.requests.jsonl")) == 12
    out = capsys.readouterr().out
    assert "concurrency 3" in out and "TTFT p50/p99 ms" in out and "6/6" in out


def test_config_openai_candidate_uses_the_question_set_and_its_key(tmp_path, questions_file, monkeypatch):
    monkeypatch.setenv("PERF_TEST_KEY", "sk-perf-cand-9876")
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        srv.stream_usage = False
        cfg = write_config(tmp_path, questions_file, [
            {"name": "cand", "backend": "openai", "model": "fake", "base_url": srv.base_url,
             "api_key_env": "PERF_TEST_KEY"},
            {"name": "other", "backend": "demo"}])
        assert _perf("-c", str(cfg), "--candidate", "cand", "--concurrency", "2", "--requests", "4") == 0
        prompts = {r["messages"][-1]["content"] for r in srv.requests}
        assert set(srv.auth_headers) == {"Bearer sk-perf-cand-9876"}
    doc = _doc(tmp_path / "ws")
    first_turns = {q["turns"][0] for q in read_jsonl(questions_file)}
    assert prompts - {"Say hello."} <= first_turns and len(prompts) > 1
    assert doc["target"]["name"] == "cand" and doc["levels"][0]["tokens_source"] == "estimated"
    assert any("no token usage" in n for n in doc["notes"])
    assert "sk-perf-cand-9876" not in json.dumps(doc)


def test_demo_target_is_labelled_and_works_offline(tmp_path, capsys):
    assert _perf("--demo", "--concurrency", "2", "--requests", "5", "--warmup", "0", "--out", str(tmp_path)) == 0
    doc = _doc(tmp_path)
    assert doc["target"]["demo"] is True and "DEMO" in doc["target"]["label"]
    assert doc["levels"][0]["completed"] == 5 and doc["levels"][0]["tokens_source"] == "usage"
    assert "DEMO" in capsys.readouterr().out


def test_vllm_candidate_is_launched_and_stopped(tmp_path, questions_file, capsys):
    cand = {"name": "served", "backend": "vllm", "model": "/models/served", "command": FAKE_VLLM,
            "health_timeout_s": 20}
    cfg = write_config(tmp_path, questions_file, [cand])
    assert _perf("-c", str(cfg), "--requests", "2") == 2  # the stand-in server does not stream
    assert "does not stream" in capsys.readouterr().err
    assert (tmp_path / "ws" / "perf" / "logs" / "vllm-served.log").exists()
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "/models/served" not in ps
    assert not list((tmp_path / "ws" / "perf").glob("*.json"))  # nothing measured, nothing written


def test_vllm_target_label_names_url_then_who_launched_it():
    from arena.perf.target import Target

    label = Target(name="served", model="served", kind="vllm", base_url="http://127.0.0.1:8000/v1").label
    assert label == "served (vllm: model 'served' at http://127.0.0.1:8000/v1, launched by Arena)"


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "--concurrency '0': give whole numbers >= 1"),
    (["--concurrency", "1,x"], "--concurrency '1,x'"),
    (["--rate", "5,10", "--concurrency", "1,8"], "takes one number"),
    (["--rate", "-1"], "--rate '-1': give numbers > 0"),
    (["--requests", "0"], "--requests must be greater than 0"),
    (["--max-tokens", "0"], "--max-tokens"),
])
def test_bad_load_options_are_one_message_before_any_request(args, message, tmp_path, capsys):
    with FakeOpenAI() as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", "--out", str(tmp_path), *args) == 2
        assert srv.requests == []
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("error:") == 1


def test_unreachable_url_and_unknown_model_and_no_streaming(tmp_path, capsys):
    dead = f"http://127.0.0.1:{find_free_port()}/v1"
    assert _perf("--url", dead, "--model", "m", "--out", str(tmp_path)) == 1  # endpoint failure, not input
    assert "cannot reach" in capsys.readouterr().err
    with FakeOpenAI() as srv:
        srv.served_models = ["served-a"]
        assert _perf("--url", srv.base_url, "--model", "nope", "--out", str(tmp_path)) == 2
        assert "does not serve model 'nope'; it serves: served-a" in capsys.readouterr().err
        assert srv.requests == []
        srv.served_models, srv.no_stream = None, True
        assert _perf("--url", srv.base_url, "--model", "fake", "--out", str(tmp_path)) == 2
        assert "does not stream" in capsys.readouterr().err and len(srv.requests) == 1  # the one test request
    assert not (tmp_path / "perf").exists() or not list((tmp_path / "perf").glob("*.json"))


def test_target_conflicts_and_the_key_variable(tmp_path, capsys, monkeypatch):
    assert _perf("--demo", "--url", "http://x/v1", "--model", "m") == 2
    assert "name one target" in capsys.readouterr().err
    assert _perf("--url", "http://127.0.0.1:1/v1") == 2
    assert "--url needs --model" in capsys.readouterr().err
    monkeypatch.delenv("PERF_MISSING_KEY", raising=False)
    assert _perf("--url", "http://127.0.0.1:1/v1", "--model", "m", "--api-key-env", "PERF_MISSING_KEY") == 2
    assert "set the environment variable PERF_MISSING_KEY" in capsys.readouterr().err


def test_ctrl_c_keeps_what_was_measured(tmp_path):
    with FakeOpenAI(reply=lambda body: "a b c", delay_s=0.05) as srv:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "perf", "--url", srv.base_url, "--model", "fake",
                                 "--concurrency", "1,2", "--requests", "100000", "--warmup", "0", "--no-progress",
                                 "--out", str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(srv.requests) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    doc = _doc(tmp_path)
    level = doc["levels"][0]
    assert doc["status"] == "interrupted" and level["interrupted"] and level["completed"] >= 5
    assert "(interrupted)" in out and "interrupted" in err
    assert "starts a new test" in err and "same command again to continue" not in err  # nothing resumes a test


def test_rate_sweep_with_a_cap_for_a_duration(tmp_path):
    with FakeOpenAI(reply=lambda body: "a b", delay_s=0.1) as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", "--rate", "20,40", "--concurrency", "3",
                     "--duration", "0.5", "--warmup", "0", "--out", str(tmp_path)) == 0
        assert srv.max_in_flight <= 3
    doc = _doc(tmp_path)
    assert [lv["label"] for lv in doc["levels"]] == ["rate 20/s, max 3 in flight", "rate 40/s, max 3 in flight"]
    assert all(lv["completed"] >= 3 and lv["max_concurrency"] == 3 for lv in doc["levels"])
    assert doc["settings"]["stop"] == {"requests": None, "duration_s": 0.5, "warmup": 0}


def test_prompts_from_a_question_file(tmp_path, questions_file):
    with FakeOpenAI(reply=lambda body: "a") as srv:
        assert _perf("--url", srv.base_url, "--model", "fake", "--questions", str(questions_file), "--concurrency", "1",
                     "--requests", "8", "--warmup", "0", "--out", str(tmp_path)) == 0
        sent = [r["messages"][-1]["content"] for r in srv.requests[1:]]
    first_turns = [q["turns"][0] for q in read_jsonl(questions_file)]
    assert sorted(sent[:4]) == sorted(first_turns) and sent[4:] == sent[:4]  # each once, then again in order
    assert _doc(tmp_path)["settings"]["prompts"] == f"questions from {questions_file} (4 distinct prompts)"


def test_credentials_in_the_url_are_masked_in_output_and_files(tmp_path, capsys):
    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        url = srv.base_url.replace("http://", "http://bob:pw-SECRET-4711@")
        assert _perf("--url", url, "--model", "fake", "--concurrency", "1", "--requests", "2", "--warmup", "0",
                     "--out", str(tmp_path)) == 0
    shown = capsys.readouterr()
    files = "".join(p.read_text() for p in (tmp_path / "perf").iterdir())
    assert "pw-SECRET-4711" not in shown.out + shown.err + files
    assert "http://***@127.0.0.1" in _doc(tmp_path)["target"]["base_url"]
