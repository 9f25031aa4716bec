"""Reading battles against the read floor, and `arena rate` end to end on a battles file (time, peak memory).

For each size: writes a JSONL battles file (150 models, ~30% ties, 3 categories, 500 questions) in --dir,
times the floor (pyarrow.json.read_json of the same file, nothing else), the streamed aggregation into
pair counts (what `arena rate` does for Bradley-Terry), the validated per-battle table (what Elo and style
control use), then `arena rate FILE --bootstrap R` in a fresh process: wall and CPU time and peak memory (the process's own
VmHWM: its ru_maxrss would report the parent's peak, inherited across fork and exec, and the parent has just
read the whole file for the floor).
Run: python benchmarks/rating_read_speed.py [--battles 1500000 3000000] [--rounds 1000] [--dir DATA]
Also reachable as `python benchmarks/rating_speed.py --files`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.rating.io import load_battles
from arena.rating.stream import iter_battle_chunks
from arena.rating.summary import summarise

RUNNER = (  # also benchmarks/rating_targets.py's
    "import resource, sys, time; t = time.perf_counter(); from arena.cli import main; "
    "peak_mb = lambda u: next((int(x.split()[1]) / 1024 for x in open('/proc/self/status') "
    "if x.startswith('VmHWM')), u.ru_maxrss / 1024); "
    "code = main(sys.argv[1:]); u = resource.getrusage(resource.RUSAGE_SELF); print('RESULT', code, "
    "time.perf_counter() - t, peak_mb(u), u.ru_utime + u.ru_stime)"
)


def write_jsonl(path: Path, n: int, models: int = 150, seed: int = 0) -> Path:
    """A JSONL battles file of n battles (reused when it exists)."""
    if path.is_file():
        return path
    from rating_speed import synthetic_battles

    frame, _ = synthetic_battles(n, models, seed)
    rng = np.random.default_rng(seed + 1)
    frame["winner"] = np.where(frame["score"] == 1, "model_a", np.where(frame["score"] == 0, "model_b", "tie"))
    frame["category"] = np.array(["coding", "math", "writing"])[rng.integers(0, 3, n)]
    frame["question_id"] = rng.integers(0, 500, n).astype(str)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame[["model_a", "model_b", "winner", "category", "question_id"]].to_json(tmp, orient="records", lines=True)
    tmp.replace(path)
    return path


def best_of(repeats: int, fn) -> tuple[float, float]:
    """Shortest wall time of `repeats` calls and the CPU time (all threads) of that call (the machine is
    shared: the minimum is the least disturbed, and CPU time is less disturbed than wall time)."""
    times = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(times)


def rate_process(path: Path, rounds: int, extra: list[str]) -> tuple[float, float, float, float]:
    """Process wall time, in-process time of `arena rate` (imports included), peak MB and CPU time."""
    argv = [sys.executable, "-c", RUNNER, "rate", str(path), "--bootstrap", str(rounds), "--format", "csv", *extra]
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    _, code, inner, peak, cpu = next(x for x in out.splitlines() if x.startswith("RESULT")).split()
    if code != "0":
        raise SystemExit(f"arena rate failed on {path}")
    return wall, float(inner), float(peak), float(cpu)


def file_section(sizes: list[int], rounds: int, folder: Path, repeats: int = 2) -> None:
    """Print parse-vs-floor and end-to-end figures for each size."""
    for n in sizes:
        path = write_jsonl(folder / f"battles-{n}.jsonl", n)
        size_mb = path.stat().st_size / 2**20
        floor, floor_cpu = best_of(repeats, lambda p=path: pajson.read_json(p))
        streamed, streamed_cpu = best_of(repeats, lambda p=path: summarise(iter_battle_chunks(p)))
        table, table_cpu = best_of(1, lambda p=path: load_battles(p))
        print(f"{n:,} battles ({size_mb:.0f} MB JSONL): read floor (pyarrow.json.read_json, nothing else) "
              f"{floor:.2f} s (CPU {floor_cpu:.2f} s); streamed validation + pair counts {streamed:.2f} s "
              f"(CPU {streamed_cpu:.2f} s; {streamed / floor:.2f}x floor); validated per-battle table (Elo, "
              f"style control) {table:.2f} s (CPU {table_cpu:.2f} s; {table / floor:.2f}x)", flush=True)
        wall, inner, peak, cpu = rate_process(path, rounds, [])
        print(f"  arena rate --bootstrap {rounds}: {wall:.2f} s wall for the process (CPU {cpu:.2f} s; {inner:.2f} s "
              f"from the first import; {wall / floor:.2f}x the read floor), peak memory {peak:.0f} MB", flush=True)


def main() -> None:
    """Run the file section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--battles", type=int, nargs="+", default=[1_500_000, 3_000_000])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=Path(".bench-data"))
    args = parser.parse_args()
    print(f"pyarrow {pa.__version__}; the machine is shared, so each time is the best of 2 where repeated")
    file_section(args.battles, args.rounds, args.dir)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
