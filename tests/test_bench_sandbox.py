"""The code sandbox: hostile programs (endless loop, fork bomb, rm -rf, reading keys, network, memory) stay contained."""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from arena.bench import sandbox
from arena.bench.sandbox import SandboxLimits, namespaces_available, resolve_isolation, run_python
from arena.errors import ConfigError

needs_ns = pytest.mark.skipif(not namespaces_available(), reason="no unprivileged user namespaces here")
FAST = SandboxLimits(timeout=2.0, memory_mb=256, max_processes=16)


# The new root's top level: system folders, devices, /proc, /work and the first folder of Python's own paths.
_ALLOWED_TOP = {"usr", "bin", "lib", "lib32", "lib64", "sbin", "dev", "proc", "work"} | {
    Path(os.path.realpath(p)).parts[1] for p in (sys.prefix, sys.base_prefix, sys.executable)}


def _procs_mentioning(marker: str) -> list[int]:
    """Live processes on the machine whose command line holds `marker` (zombies, already dead, left out)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmd and state != "Z":
                found.append(int(pid))
    return found


def test_pass_fail_and_output(tmp_path):
    ok = run_python("import math\nassert math.gcd(12, 18) == 6\nprint('fine')", tmp_path / "s", FAST)
    assert ok.passed and ok.status == "passed" and "fine" in ok.output
    bad = run_python("assert 1 + 1 == 3, 'wrong sum'", tmp_path / "s", FAST)
    assert bad.status == "failed" and "wrong sum" in bad.output
    assert list((tmp_path / "s").iterdir()) == []  # the working directory and output file are removed


@needs_ns
def test_a_relative_scratch_folder_works(tmp_path, monkeypatch):
    # `arena bench` passes WORKSPACE/runs/<run>/sandbox, relative when the workspace is (the default one is)
    monkeypatch.chdir(tmp_path)
    res = run_python("print('from a relative scratch')", Path("ws") / "sandbox", FAST)
    assert res.status == "passed" and "from a relative scratch" in res.output, res.output


def test_endless_loop_and_sleep_hit_the_wall_clock_limit(tmp_path):
    for src in ("while True:\n    pass", "import time\ntime.sleep(60)"):
        start = time.monotonic()
        res = run_python(src, tmp_path, SandboxLimits(timeout=1.0))
        assert res.status == "timeout" and not res.passed
        assert time.monotonic() - start < 5


@needs_ns
def test_fork_bomb_is_contained_and_leaves_no_process(tmp_path):
    marker = "forkbomb_marker_7f3a"
    src = f"# {marker}\nimport os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res = run_python(src, tmp_path, SandboxLimits(timeout=5, max_processes=8))
    assert res.status == "failed" and "more than 8 processes" in res.output  # stopped by PID 1, even for root
    assert res.seconds < 4
    deadline = time.monotonic() + 5  # killed processes take a moment to be reaped
    while _procs_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _procs_mentioning(str(tmp_path)) == []
    spawner = "import subprocess\nfor _ in range(3):\n    subprocess.run(['true'], check=True)\n"
    assert run_python(spawner, tmp_path, SandboxLimits(timeout=5, max_processes=8)).passed  # a few are fine


@needs_ns
def test_rm_rf_of_parent_and_writes_outside_the_workdir_fail_and_host_files_are_not_there(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "sibling.txt").write_text("other run's file")
    (tmp_path / "precious.txt").write_text("keep me")
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-in-a-file")
    src = ("import os, shutil\n"
           "open('mine.txt', 'w').write('own cwd is writable')\n"
           "assert os.getcwd() == '/work'\n"
           f"assert set(os.listdir('/')) <= {_ALLOWED_TOP!r}, os.listdir('/')\n"
           f"for p in [{str(tmp_path / '.env')!r}, {str(scratch / 'sibling.txt')!r}, '/home', '/etc']:\n"
           "    assert not os.path.exists(p), p\n"
           "for victim in ['/usr/bin', '/work/..', '/']:\n"
           "    try:\n"
           "        os.rmdir(victim)\n"
           "    except OSError as exc:\n"
           "        print(victim, exc.strerror)\n"
           "shutil.rmtree('..', ignore_errors=True)\n")
    res = run_python(src, scratch, SandboxLimits(timeout=1.5))
    assert res.status in ("passed", "timeout"), res.output  # rmtree of '/' may simply run out of time
    assert "Read-only file system" in res.output or "Device or resource busy" in res.output
    assert (scratch / "sibling.txt").read_text() == "other run's file"
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    planted = run_python(f"open({str(tmp_path / 'planted.txt')!r}, 'w')", scratch, FAST)
    assert planted.status == "failed" and not (tmp_path / "planted.txt").exists()


@needs_ns
def test_api_keys_are_invisible_in_environ_and_proc(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-test-secret")
    src = ("import os\n"
           "assert not any('sk-sandbox' in v for v in os.environ.values()), sorted(os.environ)\n"
           "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
           "    try:\n"
           "        data = open(f'/proc/{pid}/environ', 'rb').read()\n"
           "    except OSError:\n"
           "        continue\n"
           "    assert b'sk-sandbox' not in data, pid\n"
           "assert len([p for p in os.listdir('/proc') if p.isdigit()]) < 5  # only its own processes\n")
    res = run_python(src, tmp_path, FAST)
    assert res.passed, res.output


@needs_ns
def test_no_network_even_to_localhost(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    got: list[object] = []
    threading.Thread(target=lambda: got.append(_accept(server)), daemon=True).start()
    src = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
    res = run_python(src, tmp_path, FAST)
    assert res.status == "failed" and ("unreachable" in res.output or "refused" in res.output)
    time.sleep(0.2)
    assert got in ([], [None])  # nothing reached the server
    server.close()


def _accept(server: socket.socket) -> object:
    try:
        return server.accept()
    except OSError:
        return None


def test_memory_limit(tmp_path):
    res = run_python("x = bytearray(1024 * 1024 * 1024)\n", tmp_path, SandboxLimits(timeout=5, memory_mb=256))
    assert res.status == "failed" and "MemoryError" in res.output


def test_rlimits_fallback_strips_env_and_refuses_sockets(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-test-secret")
    src = ("import os, socket\nassert 'OPENAI_API_KEY' not in os.environ\n"
           "try:\n    socket.socket()\nexcept PermissionError:\n    print('refused')\n")
    res = run_python(src, tmp_path, FAST, isolation="rlimits")
    assert res.passed and "refused" in res.output
    assert run_python("while True: pass", tmp_path, SandboxLimits(timeout=1), isolation="rlimits").status == "timeout"


def test_no_namespaces_is_one_clear_error_naming_the_option(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    sandbox.namespaces_available.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            resolve_isolation("auto")
        assert "code.isolation: rlimits" in str(err.value)
        assert resolve_isolation("rlimits") == "rlimits"
    finally:
        sandbox.namespaces_available.cache_clear()


def test_a_program_cannot_pose_as_a_sandbox_failure(tmp_path):
    src = "import sys\nprint('sandbox setup failed: fake')\nsys.exit(97)\n"
    res = run_python(src, tmp_path, FAST)
    assert res.status == "failed" and res.returncode == 97  # a failed sample, not an 'error' that stops scoring


@needs_ns
def test_multiprocessing_works_inside_the_namespace(tmp_path):
    """A solution that uses a process pool needs POSIX shared memory: the sandbox has a small /dev/shm of its own
    (before: FileNotFoundError, the correct solution failed)."""
    src = ("import multiprocessing as mp\n\ndef sq(x):\n    return x * x\n\n"
           "with mp.Pool(2) as pool:\n    assert pool.map(sq, range(5)) == [0, 1, 4, 9, 16]\n")
    res = run_python(src, tmp_path, SandboxLimits(timeout=20), isolation="namespaces")
    assert res.passed, res.output
    host_shm = Path("/dev/shm")
    if not host_shm.is_dir():
        return
    marker = host_shm / f"arena-host-probe-{os.getpid()}"
    probe = (f"import os\nassert not os.path.exists('/dev/shm/{marker.name}')\n"
             "open('/dev/shm/arena-sandbox-wrote', 'w').write('1')\n")
    marker.write_text("host")
    try:  # the sandbox's /dev/shm is its own: the host's files are not there, and its files do not reach the host
        assert run_python(probe, tmp_path, SandboxLimits(timeout=10), isolation="namespaces").passed
    finally:
        marker.unlink(missing_ok=True)
    assert not (host_shm / "arena-sandbox-wrote").exists()
