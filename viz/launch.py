"""`arena viz [WORKSPACE]`: start the Streamlit leaderboard on a workspace (without importing streamlit)."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote

from arena.errors import ArenaError
from arena.human.access import is_loopback, shared_note

APP = Path(__file__).resolve().with_name("app.py")
DEFAULT_WORKSPACE = "arena-workspace"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bind addresses meaning every network interface


def streamlit_command(
    workspace: Path, port: int | None = None, host: str | None = None, extra: list[str] | None = None
) -> list[str]:
    """The `python -m streamlit run viz/app.py ... -- --workspace DIR` command line."""
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    if port is not None:
        cmd += ["--server.port", str(port)]
    if host is not None:
        # browser.serverAddress set keeps Streamlit's start-up banner off its wildcard branch, which (headless,
        # on 0.0.0.0 or ::) asks checkip.amazonaws.com for the machine's external address: the app asks
        # nothing outside. It is also the address the banner prints (the one `arena viz` prints).
        cmd += ["--server.address", host, "--browser.serverAddress", display_host(host)]
    return cmd + list(extra or []) + ["--", "--workspace", str(workspace)]


def display_host(host: str) -> str:
    """The host part of the app's URL for a bind address: localhost for every interface (0.0.0.0, ::), an IPv6
    address in brackets, else the address itself."""
    name = host.strip()
    if name.strip("[]") in WILDCARD_HOSTS:
        return "localhost"
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def port_number(text: str) -> int:
    """argparse type for --port: an integer from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def _bind_error(host: str, port: int) -> OSError | None:
    """Why the app could not listen on host:port (None: it could); an unknown host raises ArenaError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ArenaError(
            f"--host {host}: not an address of this machine ({exc.strerror})",
            hint="use 127.0.0.1 (this machine only) or 0.0.0.0 (every network interface)",
        ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is fine
        try:
            sock.bind(address)
        except OSError as exc:
            return exc
    return None


def check_port(host: str, port: int) -> None:
    """Raise ArenaError when the app could not listen on host:port (in use, not allowed, unknown host); the
    hint names a port that is free now (the next ones up, checked)."""
    exc = _bind_error(host, port)
    if exc is None:
        return
    reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
    tries = [p for p in range(port + 1, min(port + 50, 65536))] or [8502]
    free = next((p for p in tries if _bind_error(host, p) is None), None)
    hint = (f"pick a free port with `arena viz --port {free}` " if free is not None else
            f"no port from {tries[0]} to {tries[-1]} is free either; choose another with `arena viz --port N` ")
    raise ArenaError(f"port {port} on {host} {reason}, so the app cannot start there",
                     hint=hint + "(or stop the program that listens on it, perhaps another `arena viz`)")


def cmd_viz(args: argparse.Namespace) -> int:
    """Run the app in a subprocess until it is stopped (Ctrl-C); a port it cannot use is an error (exit 2)."""
    if importlib.util.find_spec("streamlit") is None:
        raise ArenaError(
            "streamlit is not installed", hint="pip install 'streamlit>=1.46' plotly (or pip install -e .)"
        )
    chosen = args.workspace or os.environ.get("ARENA_WORKSPACE") or DEFAULT_WORKSPACE
    given = Path(chosen).expanduser().resolve()
    workspace = workspace_of(given)
    a_run = given.parent.parent == workspace and given.parent.name == "runs"
    opened = f"/?run={quote(given.name)}" if a_run else ""  # the printed URL opens that run
    host = args.host or DEFAULT_HOST
    port = args.port or DEFAULT_PORT
    check_port(host, port)  # always an explicit port: streamlit would otherwise move to another one quietly
    if not workspace.is_dir():
        print(
            f"note: workspace {workspace} does not exist yet; the app will say how to create a run",
            file=sys.stderr,
        )
    cmd = streamlit_command(workspace, port, host)
    print(f"Arena leaderboard for {workspace} on http://{display_host(host)}:{port}{opened} (Ctrl-C to stop)")
    if not is_loopback(host):
        print(shared_note(), file=sys.stderr)
    if host.strip().strip("[]") in WILDCARD_HOSTS:  # Streamlit prints the localhost URL only: say the other
        print(f"note: from other machines open http://{socket.gethostname()}:{port}{opened} "
              "(or this machine's network address instead of its name)", file=sys.stderr)
    process = subprocess.Popen(cmd)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_process(process)
    if code != 0:
        print(f"error: the app server stopped with exit code {code} (its message is above)", file=sys.stderr)
    return code if code >= 0 else 1


def workspace_of(path: Path) -> Path:
    """The workspace the app shows for a path the user gave: the workspace itself, or the one holding a run
    folder or a `runs` folder (with a note). A file is an error: the app browses workspaces, not files."""
    if path.is_file():
        home = next((p for p in path.parents if (p / "runs").is_dir()), None)
        hint = (f"arena viz {home}" if home is not None else
                "give the workspace folder (the config's `workspace`, ./arena-workspace by default); "
                "a battles file is rated with `arena rate FILE`, or imported as a run with `arena import`")
        raise ArenaError(f"{path} is a file, not a workspace: the app shows a workspace's runs", hint=hint)
    if path.is_dir() and not (path / "runs").is_dir():
        if path.name == "runs" and any(p.is_dir() for p in path.iterdir()):
            print(f"note: {path} is a workspace's runs folder; showing the workspace {path.parent}", file=sys.stderr)
            return path.parent
        if (path / "run.json").is_file() and path.parent.name == "runs":
            print(f"note: {path} is one run; showing its workspace {path.parent.parent}, opened on that run",
                  file=sys.stderr)
            return path.parent.parent
    return path


def _raise_interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: unwind like Ctrl-C so the app server is stopped too."""
    raise KeyboardInterrupt


def stop_process(process: subprocess.Popen) -> None:
    """Terminate the app server (kill it after 10 s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Poll the app's /_stcore/health until it answers 200 (fail early if the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


@contextmanager
def serve_app(
    workspace: Path,
    port: int | None = None,
    log: IO[str] | int = subprocess.DEVNULL,
    extra: list[str] | None = None,
) -> Iterator[str]:
    """Run the app on 127.0.0.1 (a free port by default) until healthy; yield its base URL, then stop it."""
    port = port or free_port()
    root = str(APP.parent.parent)
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        streamlit_command(workspace, port, "127.0.0.1", extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield url
    finally:
        stop_process(process)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `arena viz` to the arena command line."""
    parser = subparsers.add_parser(
        "viz",
        help="browse leaderboards, battles and judges in a Streamlit app",
        description="Start the Streamlit leaderboard app on a workspace.",
    )
    parser.add_argument(
        "workspace",
        nargs="?",
        default=None,
        help="workspace folder (default: $ARENA_WORKSPACE or ./arena-workspace)",
    )
    parser.add_argument(
        "--port", type=port_number, default=None, help=f"port to serve on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only; "
        "--host 0.0.0.0 shares the app with everyone on the network)",
    )
    parser.set_defaults(func=cmd_viz)
