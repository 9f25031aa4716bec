"""SIGTERM and SIGHUP unwind like Ctrl-C, and `run_async` lets them (and Ctrl-C) stop an event loop cleanly.

Inside `asyncio.run`, Ctrl-C is asyncio's own SIGINT handler: it cancels the main task, which unwinds at its next
await (files closed, servers stopped), and KeyboardInterrupt comes out of `asyncio.run`. asyncio installs that
handler only when SIGINT has Python's default handler. A background job of a non-interactive shell script
(`arena run ... &`) starts with SIGINT ignored, so there is no such handler to follow, and raising
KeyboardInterrupt at whatever line is running can land in a finalizer (swallowed: the run goes on and exits 0)
or inside httpx/anyio clean-up (a RuntimeError: exit 1). `run_async` records its main task so the SIGTERM
handler can cancel it the same way."""
from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

# Signals whose default action would kill the arena without clean-up: SIGTERM (kill, systemd, docker stop) and
# SIGHUP (the terminal or SSH session went away).
UNWIND_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Main:
    """The main task of one `run_async` call, and the signal that cancelled it (if any)."""

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.signal: int | None = None


_RUNS: list[_Main] = []  # run_async calls in progress in the main thread, innermost last


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)`, stopped by SIGTERM/SIGHUP (and Ctrl-C) like Ctrl-C even when SIGINT is ignored: the
    main task is cancelled at its next await and KeyboardInterrupt comes out once it has unwound (also when
    the task swallowed the cancellation and returned)."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coro)
    holder: list[_Main] = []

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        holder.append(_Main(task))
        _RUNS.append(holder[0])
        try:
            return await coro
        finally:
            _RUNS.remove(holder[0])

    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if holder and holder[0].signal is not None:
            raise KeyboardInterrupt(f"received signal {signal.Signals(holder[0].signal).name}") from None
        raise
    if holder and holder[0].signal is not None:
        raise KeyboardInterrupt(f"received signal {signal.Signals(holder[0].signal).name}")
    return result


def _sigterm_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """Handle SIGTERM exactly as Ctrl-C is handled at this moment: asyncio's SIGINT handler when it has one
    (it cancels the main task); else, inside `run_async`, cancel its main task the same way (a second signal
    raises at once, as a second Ctrl-C does); else raise KeyboardInterrupt here."""
    current = signal.getsignal(signal.SIGINT)
    if callable(current) and current is not signal.default_int_handler and current is not _sigterm_like_ctrl_c:
        current(signal.SIGINT, frame)
        return
    run = _RUNS[-1] if _RUNS else None
    if run is not None and run.signal is None and not run.task.done():
        run.signal = signum
        run.task.cancel()
        run.task.get_loop().call_soon_threadsafe(lambda: None)  # wake a loop that sleeps in select()
        return
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def install_sigterm_as_keyboard_interrupt() -> None:
    """Make SIGTERM and SIGHUP unwind like Ctrl-C (main thread only): `with`/finally/atexit clean-up runs.

    A SIGHUP that is ignored when Arena starts (`nohup arena run ...`, `trap '' HUP`) stays ignored: the user
    asked the run to outlive the terminal."""
    for sig in UNWIND_SIGNALS:
        if sig == getattr(signal, "SIGHUP", None) and signal.getsignal(sig) is signal.SIG_IGN:
            continue
        signal.signal(sig, _sigterm_like_ctrl_c)
