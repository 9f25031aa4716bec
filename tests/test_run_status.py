"""A run's status says what happened: failed / partial runs exit non-zero, killed runs show as killed
(real local servers, real subprocesses, the real app through streamlit.testing)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import write_config
from openai_server import FakeOpenAI
from streamlit.testing.v1 import AppTest

from arena.cli import main
from arena.run_status import EXIT_CODES, decide_outcome, process_identity, shown_status

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
DOWN = "http://127.0.0.1:9/v1"  # nothing listens on the discard port


def _cand(name: str, url: str) -> dict:
    return {"name": name, "backend": "openai", "model": name, "base_url": url}


def _judge(srv: FakeOpenAI) -> dict:
    return {"mode": "pairwise", "model": "j", "base_url": srv.base_url, "verdict": "3way", "concurrency": 2}


def _run_json(ws: Path) -> dict:
    return json.loads(next((ws / "runs").iterdir()).joinpath("run.json").read_text())


@pytest.fixture
def judge_srv():
    with FakeOpenAI(reply=lambda req: "Both are fine. Final verdict: [[A]]") as srv:
        yield srv


def _no_retries(tmp_path, questions_file, cands, **extra) -> Path:
    return write_config(tmp_path, questions_file, cands, generation={"max_retries": 0, "timeout_s": 2}, **extra)


def test_unreachable_candidate_without_a_leaderboard_fails_with_exit_1(tmp_path, questions_file, fake_openai,
                                                                       judge_srv, capsys):
    cfg = _no_retries(tmp_path, questions_file, [_cand("up", fake_openai.base_url), _cand("down", DOWN)],
                      judge=_judge(judge_srv), rating={"bootstrap": 10})
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 1
    info = _run_json(tmp_path / "ws")
    assert info["status"] == "failed"
    assert any("candidate down has no answers" in r for r in info["status_reasons"])
    assert any("no leaderboard" in r or "no battles" in r for r in info["status_reasons"])
    assert "run failed" in capsys.readouterr().err


def test_a_wholly_failed_candidate_beside_a_leaderboard_is_partial_exit_3(tmp_path, questions_file, fake_openai,
                                                                          judge_srv):
    cands = [_cand("a", fake_openai.base_url), _cand("b", fake_openai.base_url), _cand("down", DOWN)]
    cfg = _no_retries(tmp_path, questions_file, cands, judge=_judge(judge_srv), rating={"bootstrap": 10})
    assert main(["run", "-c", str(cfg), "--no-progress"]) == EXIT_CODES["partial"] == 3
    info = _run_json(tmp_path / "ws")
    assert info["status"] == "partial" and info["status_reasons"] == ["candidate down has no answers (4 failed)"]
    assert next((tmp_path / "ws" / "runs").iterdir()).joinpath("leaderboard.json").exists()


def test_a_healthy_run_is_completed_exit_0(tmp_path, questions_file, fake_openai, judge_srv):
    cands = [_cand("a", fake_openai.base_url), _cand("b", fake_openai.base_url)]
    cfg = write_config(tmp_path, questions_file, cands, judge=_judge(judge_srv), rating={"bootstrap": 10})
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    info = _run_json(tmp_path / "ws")
    assert info["status"] == "completed" and "status_reasons" not in info


def test_failed_judgments_make_the_run_partial(tmp_path, questions_file, fake_openai, judge_srv):
    judge_srv.fail_next(400)
    cands = [_cand("a", fake_openai.base_url), _cand("b", fake_openai.base_url)]
    cfg = write_config(tmp_path, questions_file, cands, judge=_judge(judge_srv), rating={"bootstrap": 10})
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 3
    assert _run_json(tmp_path / "ws")["status_reasons"] == ["judge j: 1 judgments failed, 0 unparsed"]


def test_bench_run_without_any_score_is_failed():
    info = {"kind": "bench", "config": {"bench": {"tasks": []}, "judge": {"mode": "pairwise"}},
            "stages": {"answers": {"models": {"m": {"questions": 5, "cached": 0, "generated": 5, "failed": 0}}},
                       "bench": {"models": {"m": {"math": {"accuracy": None, "n": 0, "missing": 5}}}}}}
    assert decide_outcome(info)[0] == "failed"
    info["stages"]["bench"]["models"]["m"]["math"]["accuracy"] = 0.4
    assert decide_outcome(info) == ("completed", [])  # a judge section in a bench run's config is not its product


def _app(ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_app_explains_a_failed_run_instead_of_calling_it_a_benchmark_run(tmp_path, questions_file, fake_openai,
                                                                         judge_srv, monkeypatch):
    cfg = _no_retries(tmp_path, questions_file, [_cand("up", fake_openai.base_url), _cand("down", DOWN)],
                      judge=_judge(judge_srv), rating={"bootstrap": 10})
    main(["run", "-c", str(cfg), "--no-progress"])
    at = _app(tmp_path / "ws", monkeypatch)
    shown = "\n".join(e.value for e in [*at.error, *at.info, *at.warning, *at.caption])
    assert "objective-benchmark" not in shown
    assert "failed: no battles or scores came out of the judge stage" in shown and "candidate down has no answers" in shown


def _slow_run(tmp_path: Path, questions_file: Path, srv: FakeOpenAI) -> tuple[subprocess.Popen, Path]:
    srv.delay_s = 0.5
    cfg = write_config(tmp_path, questions_file, [_cand("m", srv.base_url)], generation={"concurrency": 1})
    proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not srv.requests:
        time.sleep(0.02)
    return proc, next((tmp_path / "ws" / "runs").iterdir())


def test_sigkilled_run_shows_as_killed_in_cli_and_app(tmp_path, questions_file, fake_openai, monkeypatch, capsys):
    proc, run_dir = _slow_run(tmp_path, questions_file, fake_openai)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "running" and info["process"]["pid"] == proc.pid
    assert info["process"]["host"] == socket.gethostname()
    assert main(["runs", str(tmp_path / "ws")]) == 0
    assert f"{run_dir.name}" in (out := capsys.readouterr().out) and "running" in out and "killed" not in out
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # nobody could write it
    assert main(["runs", str(tmp_path / "ws")]) == 0
    assert "killed" in capsys.readouterr().out
    at = _app(tmp_path / "ws", monkeypatch)
    assert any("was killed" in e.value and str(proc.pid) in e.value for e in at.error)
    assert "status killed" in "\n".join(c.value for c in at.caption)


def test_running_elsewhere_and_a_reused_pid_are_told_apart():
    me = process_identity()
    assert shown_status({"status": "running", "process": me}) == "running"
    assert shown_status({"status": "running", "process": {**me, "host": "gpu-box-7"}}) == \
        "running (on host gpu-box-7)"
    if me["start_ticks"] is not None:  # the same pid, started at another time: another process
        assert shown_status({"status": "running", "process": {**me, "start_ticks": me["start_ticks"] - 1}}) == "killed"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert shown_status({"status": "running", "process": {**me, "pid": child.pid}}) == "killed"
    assert shown_status({"status": "completed", "process": {**me, "pid": os.getpid()}}) == "completed"


def test_bench_run_with_an_unreachable_candidate_is_failed_exit_1(tmp_path):
    from types import SimpleNamespace

    from test_bench_run import _config as bench_config

    from arena.bench.cli import main as bench_main

    cfg = bench_config(tmp_path, SimpleNamespace(base_url=DOWN), timeout_s=2)
    data = yaml.safe_load(cfg.read_text())
    data["generation"]["max_retries"] = 0
    cfg.write_text(yaml.safe_dump(data))
    assert bench_main(["-c", str(cfg), "--no-progress"]) == 1
    info = _run_json(tmp_path / "ws")
    assert info["kind"] == "bench" and info["status"] == "failed"
    assert "no candidate produced an answer" in info["status_reasons"][0]


@pytest.mark.parametrize("command", ["run", "runs"])
def test_a_reader_that_stops_early_changes_no_exit_code_and_prints_no_error(tmp_path, questions_file, command):
    cands = [{"name": n, "backend": "demo", "quality": q, "seed": k} for k, (n, q) in enumerate((("a", .8), ("b", .3)))]
    cfg = write_config(tmp_path, questions_file, cands, judge={"mode": "pairwise", "model": "gpt-4o"},
                       rating={"bootstrap": 10})
    subprocess.run([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--dry-run", "--no-progress"],
                   cwd=tmp_path, capture_output=True, check=True, timeout=120)
    args = ["run", "-c", str(cfg), "--dry-run", "--no-progress"] if command == "run" else ["runs", str(tmp_path / "ws")]
    proc = subprocess.Popen([sys.executable, "-m", "arena.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert "BrokenPipe" not in err and "error" not in err.lower(), err
    assert code == (0 if command == "run" else 141)  # a finished run keeps its own exit code
    if command == "run":
        assert len(list((tmp_path / "ws" / "runs").iterdir())) == 2
