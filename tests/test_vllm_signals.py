"""A lost terminal (SIGHUP) stops `arena run` like Ctrl-C: its vLLM servers are stopped, run.json is finished.

The servers run in their own session, so the hang-up reaches only the arena; before, SIGHUP's default action
killed the arena on the spot and the servers (and a `running` run.json) were left behind."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import write_config

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(90)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _server_pids(logs: Path) -> list[int]:
    pids = []
    for log in logs.glob("vllm-*.log"):
        pids += [int(m) for m in re.findall(r"Started server process \[(\d+)\]", log.read_text())]
    return pids


def _start(tmp_path: Path, questions_file: Path, tty: bool) -> tuple[subprocess.Popen, int | None]:
    """`arena run` with two vLLM candidates (slow replies) in a subprocess; on a pseudo-terminal that is its
    controlling terminal when `tty` (closing the master side is then a real hang-up)."""
    cands = [{"name": n, "backend": "vllm", "model": f"/models/{n}", "command": FAKE, "gpus": [i],
              "health_timeout_s": 20, "generation": {"stream": False},
              "env": {"FAKE_VLLM_REPLY_DELAY": "1.5"}}
             for i, n in enumerate(("hup-a", "hup-b"))]
    cfg = write_config(tmp_path, questions_file, cands, generation={"concurrency": 1})
    argv = [sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if not tty:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env), None
    master, slave = pty.openpty()

    def take_terminal() -> None:  # runs in the child after setsid: the pty becomes its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                            preexec_fn=take_terminal)
    os.close(slave)
    return proc, master


@pytest.mark.parametrize("tty", [True, False], ids=["terminal-closed", "kill-HUP"])
def test_sighup_stops_the_servers_and_finishes_the_run(tmp_path, questions_file, tty):
    proc, master = _start(tmp_path, questions_file, tty)
    ws = tmp_path / "ws"
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(pids) < 2:
            runs = list((ws / "runs").glob("*/logs")) if (ws / "runs").exists() else []
            pids = _server_pids(runs[0]) if runs else []
            if master is not None:  # keep the terminal's buffer drained
                try:
                    fcntl.fcntl(master, fcntl.F_SETFL, os.O_NONBLOCK)
                    os.read(master, 65536)
                except OSError:
                    pass
            time.sleep(0.1)
        assert len(pids) == 2, "the servers did not come up"
        time.sleep(0.5)  # mid-generation: replies take 1.5 s each
        assert proc.poll() is None and all(_alive(p) for p in pids)
        if master is not None:
            os.close(master)  # the terminal goes away: the kernel sends SIGHUP to the arena
            master = None
        else:
            proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in pids if _alive(p)], "a vLLM server outlived the hung-up arena"
        info = json.loads(next((ws / "runs").iterdir()).joinpath("run.json").read_text())
        assert info["status"] == "interrupted"
        if not tty:
            assert proc.returncode == 130
    finally:
        if master is not None:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
        for pid in pids:
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)


def test_a_run_started_with_nohup_survives_the_hang_up(tmp_path, questions_file):
    """`nohup arena run ...` ignores SIGHUP before Arena starts: the run must go on to its end (a hang-up handler
    installed over it would stop every nohup'd run when its terminal closes)."""
    cand = {"name": "d", "backend": "demo", "latency_s": 0.4}
    cfg = write_config(tmp_path, questions_file, [cand], generation={"concurrency": 1})
    argv = ["nohup", sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not list((tmp_path / "ws" / "runs").glob("*/run.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "the run ended before the hang-up"
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    info = json.loads(next((tmp_path / "ws" / "runs").iterdir()).joinpath("run.json").read_text())
    assert info["status"] == "completed"
