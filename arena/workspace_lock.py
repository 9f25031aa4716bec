"""One writer per workspace: an OS-level file lock (released when its process dies, even by SIGKILL)."""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from arena.errors import ArenaError
from arena.records import write_json_atomic

LOCK_FILE = ".arena.lock"
HOLDER_FILE = ".arena.lock.json"  # who holds the lock (the lock file itself is truncated by every waiter)
BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: try again later


class WorkspaceBusy(ArenaError):
    """Another writer holds the workspace and the caller chose not to wait."""

    exit_code = BUSY_EXIT_CODE


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class WorkspaceLock:
    """The held lock of one workspace; `set_run` names the run that holds it (for the next writer's message)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.holder: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": None,
                                       "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def set_run(self, run_id: str) -> None:
        """Record the run that holds the workspace."""
        self.holder["run_id"] = run_id
        write_json_atomic(self.root / HOLDER_FILE, self.holder)


def describe_holder(root: Path) -> str:
    """'run R (pid P on host H)' from the holder file, as far as it is known."""
    try:
        holder = json.loads((Path(root) / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "another process"
    if not isinstance(holder, dict):
        return "another process"
    run = f"run {holder['run_id']}" if holder.get("run_id") else "another command"
    return f"{run} (pid {holder.get('pid', '?')} on host {holder.get('host', '?')})"


@contextmanager
def workspace_lock(root: Path, *, wait: bool = True,
                   notify: Callable[[str], None] = _stderr) -> Iterator[WorkspaceLock]:
    """Hold the workspace for writing; when another writer has it, wait (saying so) or raise WorkspaceBusy."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArenaError(f"workspace {root}: cannot create it ({exc.strerror})",
                         hint="set 'workspace' or --out to a folder you can write") from None
    lock = FileLock(str(root / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        busy = f"workspace {root} is in use by {describe_holder(root)}"
        if not wait:
            raise WorkspaceBusy(busy, hint="wait for it to finish, or leave out --no-wait to wait") from None
        notify(f"{busy}; waiting... (--no-wait to stop at once)")
        lock.acquire()
    held = WorkspaceLock(root)
    try:
        write_json_atomic(root / HOLDER_FILE, held.holder)
        yield held
    finally:
        try:
            (root / HOLDER_FILE).unlink(missing_ok=True)
        finally:
            lock.release()
