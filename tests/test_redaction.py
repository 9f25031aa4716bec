"""Secrets never reach a message, a log or a run file: one redaction function, applied before any cut."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import yaml
from conftest import write_config
from openai_server import Failure, FakeOpenAI

from arena.backends.base import GenParams
from arena.backends.openai_compat import OpenAICompatible
from arena.backends.retry import RetryPolicy
from arena.bench.cli import main as bench_main
from arena.cli import main
from arena.config import load_config
from arena.errors import ArenaError
from arena.redaction import redact, redact_data, shorten

FAKE_VLLM = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]


def _pieces(secret: str, n: int = 6) -> list[str]:
    """Every n-character piece of a secret: none of them may survive redaction."""
    return [secret[i:i + n] for i in range(len(secret) - n + 1)]


def test_redact_masks_url_credentials_bearer_tokens_and_key_variables(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "ds-live-4242424242")
    monkeypatch.setenv("TEAM_JUDGE_TOKEN", "tok-9876543210")
    text = ("GET http://alice:hunter2pw@10.0.0.1:8000/v1?api_key=qq-123456 failed; "
            "Authorization: Bearer abcdef123456; key ds-live-4242424242 and tok-9876543210")
    out = redact(text)
    for secret in ("hunter2pw", "alice", "qq-123456", "abcdef123456", "ds-live-4242424242", "tok-9876543210"):
        assert secret not in out, secret
    assert "http://***@10.0.0.1:8000/v1" in out  # the host stays readable
    assert redact("plain text with port 8000 and 0") == "plain text with port 8000 and 0"
    assert redact_data({"u": ["https://u:p4ssw0rd@h/v1"], "n": 3}) == {"u": ["https://***@h/v1"], "n": 3}


def test_shorten_redacts_before_cutting_so_no_half_key_survives():
    key = "sk-straddle-0123456789abcdefghijklmnopqrstuvwxyz"
    text = "P" * 280 + key + " tail"  # the 300-character cut falls inside the key
    out = shorten(text, 300, key)
    assert all(p not in out for p in _pieces(key)) and len(out) <= 300


def test_key_echoed_across_the_300_character_cut_is_not_in_the_error():
    key = "sk-straddle-0123456789abcdefghijklmnopqrstuvwxyz"
    with FakeOpenAI() as srv:
        srv.failures.append(Failure(400, {}, {"error": {"message": "P" * 250 + key}}))  # cut lands in the key
        backend = OpenAICompatible(name="c", model="m", base_url=srv.base_url, api_key=key,
                                   retry=RetryPolicy(max_retries=0))
        params = GenParams(temperature=0.0, max_tokens=5, stream=False)
        try:
            asyncio.run(backend.generate([{"role": "user", "content": "hi"}], params))
        except ArenaError as exc:
            message = str(exc)
        else:
            raise AssertionError("the scripted 400 should fail the call")
        assert srv.auth_headers == [f"Bearer {key}"]  # the key was sent to its own host
    assert "HTTP 400" in message and all(p not in message for p in _pieces(key))


def test_url_credentials_stay_out_of_errors_printed_and_run_json(tmp_path, questions_file, capsys):
    cand = {"name": "down", "backend": "openai", "model": "x", "base_url": "http://bob:hunter2secret@127.0.0.1:9/v1"}
    cfg = write_config(tmp_path, questions_file, [cand], generation={"max_retries": 0, "timeout_s": 2})
    main(["run", "-c", str(cfg), "--no-progress"])
    printed = capsys.readouterr()
    run_json = next((tmp_path / "ws" / "runs").glob("*/run.json")).read_text()
    assert "cannot reach" in printed.out + run_json  # the error is there, told ...
    for where in (printed.out, printed.err, run_json):
        assert "hunter2secret" not in where and "bob:" not in where  # ... without the credentials


def test_bench_run_json_masks_vllm_env_and_url_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)  # a value only the config holds
    token = "hf_NotInTheEnvironment0123456789"
    data = tmp_path / "t.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "say ok", "answer": "ok"}) + "\n")
    with FakeOpenAI(reply=lambda r: "ok") as srv:
        cfg = {"workspace": str(tmp_path / "ws"),
               "candidates": [
                   {"name": "v", "backend": "vllm", "model": "/models/v", "command": FAKE_VLLM,
                    "health_timeout_s": 20, "generation": {"stream": False},
                    "env": {"HF_TOKEN": token, "OTHER": "value-of-other"}},
                   {"name": "o", "backend": "openai", "model": "m",
                    "base_url": srv.base_url.replace("http://", "http://carol:s3cr3t-pw@")}],
               "bench": {"tasks": [{"name": "t", "kind": "exact", "path": str(data), "format": "jsonl"}]}}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        bench_main(["-c", str(path), "--no-progress"])
    run_json = next((tmp_path / "ws" / "runs").glob("*/run.json")).read_text()
    resolved = json.loads(run_json)["config"]
    assert set(resolved["candidates"][0]["env"]) == {"HF_TOKEN", "OTHER"}  # names kept, values gone
    assert token not in run_json and "value-of-other" not in run_json and "s3cr3t-pw" not in run_json


def test_panel_member_with_its_own_base_url_does_not_get_the_sections_key(tmp_path, questions_file, fake_openai,
                                                                          monkeypatch):
    from test_judge_stage import _cands, prefer

    key = "sk-section-key-for-the-first-host-only"
    monkeypatch.setenv("SECTION_JUDGE_KEY", key)
    with FakeOpenAI(reply=prefer("good")) as home, FakeOpenAI(reply=prefer("good")) as other:
        panel = [{"name": "home"}, {"name": "other", "base_url": other.base_url},
                 {"name": "home-again", "base_url": home.base_url + "/"},
                 {"name": "openai", "base_url": None}]  # null is the OpenAI API: not the section's host either
        judge = {"mode": "pairwise", "model": "j", "base_url": home.base_url, "api_key_env": "SECTION_JUDGE_KEY",
                 "panel": panel}
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge=judge, rating={"bootstrap": 0})
        members = {m.label: m for m in load_config(cfg).judge.members()}
        assert members["other"].api_key_env is None and members["home-again"].api_key_env == "SECTION_JUDGE_KEY"
        assert members["openai"].api_key_env is None and members["home"].api_key_env == "SECTION_JUDGE_KEY"
        panel.pop()  # the run itself stays on the two local hosts
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge=judge, rating={"bootstrap": 0})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
        assert other.requests and home.requests
        assert not any(h and key in h for h in other.auth_headers)  # the key stayed with its host
        assert set(home.auth_headers) == {f"Bearer {key}"}


def test_only_secret_named_vllm_env_values_mask_log_text(tmp_path, questions_file):
    """HF_TOKEN's value is masked everywhere; an ordinary setting like VLLM_HOST_IP must not blank every local URL."""
    token = "hf_OnlyInTheConfigEnv0123456789abc"
    cand = {"name": "v", "backend": "vllm", "model": "/models/v", "command": FAKE_VLLM,
            "env": {"HF_TOKEN": token, "VLLM_HOST_IP": "127.0.0.1", "NOTE": "CUDA out of memory"}}
    load_config(write_config(tmp_path, questions_file, [cand]))
    text = redact(f"GET http://127.0.0.1:8000/health failed: CUDA out of memory (token {token})")
    assert "http://127.0.0.1:8000/health" in text and "CUDA out of memory" in text
    assert token not in text


def test_endpoints_that_echo_their_key_do_not_get_it_stored_or_passed_on(tmp_path, questions_file, monkeypatch):
    """A candidate that puts its own key into its answer, and a judge that quotes its key in its reply: neither
    key is in any workspace file, and the candidate's key never reaches the judge's host."""
    cand_key, judge_key = "sk-cand-echo-key-0123456789", "sk-judge-echo-key-9876543210"
    monkeypatch.setenv("ECHO_CAND_KEY", cand_key)
    monkeypatch.setenv("ECHO_JUDGE_KEY", judge_key)
    with FakeOpenAI(reply=lambda body: f"answer from {body['model']} : my key is {cand_key}") as cands, \
            FakeOpenAI(reply=lambda body: f"(auth was Bearer {judge_key}) Final verdict: [[A>B]]") as judge:
        cfg = write_config(tmp_path, questions_file,
                           [{"name": n, "backend": "openai", "model": n, "base_url": cands.base_url,
                             "api_key_env": "ECHO_CAND_KEY"} for n in ("x", "y")],
                           judge={"mode": "pairwise", "model": "j", "base_url": judge.base_url, "verdict": "5way",
                                  "api_key_env": "ECHO_JUDGE_KEY"}, rating={"bootstrap": 0})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
        prompts = json.dumps(judge.requests)
    assert judge.requests and cand_key not in prompts and "my key is ***" in prompts
    stored = "".join(p.read_text(errors="replace") for p in (tmp_path / "ws").rglob("*") if p.is_file())
    assert cand_key not in stored and judge_key not in stored and "my key is ***" in stored
