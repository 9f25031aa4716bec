"""Bootstrap refits on sparse many-model arenas (most pairs never meet; some models absent from a resample).

Such rounds (a model without battles in the resample, or a round that needs the weak prior) are refitted by
batched Newton-CG; on a sparse graph its preconditioner is each round's own Hessian diagonal. Before, the rounds
with an absent model went to dense batched Newton (models^3 per step and round). Each arena is timed with this
checkout's engine and, with `--before DIR` (a checkout of an older commit, e.g. `git archive <commit> arena | tar
-x -C DIR`), with that engine too, each in its own process (its `arena` first on sys.path), back to back; the
ratings of both are compared (largest difference of the per-round centred ratings of the models that played).

Run: python benchmarks/rating_sparse_models.py [--before DIR] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARENAS = ((1000, 2000), (1000, 10000), (300, 3000), (60, 400))  # (models, battles)

CHILD = r"""
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import numpy as np
import arena
assert arena.__file__.startswith(sys.argv[1]), arena.__file__
from rating_speed import synthetic_battles
from arena.rating.bootstrap import bootstrap_bt
from arena.rating.bt import fit_point
from arena.rating.counts import aggregate
from arena.rating.diagnostics import mle_exists
out = {}
rounds = int(sys.argv[4])
for spec in sys.argv[5:]:
    m, n = map(int, spec.split("x"))
    battles, _ = synthetic_battles(n, m, seed=1)
    counts = aggregate(battles)
    s, w = counts.pair_stats()
    ok = mle_exists(counts.n_models, counts.pair_i, counts.pair_j, s, w)
    theta = fit_point(counts.pair_i, counts.pair_j, s, w, counts.n_models, 0.0 if ok else 0.01)
    start, cpu = time.perf_counter(), time.process_time()
    draws = bootstrap_bt(counts, theta, rounds, seed=0, prior_weight=0.01)
    out[f"t{spec}"] = np.array([time.perf_counter() - start, time.process_time() - cpu, len(counts.pair_i),
                                draws.prior_rounds.sum(), (~draws.active.all(axis=1)).sum()])
    out[f"r{spec}"] = np.where(draws.active, draws.theta, np.nan)
np.savez(sys.argv[3], **out)
"""


def measure(root: Path, rounds: int, path: Path) -> dict:
    """Run every arena with `root`'s engine in a fresh process; its figures and draws."""
    import numpy as np

    specs = [f"{m}x{n}" for m, n in ARENAS]
    subprocess.run([sys.executable, "-c", CHILD, str(root), str(HERE), str(path), str(rounds), *specs], check=True)
    return dict(np.load(path))


def main() -> None:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from rating_speed import machine_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="checkout of an older engine, measured back to back")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    print(machine_info())
    print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        now = measure(HERE.parent, args.rounds, Path(tmp) / "now.npz")
        old = measure(args.before.resolve(), args.rounds, Path(tmp) / "old.npz") if args.before else None
    print("| models | battles | pairs | rounds (prior / a model absent) | now | before | largest difference |")
    print("|---|---|---|---|---|---|---|")
    for m, n in ARENAS:
        spec = f"{m}x{n}"
        wall, cpu, pairs, prior, absent = now[f"t{spec}"]
        before, diff = "", ""
        if old is not None:
            b = old[f"t{spec}"]
            before = f"{b[0]:.2f} s (CPU {b[1]:.2f} s)"
            x, y = now[f"r{spec}"], old[f"r{spec}"]
            centred = (x - np.nanmean(x, 1, keepdims=True)) - (y - np.nanmean(y, 1, keepdims=True))
            diff = f"{np.nanmax(np.abs(centred)) * 400 / np.log(10):.1e} points"
        print(f"| {m} | {n:,} | {int(pairs):,} | {args.rounds} ({int(prior)} / {int(absent)}) | {wall:.2f} s "
              f"(CPU {cpu:.2f} s) | {before} | {diff} |")
    print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
