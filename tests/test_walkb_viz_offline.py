"""`arena viz --host 0.0.0.0` makes no outside request at start-up: Streamlit's headless banner for a wildcard
address asks checkip.amazonaws.com for the machine's external IP unless browser.serverAddress is set. Every
HTTP(S) request of the app server is sent through a local recording proxy (HTTP_PROXY / HTTPS_PROXY, which
Streamlit's requests call honours: the control below proves it), and the proxy must see none."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from test_viz_launch import ROOT, clean_env

from viz.launch import free_port, wait_healthy

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
              "no_proxy")


@contextmanager
def recording_proxy() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server on 127.0.0.1 that records the first bytes of every connection (the request line, e.g.
    `GET http://checkip.amazonaws.com/` or `CONNECT checkip.amazonaws.com:443`) and hangs up."""
    seen: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(1024))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def proxied_env(home: Path, proxy: str) -> dict[str, str]:
    """clean_env with every HTTP(S) request sent to the recording proxy (no exemptions)."""
    env = {k: v for k, v in clean_env(home).items() if k not in PROXY_VARS}
    return {**env, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy}


def test_the_proxy_catches_streamlits_external_ip_lookup(tmp_path: Path) -> None:
    """Control: the lookup the app must not make is seen by the recorder when it is made."""
    with recording_proxy() as (proxy, seen):
        subprocess.run([sys.executable, "-c", "from streamlit import net_util; net_util.get_external_ip()"],
                       env=proxied_env(tmp_path, proxy), cwd=tmp_path, capture_output=True, timeout=60)
    assert any(b"checkip.amazonaws.com" in line for line in seen), seen


def test_viz_on_every_interface_makes_no_outside_request(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "viz.log"
    with recording_proxy() as (proxy, seen), open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "arena.cli", "viz", str(tmp_path / "ws"), "--host", "0.0.0.0", "--port",
             str(port)],
            cwd=ROOT, env=proxied_env(tmp_path, proxy), stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", process, timeout=60)
            deadline = time.monotonic() + 20
            while "URL: " not in log.read_text() and time.monotonic() < deadline:  # banner, after the lookup
                time.sleep(0.2)
            time.sleep(2.5)  # the lookup's two 1 s timeouts, had it been made
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    text = log.read_text()
    assert "URL: " in text, text
    assert seen == [], seen
    assert "Did not auto detect external IP" not in text and "External URL" not in text
    assert f"URL: http://localhost:{port}" in text  # the address the arena line names too
    assert f"Arena leaderboard for {tmp_path / 'ws'} on http://localhost:{port} " in text
    assert f"from other machines open http://{socket.gethostname()}:{port}" in text
