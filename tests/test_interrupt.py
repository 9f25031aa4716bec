"""Interrupting a run (a real subprocess and a real signal) loses no finished answer and corrupts nothing."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_jsonl, write_config


def _questions(tmp_path: Path, n: int = 16) -> Path:
    path = tmp_path / "q.jsonl"
    rows = [{"question_id": f"x{i:02d}", "category": "stem", "turns": [f"question {i}", f"follow-up {i}"]}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _arena(cfg: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--out", str(out),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_kill_part_way_then_rerun_equals_uninterrupted_run(tmp_path, fake_openai, sig):
    fake_openai.delay_s = 0.2
    cand = {"name": "m1", "backend": "openai", "model": "fake", "base_url": fake_openai.base_url, "concurrency": 2}
    cfg = write_config(tmp_path, _questions(tmp_path), [cand])
    ws_a, ws_b = tmp_path / "interrupted", tmp_path / "straight"
    answers = ws_a / "answers" / "m1.jsonl"
    proc = _arena(cfg, ws_a)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if answers.exists() and answers.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    done_before = len(read_jsonl(answers))
    assert 3 <= done_before < 16, "the run was not interrupted part-way"
    if sig != signal.SIGKILL:
        assert proc.returncode == 130, proc.stderr.read()
        info = json.loads(next((ws_a / "runs").iterdir()).joinpath("run.json").read_text())
        assert info["status"] == "interrupted"
    requests_before = len(fake_openai.requests)
    rerun = _arena(cfg, ws_a)
    assert rerun.wait(timeout=60) == 0, rerun.stderr.read()
    # only the missing questions were asked again (2 turns each; a killed in-flight question restarts)
    assert len(fake_openai.requests) - requests_before <= 2 * (16 - done_before)
    straight = _arena(cfg, ws_b)
    assert straight.wait(timeout=60) == 0
    got = {r["question_id"]: r for r in read_jsonl(answers)}
    want = {r["question_id"]: r for r in read_jsonl(ws_b / "answers" / "m1.jsonl")}
    assert len(read_jsonl(answers)) == 16  # no duplicates
    assert {k: (v["key"], v["turns"]) for k, v in got.items()} == {k: (v["key"], v["turns"]) for k, v in want.items()}


async def _signal_self(seen: list[str]) -> None:
    """SIGTERM to this process from inside a coroutine; `seen` records how the coroutine was stopped."""
    import asyncio
    import os

    try:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs right here, in this coroutine's frame
        seen.append("went on")
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        seen.append("cancelled")
        raise
    except KeyboardInterrupt:
        seen.append("interrupted mid-line")
        raise


def test_sigterm_cancels_the_async_run_instead_of_raising_inside_running_code():
    """SIGTERM inside asyncio.run unwinds like Ctrl-C: the main task is cancelled at its next await and
    KeyboardInterrupt comes out of asyncio.run. Raising KeyboardInterrupt at whatever line was running
    (the old handler) could land in a finalizer (swallowed: the run went on, exit 0) or inside httpx
    clean-up (a RuntimeError: exit 1)."""
    import asyncio

    from arena.backends.vllm_server import install_sigterm_as_keyboard_interrupt

    seen: list[str] = []


    old = signal.getsignal(signal.SIGTERM)
    install_sigterm_as_keyboard_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(_signal_self(seen))
    finally:
        signal.signal(signal.SIGTERM, old)
    assert seen == ["went on", "cancelled"]


def test_sigterm_with_sigint_ignored_still_cancels_the_run_cleanly():
    """A background job of a shell script (`arena run ... &`) starts with SIGINT ignored, so asyncio installs no
    Ctrl-C handler to follow: run_async cancels its main task itself, the same way."""
    import asyncio
    import os

    from arena.interrupts import install_sigterm_as_keyboard_interrupt, run_async

    seen: list[str] = []


    async def swallow() -> str:  # a task that swallows the cancellation still ends in KeyboardInterrupt
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.append("swallowed")
        return "done"

    old_term, old_int = signal.getsignal(signal.SIGTERM), signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_sigterm_as_keyboard_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            run_async(_signal_self(seen))
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            run_async(swallow())
        assert run_async(asyncio.sleep(0, result=7)) == 7  # a later run is not affected
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
    assert seen == ["went on", "cancelled", "swallowed"]


def test_a_background_job_killed_by_sigterm_exits_130_without_tracebacks(tmp_path):
    """`arena run ... &` in a script (SIGINT ignored), then `kill` while answers are in flight: exit 130, the run
    is `interrupted`, and stderr holds the one-line notice, no asyncio tracebacks."""
    # busy demo candidates: the signal lands in running code (an idle loop waiting in select() hid the problem)
    cands = [{"name": f"d{i}", "backend": "demo", "latency_s": 0.0} for i in range(3)]
    cfg = write_config(tmp_path, _questions(tmp_path, 3000), cands)
    answers = tmp_path / "ws" / "answers" / "d0.jsonl"
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); from arena.cli import main; "
            f"sys.exit(main(['run', '-c', {str(cfg)!r}, '--out', {str(tmp_path / 'ws')!r}, '--no-progress']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (answers.exists() and answers.stat().st_size > 20_000):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    info = json.loads(next((tmp_path / "ws" / "runs").iterdir()).joinpath("run.json").read_text())
    assert info["status"] == "interrupted"
    assert "Traceback" not in err and "never retrieved" not in err and "never awaited" not in err, err
    assert "interrupted: finished work is saved" in err
