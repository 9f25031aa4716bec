"""VLLMServer against a real stand-in subprocess (tests/fake_vllm_serve.py) on 127.0.0.1."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from arena.backends.vllm_server import (
    VLLMServer,
    find_free_port,
    plan_waves,
    read_log_tail,
)
from arena.errors import BackendError, ConfigError

FAKE = [sys.executable, str(Path(__file__).with_name("fake_vllm_serve.py").resolve())]
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(30)  # a broken stop() hangs: fail fast instead


def alive(pid: int) -> bool:
    """True if `pid` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """Wait until `pid` is gone; True if it went."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def make(tmp_path: Path, env: dict[str, str] | None = None, **kw: object) -> VLLMServer:
    """A server on the fake executable with short timeouts."""
    kw.setdefault("health_timeout", 10.0)
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("stop_grace", 3.0)
    return VLLMServer(model="/models/tiny-qwen", served_name="tiny", log_path=tmp_path / "logs" / "tiny.log",
                      command=FAKE, env=env, **kw)  # type: ignore[arg-type]


def test_start_waits_for_health_and_serves_chat(tmp_path: Path) -> None:
    port = find_free_port()
    server = make(tmp_path, env={"FAKE_VLLM_STARTUP_DELAY": "0.4", "FAKE_VLLM_MARKER": "m1"}, port=port,
                  gpus=[2, 3], tensor_parallel_size=2,
                  extra_args=["--max-model-len", "1024", "--enforce-eager"])
    with server:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        # no retry here: start() must only return once the server answers
        reply = httpx.post(f"{server.base_url}/chat/completions", timeout=5,
                           json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 200
        body = reply.json()
        assert body["model"] == "tiny"
        assert body["choices"][0]["message"]["content"] == "tiny says: hi"
        models = httpx.get(f"{server.base_url}/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == ["tiny"]
        info = httpx.get(f"http://127.0.0.1:{port}/fake/info", timeout=5).json()
        pid = server.pid
    assert info["argv"] == [FAKE[1], "/models/tiny-qwen", "--host", "127.0.0.1", "--port", str(port),
                                "--served-model-name", "tiny", "--tensor-parallel-size", "2",
                                "--max-model-len", "1024", "--enforce-eager"]
    assert info["cuda_visible_devices"] == "2,3"
    assert info["env_marker"] == "m1"
    assert info["unknown_args"] == ["--max-model-len", "1024", "--enforce-eager"]
    log = (tmp_path / "logs" / "tiny.log").read_text()
    assert "CUDA_VISIBLE_DEVICES=2,3" in log and "loading weights" in log and "/models/tiny-qwen" in log
    assert pid is not None and not alive(pid) and not server.running


def test_port_taken_by_another_healthy_server_is_refused(tmp_path: Path) -> None:
    port = find_free_port()
    with make(tmp_path / "first", port=port, env={"FAKE_VLLM_MARKER": "first"}) as first:
        second = make(tmp_path / "second", port=port, env={"FAKE_VLLM_MARKER": "second"})
        # without the check, the second's /health poll is answered 200 by the first: a false start
        with pytest.raises(BackendError, match=f"port {port} on 127.0.0.1 is already in use"):
            second.start()
        assert second.pid is None  # nothing was launched
        assert httpx.get(first.health_url, timeout=5).status_code == 200


def test_command_line_defaults() -> None:
    server = VLLMServer(model="org/model", served_name="m", log_path=Path("x.log"), port=8123)
    assert server.command_line() == ["vllm", "serve", "org/model", "--host", "127.0.0.1", "--port", "8123",
                                     "--served-model-name", "m"]
    assert "CUDA_VISIBLE_DEVICES" not in server.env
    flagged = VLLMServer(model="/m", served_name="m", log_path=Path("x.log"), port=1, model_flag="--model",
                         command=["python", "-m", "vllm.entrypoints.openai.api_server"])
    assert flagged.command_line()[3:5] == ["--model", "/m"]
    assert isinstance(VLLMServer(model="m", served_name="m", log_path=Path("x")).port, int)


def test_for_candidate_passes_every_server_setting_of_the_config(tmp_path: Path) -> None:
    from arena.config import VLLMCandidate

    cand = VLLMCandidate.model_validate({
        "name": "m-one", "backend": "vllm", "model": "/models/one", "command": ["python", "-m", "x"],
        "model_flag": "--model", "port": 8123, "gpus": [2, 3], "tensor_parallel_size": 2,
        "extra_args": ["--max-model-len", "512"], "env": {"VLLM_FLAG": "1"}, "health_timeout_s": 42.0})
    server = VLLMServer.for_candidate(cand, tmp_path, suffix="-ll")
    assert server.command_line() == ["python", "-m", "x", "--model", "/models/one", "--host", "127.0.0.1", "--port",
                                     "8123", "--served-model-name", "m-one", "--tensor-parallel-size", "2",
                                     "--max-model-len", "512"]
    assert server.log_path == tmp_path / "vllm-m-one-ll.log" and server.health_timeout == 42.0
    assert server.gpus == [2, 3] and server.env == {"VLLM_FLAG": "1"}
    plain = VLLMServer.for_candidate(VLLMCandidate.model_validate({"name": "m", "backend": "vllm", "model": "x"}),
                                     tmp_path)
    assert plain.log_path == tmp_path / "vllm-m.log" and plain.command == ["vllm", "serve"]
    assert plain.health_timeout == 900.0 and plain.gpus is None


def test_tensor_parallel_needs_enough_gpus() -> None:
    with pytest.raises(ConfigError, match="tensor_parallel_size=4"):
        VLLMServer(model="m", served_name="m", log_path=Path("x.log"), gpus=[0, 1], tensor_parallel_size=4)


def test_health_timeout_raises_with_log_tail_and_stops(tmp_path: Path) -> None:
    server = make(tmp_path, env={"FAKE_VLLM_STARTUP_DELAY": "30"}, health_timeout=0.8)
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        server.start()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "did not become healthy within 0.8 s" in message
    assert "loading weights for 30 s" in message  # log tail
    assert "--served-model-name tiny" in message  # command line
    assert "health_timeout" in message  # hint
    assert server.pid is not None and wait_gone(server.pid, 1.0)


def test_crash_at_startup_raises_fast_with_log_tail(tmp_path: Path) -> None:
    server = make(tmp_path, env={"FAKE_VLLM_CRASH": "CUDA error: invalid device ordinal"}, gpus=[7],
                  health_timeout=30)
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        server.start()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "exit code: 3" in message
    assert "RuntimeError: CUDA error: invalid device ordinal" in message
    assert "CUDA_VISIBLE_DEVICES=7" in message
    assert "GPU ids" in message
    assert str(server.log_path) in message
    assert not server.running


def test_missing_executable_is_a_backend_error(tmp_path: Path) -> None:
    server = VLLMServer(model="m", served_name="m", log_path=tmp_path / "m.log",
                        command=[str(tmp_path / "no-such-vllm"), "serve"])
    with pytest.raises(BackendError, match="could not launch") as info:
        server.start()
    # the install hint names the project's own extra, not the unrelated PyPI package called 'arena'
    assert "pip install -e '.[vllm]'" in str(info.value)
    assert "pip install 'arena[vllm]'" not in str(info.value)


def test_log_tail_keeps_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(1000)))
    tail = read_log_tail(path, 30).splitlines()
    assert tail[0] == "line 970" and tail[-1] == "line 999" and len(tail) == 30
    assert "not readable" in read_log_tail(tmp_path / "missing.log")


def test_stop_is_graceful_and_idempotent(tmp_path: Path) -> None:
    server = make(tmp_path)
    assert server.stop() is None  # never started
    server.start()
    started = time.monotonic()
    assert server.stop() == -signal.SIGTERM
    assert time.monotonic() - started < 2
    assert server.stop() == -signal.SIGTERM


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    server = make(tmp_path, env={"FAKE_VLLM_IGNORE_SIGTERM": "1"}, stop_grace=0.6)
    server.start()
    pid = server.pid
    assert pid is not None
    started = time.monotonic()
    assert server.stop() == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5
    assert not alive(pid)
    assert "ignoring SIGTERM" in server.log_path.read_text()


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    server = make(tmp_path, env={"FAKE_VLLM_SPAWN_WORKER": "1"})
    with server:
        match = re.search(r"worker pid=(\d+)", server.log_path.read_text())
        assert match is not None
        worker = int(match.group(1))
        assert alive(worker)
    assert wait_gone(worker, 2.0)


def test_exception_inside_with_stops_server(tmp_path: Path) -> None:
    server = make(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), server:
        pid = server.pid
        assert pid is not None and alive(pid)
        raise RuntimeError("boom")
    assert not alive(pid)


def test_start_async_and_cancel(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, int | None]:
        async with make(tmp_path) as server:
            url = server.base_url
            ok = await asyncio.to_thread(httpx.get, f"{url}/models", timeout=5)
            assert ok.status_code == 200
        slow = make(tmp_path, env={"FAKE_VLLM_STARTUP_DELAY": "30"})
        task = asyncio.create_task(slow.start_async())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return url, slow.pid

    _, slow_pid = asyncio.run(scenario())
    assert slow_pid is not None and wait_gone(slow_pid, 3.0)


class _SlowToStart(VLLMServer):
    """A server whose start-up thread begins late (a busy machine): the cancel lands before start() runs."""

    def start(self, *args: bool) -> str:
        time.sleep(0.4)
        return super().start(*args)


def test_a_cancel_before_the_start_thread_runs_still_aborts_the_start(tmp_path: Path) -> None:
    server = _SlowToStart(model="/models/tiny-qwen", served_name="tiny", log_path=tmp_path / "logs" / "tiny.log",
                          command=FAKE, health_timeout=10.0, poll_interval=0.05, stop_grace=3.0)

    async def scenario() -> None:
        task = asyncio.create_task(server.start_async())
        await asyncio.sleep(0.1)  # the thread is sleeping: start() has not begun
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())  # returns once the start-up thread has finished (asyncio waits for it)
    assert server.pid is None or wait_gone(server.pid, 3.0)  # never launched, or stopped at once
    assert not server.running


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from arena.backends.vllm_server import VLLMServer, install_sigterm_as_keyboard_interrupt
    mode, log = sys.argv[1], Path(sys.argv[2])
    cmd = [sys.executable, sys.argv[3]]
    if mode == "sigterm":
        install_sigterm_as_keyboard_interrupt()
    server = VLLMServer(model="m", served_name="m", log_path=log, command=cmd, poll_interval=0.05,
                        stop_grace=3.0)
    if mode == "with":
        with server:
            print(server.pid, flush=True)
            time.sleep(60)
    else:  # no `with`: only the atexit registry can stop it
        server.start()
        print(server.pid, flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize(("mode", "sig"), [("with", signal.SIGINT), ("atexit", signal.SIGINT),
                                           ("sigterm", signal.SIGTERM)])
def test_interrupted_parent_leaves_no_server(tmp_path: Path, mode: str, sig: signal.Signals) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, str(script), mode, str(tmp_path / "s.log"), FAKE[1]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    server_pid = None
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), child.stderr.read() if child.stderr else line
        server_pid = int(line)
        assert alive(server_pid)
        child.send_signal(sig)
        _, err = child.communicate(timeout=10)
        assert "KeyboardInterrupt" in err
        assert not alive(server_pid), "server outlived its parent"
    finally:
        if child.poll() is None:
            child.kill()
        if server_pid is not None and alive(server_pid):
            os.killpg(server_pid, signal.SIGKILL)


def test_plan_waves() -> None:
    assert plan_waves([]) == []
    assert plan_waves([{0}, {1}, {2, 3}]) == [[0, 1, 2]]
    assert plan_waves([{0}, {0}, {0}]) == [[0], [1], [2]]
    assert plan_waves([{0, 1}, {1, 2}, {3}, {2}]) == [[0, 2, 3], [1]]
    assert plan_waves([{0}, None, {1}]) == [[0, 2], [1]]
    assert plan_waves([None, None]) == [[0], [1]]
    assert plan_waves([{0}, {0}, {1}, {1}]) == [[0, 2], [1, 3]]
    sets = [{0, 1}, {1}, {2}, None, {0}, {3}]
    waves = plan_waves(sets)
    assert sorted(i for wave in waves for i in wave) == list(range(len(sets)))
    for wave in waves:
        members = [sets[i] for i in wave]
        assert None not in members or len(members) == 1
        gpus = [g for s in members if s is not None for g in s]
        assert len(gpus) == len(set(gpus))
    assert json.dumps(waves)  # plain lists of ints
