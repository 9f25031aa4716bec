"""`arena rate` on generated Parquet battle sets of growing size: time and peak memory per size.

Generates N battles (150 models, BT strengths, ~30% ties, 3 categories) as Parquet files of 5M rows in
a data folder (kept for reuse; several GB at 100M), then runs `arena rate FOLDER --engine duckdb` (and,
with --pyarrow, the chunked pyarrow engine) in a fresh process per size and prints wall time, peak
memory (max RSS of that process), battles per second and the time ratio to the smallest size.
Run: python benchmarks/rating_scale_parquet.py --sizes 10000000 30000000 100000000 [--dir DATA] [--rounds 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_FILE = 5_000_000
RUNNER = (
    "import resource, sys, time; from arena.cli import main; t = time.perf_counter(); "
    "code = main(sys.argv[1:]); wall = time.perf_counter() - t; "
    "print('RESULT', code, wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
)


def generate(folder: Path, n: int, models: int = 150, seed: int = 0) -> Path:
    """Write n battles as Parquet files of ROWS_PER_FILE rows (skipped when the folder already holds them)."""
    marker = folder / "_COMPLETE"
    if marker.is_file() and json.loads(marker.read_text()).get("battles") == n:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 100, models)
    names = pa.array([f"model-{k:03d}" for k in range(models)])
    winners = pa.array(["model_a", "model_b", "tie"])
    categories = pa.array(["coding", "math", "writing"])
    start = time.perf_counter()
    for part, first in enumerate(range(0, n, ROWS_PER_FILE)):
        size = min(ROWS_PER_FILE, n - first)
        a = rng.integers(0, models, size)
        b = (a + rng.integers(1, models, size)) % models
        p = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 400))
        u = rng.random(size)
        outcome = np.where(u < 0.3, 2, np.where(u < 0.3 + 0.7 * p, 0, 1))
        table = pa.table({
            "model_a": pa.DictionaryArray.from_arrays(pa.array(a.astype(np.int32)), names),
            "model_b": pa.DictionaryArray.from_arrays(pa.array(b.astype(np.int32)), names),
            "winner": pa.DictionaryArray.from_arrays(pa.array(outcome.astype(np.int32)), winners),
            "category": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 3, size).astype(np.int32)), categories),
        })
        table = table.cast(pa.schema([(c, pa.string()) for c in table.column_names]))
        pq.write_table(table, folder / f"part-{part:04d}.parquet", compression="zstd")
    marker.write_text(json.dumps({"battles": n, "seconds": round(time.perf_counter() - start, 1)}))
    return folder


def run_rate(target: str, engine: str, rounds: int) -> tuple[float, float]:
    """Wall seconds and peak MB of `arena rate target` in a fresh process."""
    argv = [sys.executable, "-c", RUNNER, "rate", target, "--engine", engine, "--bootstrap", str(rounds),
            "--format", "csv"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    _, code, wall, peak = line.split()
    if code != "0":
        raise SystemExit(f"arena rate failed on {target}")
    return float(wall), float(peak)


def main() -> None:
    """Generate the sets and print time and memory per size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 30_000_000, 100_000_000])
    parser.add_argument("--dir", type=Path, default=Path(".bench-data"), help="where the Parquet sets live")
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap rounds (the fit needs only counts)")
    parser.add_argument("--pyarrow", action="store_true", help="also time the chunked pyarrow engine")
    args = parser.parse_args()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print(f"machine: {cpu}; python {platform.python_version()}, pyarrow {pa.__version__}")
    engines = ["duckdb"] + (["pyarrow"] if args.pyarrow else [])
    base: dict[str, float] = {}
    for n in sorted(args.sizes):
        folder = generate(args.dir / f"battles-{n}", n)
        disk = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**20
        for engine in engines:
            wall, peak = run_rate(str(folder / "*.parquet"), engine, args.rounds)
            base.setdefault(engine, wall / n)
            print(f"{n:>12,} battles ({disk:,.0f} MB Parquet), {engine:8}: {wall:7.1f} s, peak {peak:6.0f} MB, "
                  f"{n / wall / 1e6:5.2f} M battles/s, time per battle x{wall / n / base[engine]:.2f} of the smallest",
                  flush=True)


if __name__ == "__main__":
    main()
