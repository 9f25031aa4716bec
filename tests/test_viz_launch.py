"""Starting the app for real: `arena viz` on a busy port; `streamlit run viz/app.py` with the shipped config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from viz.launch import DEFAULT_PORT, free_port, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def clean_env(home: Path) -> dict[str, str]:
    """The environment without STREAMLIT_* settings and with an empty HOME (no ~/.streamlit of the user)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    return {**env, "HOME": str(home)}


@contextmanager
def occupied(port: int | None = None) -> Iterator[int]:
    """A port with a real listening socket on 127.0.0.1 (a free one by default); someone else's counts too."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port or 0))
        sock.listen()
        port = sock.getsockname()[1]
    except OSError:  # the port was busy already: just as good
        assert port is not None
    try:
        yield port
    finally:
        sock.close()


def run_viz(args: list[str], home: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    """`arena viz ARGS` as a subprocess; on timeout the whole process group (app server too) is killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "viz", *args],
        cwd=ROOT,
        env=clean_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"arena viz kept running on a busy port: {out} {err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_viz_on_a_busy_port_exits_non_zero_with_one_clear_line(tmp_path: Path) -> None:
    with occupied() as port:
        result = run_viz([str(tmp_path), "--port", str(port)], tmp_path)
    assert result.returncode == 2
    first = result.stderr.strip().splitlines()[0]
    assert first == f"error: port {port} on 127.0.0.1 is in use, so the app cannot start there"
    assert "--port" in result.stderr and "Traceback" not in result.stderr
    assert "Arena leaderboard" not in result.stdout  # no URL promised for a server that never ran


def test_the_suggested_port_is_free_when_the_next_one_is_busy_too(tmp_path: Path) -> None:
    """Two busy ports in a row: the hint skips the second (it used to suggest port + 1 unchecked)."""
    import re
    import socket

    with occupied() as port:
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                pytest.skip("port + 1 is taken by something else")
            second.listen()
            result = run_viz([str(tmp_path), "--port", str(port)], tmp_path)
            suggested = int(re.search(r"arena viz --port (\d+)", result.stderr).group(1))
            assert suggested > port + 1
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", suggested))  # free indeed
    assert result.returncode == 2


def test_viz_on_the_busy_default_port_does_not_move_elsewhere(tmp_path: Path) -> None:
    with occupied(DEFAULT_PORT):
        result = run_viz([str(tmp_path)], tmp_path)
    assert result.returncode == 2
    assert f"port {DEFAULT_PORT} on 127.0.0.1 is in use" in result.stderr


def test_viz_rejects_a_port_out_of_range(tmp_path: Path) -> None:
    result = run_viz([str(tmp_path), "--port", "70000"], tmp_path)
    assert result.returncode == 2 and "'70000' is not a port number (1-65535)" in result.stderr


def listening_addresses(port: int) -> set[str]:
    """Addresses with a TCP socket listening on port, from /proc/net/tcp and tcp6."""
    found = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[3] != LISTEN:
                continue
            raw = bytes.fromhex(address)
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
            found.add(socket.inet_ntop(family, raw))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc/net")
def test_streamlit_run_from_repo_root_binds_loopback_and_sends_no_stats(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(  # the README's `streamlit run viz/app.py`, headless so no browser opens
        [sys.executable, "-m", "streamlit", "run", "viz/app.py", "--server.port", str(port)]
        + ["--server.headless", "true", "--", "--workspace", str(tmp_path / "ws")],
        cwd=ROOT,
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout=45)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        stop_process(process)
    output = process.stdout.read() if process.stdout else ""
    assert f"URL: http://127.0.0.1:{port}" in output and "Network URL" not in output
    # printed when usage statistics are on by default and no one switched them off
    assert "Collecting usage statistics" not in output
    shown = subprocess.run(  # the same file as the project config of its own folder
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=ROOT / "viz",
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "\ngatherUsageStats = false\n" in shown and '\naddress = "127.0.0.1"\n' in shown


def test_viz_on_a_file_says_it_wants_a_workspace_and_names_the_one_holding_it(tmp_path: Path) -> None:
    run = tmp_path / "ws" / "runs" / "2026-12-01_weekly"
    run.mkdir(parents=True)
    (run / "battles.jsonl").write_text("{}\n")
    result = run_viz([str(run / "battles.jsonl"), "--port", str(free_port())], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "battles.jsonl is a file, not a workspace" in result.stderr
    assert f"arena viz {tmp_path / 'ws'}" in result.stderr  # the workspace that holds it
    assert "does not exist yet" not in result.stderr and "Arena leaderboard" not in result.stdout
    loose = tmp_path / "loose.jsonl"
    loose.write_text("{}\n")
    result = run_viz([str(loose), "--port", str(free_port())], tmp_path)
    assert result.returncode == 2 and "arena rate FILE" in result.stderr


@pytest.mark.parametrize("given", ["run", "runs"])
def test_viz_on_a_run_folder_shows_its_workspace_opened_on_that_run(tmp_path: Path, given: str) -> None:
    ws = tmp_path / "ws"
    run = ws / "runs" / "2026-12-01 weekly"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "viz", str(run if given == "run" else run.parent), "--port", str(port)],
        cwd=ROOT, env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        first = process.stdout.readline() if process.stdout else ""
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout=45)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    opened = "/?run=2026-12-01%20weekly" if given == "run" else ""
    assert first.startswith(f"Arena leaderboard for {ws} on http://127.0.0.1:{port}{opened} ")
    assert f"showing its workspace {ws}" in err or f"showing the workspace {ws}" in err
    assert "does not exist yet" not in err
