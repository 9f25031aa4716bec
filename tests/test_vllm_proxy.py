"""A server Arena launched on 127.0.0.1 is never reached through the environment's proxy (HTTP_PROXY pointing
at a dead port here: a request sent through it fails), in `arena run`, `arena bench` and `arena perf`."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import yaml

from arena.backends.openai_compat import env_proxy
from arena.cli import main
from conftest import read_jsonl, write_config

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
pytestmark = pytest.mark.timeout(90)


def _dead_port() -> int:
    with socket.socket() as sock:  # bound then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_proxy(monkeypatch) -> str:
    proxy = f"http://127.0.0.1:{_dead_port()}"
    for var in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    return proxy


def _cand(name: str) -> dict:
    return {"name": name, "backend": "vllm", "model": f"/models/{name}", "command": FAKE,
            "health_timeout_s": 20, "generation": {"stream": False}}


def test_arena_run_talks_to_its_launched_server_directly(tmp_path, questions_file, dead_proxy):
    assert env_proxy("http://llm.example.invalid/v1/chat/completions") == dead_proxy  # the proxy is in force
    cfg = write_config(tmp_path, questions_file, [_cand("direct")])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    recs = read_jsonl(tmp_path / "ws" / "answers" / "direct.jsonl")
    assert len(recs) == 4 and recs[0]["turns"][0].startswith("direct says: ")


def test_arena_bench_talks_to_its_launched_server_directly(tmp_path, dead_proxy):
    data = tmp_path / "t.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "say ok", "answer": "ok"}) + "\n")
    cfg = {"workspace": str(tmp_path / "ws"), "candidates": [_cand("direct")],
           "bench": {"tasks": [{"name": "t", "kind": "exact", "path": str(data), "format": "jsonl"}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["bench", "-c", str(path), "--no-progress"]) == 0
    (result,) = (tmp_path / "ws" / "bench").glob("direct.json")
    assert json.loads(result.read_text())["n"]["t"] == 1


def test_arena_perf_talks_to_its_launched_server_directly(tmp_path, questions_file, dead_proxy, capsys):
    cfg = write_config(tmp_path, questions_file, [_cand("served")])
    assert main(["perf", "--no-progress", "-c", str(cfg), "--requests", "2"]) == 2
    err = capsys.readouterr().err
    # the stand-in server does not stream: its refusal proves the probe reached it (through the dead proxy the
    # probe could not connect at all)
    assert "does not stream" in err and "cannot reach" not in err
    log = (tmp_path / "ws" / "perf" / "logs" / "vllm-served.log").read_text()
    assert "POST /v1/chat/completions" in log


def test_no_proxy_conventions(monkeypatch, dead_proxy):
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8, .internal.example")
    assert env_proxy("http://127.0.0.1:8000/v1") is None and env_proxy("http://localhost:8000/v1") is None
    assert env_proxy("http://[::1]:8000/v1") is None and env_proxy("http://127.5.6.7/v1") is None
    assert env_proxy("http://10.1.2.3:8000/v1") is None  # inside the CIDR block
    assert env_proxy("http://gpu.internal.example/v1") is None
    assert env_proxy("http://11.1.2.3:8000/v1") == dead_proxy
    assert env_proxy("http://llm.example.invalid/v1") == dead_proxy
