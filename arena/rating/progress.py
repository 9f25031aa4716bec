"""Progress of long bootstraps: the fits report rounds done to a callback that a command sets for its own calls
only (a context variable, so library callers such as `arena compare` or the app's refits report nothing)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_ROUNDS_DONE: ContextVar[Callable[[int], object] | None] = ContextVar("arena_rounds_done", default=None)


def rounds_done(count: int) -> None:
    """Called by a bootstrap after each batch of `count` refitted rounds."""
    report = _ROUNDS_DONE.get()
    if report is not None:
        report(count)


@contextlib.contextmanager
def reporting_rounds(callback: Callable[[int], object]) -> Iterator[None]:
    """Within the block, bootstrap rounds done in this thread go to callback(count)."""
    token = _ROUNDS_DONE.set(callback)
    try:
        yield
    finally:
        _ROUNDS_DONE.reset(token)


@contextlib.contextmanager
def rounds_bar(enabled: bool | None, label: str = "bootstrap") -> Iterator[None]:
    """A running count of bootstrap rounds on stderr (enabled None: only when stderr is a terminal); the line is
    cleared at the end, so a finished command's output is unchanged."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield
        return
    from tqdm import tqdm

    with tqdm(desc=label, unit=" rounds", file=sys.stderr, leave=False) as bar, \
            reporting_rounds(bar.update):
        yield
