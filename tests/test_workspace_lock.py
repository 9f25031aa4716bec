"""Two writers, one workspace: the second waits (or stops with --no-wait), a killed holder frees the workspace,
and a run's answer index and judgments always agree (real subprocesses against a real local server)."""
from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI, default_reply

from arena.answers import AnswerStore
from arena.interop.runfiles import RunFiles
from arena.records import content_hash
from arena.workspace_lock import BUSY_EXIT_CODE


def _questions(tmp_path: Path, n: int = 6) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"question_id": f"x{i}", "category": "stem", "turns": [f"question {i}"]})
                            + "\n" for i in range(n)))
    return path


def _arena(cfg: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_run_started(srv: FakeOpenAI, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not srv.requests and proc.poll() is None:
        time.sleep(0.02)
    assert srv.requests, "the first run never reached the server"


def _stderr_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first line the process writes to stderr, or '' when none comes within the timeout."""
    ready, _, _ = select.select([proc.stderr], [], [], timeout)
    return proc.stderr.readline() if ready else ""


def _config(tmp_path: Path, srv: FakeOpenAI) -> Path:
    cand = {"name": "m", "backend": "openai", "model": "m", "base_url": srv.base_url}
    return write_config(tmp_path, _questions(tmp_path), [cand], generation={"concurrency": 1})


def _gated() -> tuple[FakeOpenAI, threading.Event]:
    """A server whose replies wait for the test's signal: the first run holds the workspace until then."""
    gate = threading.Event()

    def reply(req: dict) -> str:
        gate.wait(30)
        return default_reply(req)
    return FakeOpenAI(reply=reply), gate


def test_second_run_waits_and_makes_no_request_twice(tmp_path):
    srv, gate = _gated()
    with srv:
        cfg = _config(tmp_path, srv)
        first = _arena(cfg)
        _first_run_started(srv, first)
        second = _arena(cfg)
        line = _stderr_line(second, timeout=20)  # it says it waits, while the first still holds the workspace
        gate.set()
        assert first.wait(timeout=60) == 0
        assert second.wait(timeout=60) == 0, second.stderr.read()
    run1 = sorted((tmp_path / "ws" / "runs").iterdir())[0].name
    assert line.strip() == (f"workspace {tmp_path / 'ws'} is in use by run {run1} (pid {first.pid} on host "
                            f"{socket.gethostname()}); waiting... (--no-wait to stop at once)")
    assert len(srv.requests) == 6  # one run's worth: the second found every answer cached
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "m.jsonl")) == 6
    assert len(list((tmp_path / "ws" / "runs").iterdir())) == 2


def test_no_wait_stops_at_once_with_the_holder_named(tmp_path):
    srv, gate = _gated()
    with srv:
        cfg = _config(tmp_path, srv)
        first = _arena(cfg)
        _first_run_started(srv, first)
        second = _arena(cfg, "--no-wait")
        code = second.wait(timeout=30)
        still_running = first.poll() is None
        gate.set()
        assert first.wait(timeout=60) == 0
    assert code == BUSY_EXIT_CODE and still_running  # it did not wait for the first run
    err = second.stderr.read()
    assert "is in use by run" in err and f"pid {first.pid}" in err and "waiting" not in err
    assert len(list((tmp_path / "ws" / "runs").iterdir())) == 1  # the refused run left no run folder


def test_a_sigkilled_holder_does_not_block_the_workspace(tmp_path, fake_openai):
    fake_openai.delay_s = 0.3
    cfg = _config(tmp_path, fake_openai)
    first = _arena(cfg)
    _first_run_started(fake_openai, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = _arena(cfg, "--no-wait")
    assert second.wait(timeout=60) == 0, second.stderr.read()


def test_judgments_refer_to_the_answers_the_index_points_to(tmp_path, fake_openai):
    """A second record for a cached key (another writer, a non-deterministic model) never changes which text
    the key stands for: the judge, the viz and the exporters all read the first one."""
    with FakeOpenAI(reply=lambda req: "Final verdict: [[A]]") as judge:
        cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("a", "b")]
        cfg = write_config(tmp_path, _questions(tmp_path, 3), cands, rating={"bootstrap": 10},
                           judge={"mode": "pairwise", "model": "j", "base_url": judge.base_url, "verdict": "3way"})
        assert _arena(cfg).wait(timeout=60) == 0
        answers = tmp_path / "ws" / "answers" / "a.jsonl"
        first = read_jsonl(answers)[0]
        with answers.open("a") as fh:  # what a concurrent writer left: the same key, another text
            fh.write(json.dumps({**first, "turns": ["a different sample"], "run_id": "other"}) + "\n")
        calls = len(judge.requests)
        assert _arena(cfg).wait(timeout=60) == 0
        assert len(judge.requests) == calls  # every judgment of the first text is reused: nothing re-judged
    run2 = sorted((tmp_path / "ws" / "runs").iterdir())[-1]
    index = json.loads((run2 / "answers_index.json").read_text())
    assert index["a"][first["question_id"]] == first["key"]
    assert AnswerStore(tmp_path / "ws" / "answers").load("a")[first["key"]]["turns"] == first["turns"]
    assert RunFiles.open(run2).answer_text("a", first["question_id"]) == first["turns"][0]
    hashes = {h for r in read_jsonl(run2 / "judgments.jsonl") if r["question_id"] == first["question_id"]
              for h in (r["answer_a_hash"], r["answer_b_hash"])}
    assert content_hash(first["turns"]) in hashes and content_hash(["a different sample"]) not in hashes


def test_import_into_a_held_workspace_waits_or_stops(tmp_path, capsys):
    from arena.cli import main
    from arena.workspace_lock import workspace_lock

    battles = tmp_path / "battles.json"
    battles.write_text(json.dumps([{"question_id": f"q{i}", "model_a": "alpha", "model_b": "bravo", "turn": 1,
                                    "winner": ("model_a", "model_b")[i % 2]} for i in range(4)]))
    ws = tmp_path / "ws"
    argv = ["import", "chatbot-arena", str(battles), "--workspace", str(ws), "--bootstrap", "5"]
    with workspace_lock(ws) as held:
        held.set_run("20260101-000000-weekly")
        assert main([*argv, "--no-wait"]) == BUSY_EXIT_CODE
        assert "is in use by run 20260101-000000-weekly" in capsys.readouterr().err
        assert not (ws / "runs").exists()
    assert main([*argv, "--no-wait"]) == 0
