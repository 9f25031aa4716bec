"""Runs a vLLM server as its child and stops it if the arena process that launched it disappears.

Usage (by VLLMServer.start, never by hand): python -I vllm_guard.py ARENA_PID GRACE_S -- ARGV...

The guard leads the server's process group. Signals sent to the group (VLLMServer.stop: SIGTERM, then SIGKILL)
reach the server directly; the guard lets SIGTERM, SIGINT and SIGHUP pass, waits for the server to exit and exits
with its status, so the arena sees the server's own exit code. Every half second it checks that ARENA_PID is
still its parent: when the arena is killed outright (SIGKILL, the OOM killer), which no handler can catch, the
guard stops the group itself (SIGTERM, GRACE_S seconds, then SIGKILL) and the GPUs are freed. Standard library
only, started with -I: nothing of the arena's environment can change what it imports."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def _stop_group() -> None:
    """SIGTERM the server's group (the guard itself lets it pass)."""
    print(f"arena-guard: the arena process is gone; stopping the server (pid group {os.getpgrp()})", flush=True)
    try:
        os.killpg(os.getpgrp(), signal.SIGTERM)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    """Start the server, watch the parent, and return (or re-raise) the server's exit status."""
    parent, grace, cmd = int(argv[0]), float(argv[1]), argv[3:]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # a handler that does nothing, not SIG_IGN: an ignored signal would stay ignored in the server after exec
        signal.signal(sig, lambda *_: None)
    try:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"arena-guard: could not launch {cmd[0]!r}: {exc}", file=sys.stderr, flush=True)
        return 127
    deadline = None
    while True:
        try:
            code = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        if deadline is None and os.getppid() != parent:
            _stop_group()
            deadline = time.monotonic() + grace
        elif deadline is not None and time.monotonic() > deadline:
            os.killpg(os.getpgrp(), signal.SIGKILL)  # the guard goes too
    if deadline is not None:  # the arena is gone and the server has exited: its workers go too, as stop() does
        os.killpg(os.getpgrp(), signal.SIGKILL)
    if code < 0:  # killed by a signal: end the same way, so the arena reads the same status
        if -code not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1)  # a stop signal: wait to be continued or killed
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
