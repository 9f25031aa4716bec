"""How fast the human vote log takes votes: appends per second and latency with 1 and 4 writer processes,
beside the bare appender without the file lock (what the lock costs). Prints the figures; asserts nothing.

    python benchmarks/human_vote_append.py
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.human.votes import append_record, vote_record
from arena.records import JsonlAppender

ITEM = {"battle": "k", "question_id": "q1", "turn": 1, "category": "math", "model_a": "a", "model_b": "b",
        "judgments": ["j1", "j2"]}
PER_WRITER = 200


def _writer(args: tuple[str, int, bool]) -> list[float]:
    """Append PER_WRITER votes; return each append's latency in seconds."""
    path, worker, locked = args
    out = []
    for i in range(PER_WRITER):
        rec = vote_record(f"v{worker}", {**ITEM, "battle": f"b{i}"}, False, "1", comment="a short comment")
        start = time.perf_counter()
        if locked:
            append_record(Path(path), rec)
        else:
            with JsonlAppender(Path(path)) as appender:
                appender.append(rec)
        out.append(time.perf_counter() - start)
    return out


def measure(writers: int, locked: bool) -> tuple[float, float, float]:
    """(appends per second, median ms, 99th percentile ms) for `writers` processes."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "human" / "run" / "votes.jsonl")
        Path(path).parent.mkdir(parents=True)
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(writers) as pool:
            latencies = [x for chunk in pool.map(_writer, [(path, w, locked) for w in range(writers)]) for x in chunk]
        wall = time.perf_counter() - start
        assert len(Path(path).read_text().splitlines()) == writers * PER_WRITER
    cuts = statistics.quantiles(latencies, n=100)
    return writers * PER_WRITER / wall, 1000 * statistics.median(latencies), 1000 * cuts[98]


def main() -> None:
    """Print the table."""
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; {PER_WRITER} votes per writer, each fsync'd")
    print(f"{'writers':>7}  {'appender':<22} {'votes/s':>8} {'median ms':>10} {'p99 ms':>8}")
    for writers in (1, 4):
        for locked, name in ((True, "vote log (file lock)"), (False, "bare O_APPEND, no lock")):
            rate, median, p99 = measure(writers, locked)
            print(f"{writers:>7}  {name:<22} {rate:>8.0f} {median:>10.2f} {p99:>8.2f}")


if __name__ == "__main__":
    main()
