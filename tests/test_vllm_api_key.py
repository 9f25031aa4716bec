"""A launched vLLM server protected by a key (`api_key_env`): the key reaches the server only through its
environment (VLLM_API_KEY), never its command line; Arena sends it; it is in no file or message. An inherited
VLLM_API_KEY (meant for some other server) is not passed on to a launched server without api_key_env."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from arena.backends.vllm_server import VLLMServer
from arena.cli import main
from arena.errors import BackendError
from conftest import read_jsonl, write_config

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
KEY = "sk-launched-vllm-key-0123456789"
pytestmark = pytest.mark.timeout(60)


def _vllm(**kw) -> dict:
    return {"name": "guarded", "backend": "vllm", "model": "/models/guarded", "command": FAKE,
            "health_timeout_s": 20, "generation": {"stream": False}, **kw}


def _files_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_api_key_env_protects_the_server_and_the_key_is_sent_but_never_shown(tmp_path, questions_file,
                                                                             monkeypatch, capsys):
    monkeypatch.setenv("GUARD_KEY", KEY)
    cfg = write_config(tmp_path, questions_file, [_vllm(api_key_env="GUARD_KEY")])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr()
    recs = read_jsonl(tmp_path / "ws" / "answers" / "guarded.jsonl")
    assert len(recs) == 4 and recs[0]["turns"][0].startswith("guarded says: ")
    log = next((tmp_path / "ws" / "runs").glob("*/logs/vllm-guarded.log")).read_text()
    assert "API key required on /v1" in log  # the fake answers 401 to a request without `Bearer KEY`
    assert KEY not in log  # not on the command line the server logs
    assert KEY not in _files_text(tmp_path / "ws") and KEY not in out.out + out.err
    info = json.loads(next((tmp_path / "ws" / "runs").glob("*/run.json")).read_text())
    assert info["config"]["candidates"][0]["api_key_env"] == "GUARD_KEY"


def test_api_key_env_that_is_not_set_stops_before_anything_runs(tmp_path, questions_file, monkeypatch,
                                                                capsys):
    monkeypatch.delenv("GUARD_KEY", raising=False)
    cands = [{"name": "d", "backend": "demo"}, _vllm(api_key_env="GUARD_KEY")]
    cfg = write_config(tmp_path, questions_file, cands)
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no API key found" in err and "GUARD_KEY" in err
    assert not (tmp_path / "ws" / "answers" / "d.jsonl").exists()  # checked before the demo candidate answered
    assert not (tmp_path / "ws" / "runs").exists()  # and before a run folder exists


def test_an_inherited_vllm_api_key_is_not_passed_to_a_launched_server(tmp_path, questions_file, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", KEY)  # e.g. exported for a remote server; Arena never sends it here
    cfg = write_config(tmp_path, questions_file, [_vllm()])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "guarded.jsonl")) == 4
    log = next((tmp_path / "ws" / "runs").glob("*/logs/vllm-guarded.log")).read_text()
    assert "API key required" not in log


def test_inherited_vllm_api_key_is_used_when_api_key_env_names_it(tmp_path, questions_file, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    cfg = write_config(tmp_path, questions_file, [_vllm(api_key_env="VLLM_API_KEY")])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    log = next((tmp_path / "ws" / "runs").glob("*/logs/vllm-guarded.log")).read_text()
    assert "API key required on /v1" in log
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "guarded.jsonl")) == 4


def test_a_key_in_extra_args_of_a_server_built_in_code_is_masked_in_its_start_up_error(tmp_path):
    server = VLLMServer(model="/m", served_name="m", log_path=tmp_path / "m.log", command=FAKE,
                        extra_args=["--api-key", "sk-argv-key-0123456789", "--api-key=abc12"],
                        env={"FAKE_VLLM_CRASH": "boom"}, health_timeout=10, poll_interval=0.05)
    with pytest.raises(BackendError) as err:
        server.start()
    text = str(err.value)
    assert "command:" in text and "--api-key ***" in text and "--api-key=***" in text
    assert "sk-argv-key" not in text and "abc12" not in text


def test_bench_loglikelihood_sends_the_key_to_its_launched_server(tmp_path, monkeypatch):
    import yaml

    monkeypatch.setenv("GUARD_KEY", KEY)
    data = tmp_path / "mc.jsonl"
    data.write_text(json.dumps({"id": "q0", "question": {"stem": "The sky is", "choices": [
        {"label": "A", "text": "blue"}, {"label": "B", "text": "green"}]}, "answerKey": "A"}) + "\n")
    cfg = {"workspace": str(tmp_path / "ws"), "candidates": [_vllm(api_key_env="GUARD_KEY")],
           "bench": {"tasks": [{"name": "mc", "kind": "choice", "method": "loglikelihood", "path": str(data),
                                "format": "arc"}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["bench", "-c", str(path), "--no-progress"]) == 0
    assert json.loads((tmp_path / "ws" / "bench" / "guarded.json").read_text())["n"]["mc"] == 1
    assert KEY not in _files_text(tmp_path / "ws")


def test_arena_perf_sends_the_key_to_its_launched_server(tmp_path, questions_file, monkeypatch, capsys):
    """The stand-in server does not stream, so the load test stops at its probe: with the key the probe is
    answered (and refused as not streaming); without it, it would be HTTP 401."""
    monkeypatch.setenv("GUARD_KEY", KEY)
    cfg = write_config(tmp_path, questions_file, [_vllm(api_key_env="GUARD_KEY")])
    assert main(["perf", "--no-progress", "-c", str(cfg), "--requests", "2"]) == 2
    out = capsys.readouterr()
    assert "does not stream" in out.err and "401" not in out.err
    assert KEY not in out.out + out.err
