"""What a failing vLLM server tells the user: the root cause even when it scrolled out of the log tail, the
exit code once, the right key in hints, and a server that died mid-run named as dead (not "is the server
up?")."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from arena.backends.vllm_server import VLLMServer
from arena.cli import main
from arena.errors import BackendError
from conftest import write_config

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
pytestmark = pytest.mark.timeout(60)


def _server(tmp_path: Path, **kw) -> VLLMServer:
    return VLLMServer(model="/m", served_name="m", log_path=tmp_path / "m.log", command=FAKE,
                      poll_interval=0.05, stop_grace=3.0, **kw)


def test_the_root_cause_above_the_tail_is_shown_and_the_exit_code_once(tmp_path):
    server = _server(tmp_path, env={"FAKE_VLLM_CRASH": "Available memory 1.2 GiB is less than desired",
                                    "FAKE_VLLM_CRASH_NOISE": "40"}, health_timeout=10)
    with pytest.raises(BackendError) as err:
        server.start()
    text = str(err.value)
    log = server.log_path.read_text().splitlines()
    cause = "RuntimeError: Available memory 1.2 GiB is less than desired"
    assert cause in log and log.index(cause) < len(log) - 30  # scrolled out of the 30-line tail
    assert f"first error in the log: {cause}" in text
    assert "See root cause above" in text  # the tail is still there
    assert text.count("exit code") + text.count("with code") == 1 and "exit code: 3" in text


def test_the_timeout_hint_names_the_config_key(tmp_path):
    server = _server(tmp_path, env={"FAKE_VLLM_STARTUP_DELAY": "30"}, health_timeout=0.5)
    with pytest.raises(BackendError) as err:
        server.start()
    assert "raise health_timeout_s (now 0.5 s)" in str(err.value)
    assert "first error in the log" not in str(err.value)  # nothing error-like in this log


def test_a_server_that_dies_during_generation_is_reported_as_dead(tmp_path, questions_file, capsys):
    cand = {"name": "crashy", "backend": "vllm", "model": "/models/crashy", "command": FAKE,
            "health_timeout_s": 20,
            "generation": {"stream": False}, "env": {"FAKE_VLLM_CRASH_AFTER": "3"}}
    cfg = write_config(tmp_path, questions_file, [cand], generation={"concurrency": 1, "max_retries": 1})
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 3  # partial: one answer, then the server died
    run = next((tmp_path / "ws" / "runs").iterdir())
    errors = json.loads((run / "run.json").read_text())["errors"]
    log = run / "logs" / "vllm-crashy.log"
    first = errors[0]["message"]
    assert f"vLLM server for crashy exited with code 7 during generation; log: {log}" in first
    assert "RuntimeError: fake engine core died" in first  # the log tail
    assert not any("is the server up" in e["message"] for e in errors)
    assert "exited with code 7 during generation" in capsys.readouterr().out  # the run's first error, printed
