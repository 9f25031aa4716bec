"""Where the time of `arena rate` with categories goes: CPU of each bootstrap stage, overall vs one category.

The categories target (benchmarks/rating_targets.py: all categories and overall in one call at most 2x the
overall alone) compares wall times on a shared two-core machine; this script measures the work instead, on
one thread, stage by stage, for 1000 rounds: drawing the resampled cell counts (`draws.CellSampler`),
summing them into per-model tallies and dense pair totals (`bootstrap._Batches`), and refitting
(`bootstrap._refit`). The work ratio (all four bootstraps over the overall one) bounds the wall ratio
from below whenever the overall bootstrap already keeps both cores busy. A last line bounds any scheme that
still refits every category on its own resample: the overall bootstrap plus the categories' refits alone
(as if their draws and sums cost nothing, e.g. shared with the overall draw).

Run: python benchmarks/rating_category_parts.py [--data .bench-data] [--rounds 1000]
(uses the 1.5M-battle file of rating_targets.py, written there if missing). Reads private parts of
arena.rating.bootstrap: it follows that module's internals, not a public interface.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from rating_read_speed import write_jsonl

from arena.rating.bootstrap import Refits, _Batches, _refit
from arena.rating.bt import fit_point, one_blas_thread
from arena.rating.counts import aggregate_indexed
from arena.rating.draws import CellSampler
from arena.rating.leaderboard import prepare
from arena.rating.options import RatingOptions
from arena.rating.summary import battles_for_rating

_BATCH = 50


def stages(summary: object, category: str | None, rounds: int) -> dict[str, float]:
    """CPU seconds of each bootstrap stage for `rounds` rounds of one data set, on one thread."""
    battles, _ = prepare(summary, category)  # type: ignore[arg-type]
    counts, _ = aggregate_indexed(battles)
    s, n = counts.pair_stats()
    theta = fit_point(counts.pair_i, counts.pair_j, s, n, counts.n_models, 0.0)
    refits = Refits.prepare(counts, theta, 0.01)
    batches, sampler = _Batches(refits, 1), CellSampler(counts.cell_count)
    rng = np.random.default_rng(0)
    spent = {"draw": 0.0, "sum": 0.0, "refit": 0.0}
    for start in range(0, rounds, _BATCH):
        size = min(_BATCH, rounds - start)
        t0 = time.process_time()
        drawn = sampler.draw(rng, size, batches.lend(size))
        t1 = time.process_time()
        batch = batches(drawn)
        t2 = time.process_time()
        _refit(refits, batch.won, batch.lost, batch.active,
               lambda rows, d=batch.drawn: counts.pair_stats(d[rows]), batch.totals)
        batch.release()
        t3 = time.process_time()
        spent["draw"] += t1 - t0
        spent["sum"] += t2 - t1
        spent["refit"] += t3 - t2
    return {**spent, "cells": len(counts.cell_count), "pairs": len(counts.pair_i), "battles": counts.n_battles}


def main() -> None:
    """Print the stage table and the work ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".bench-data"))
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    options = RatingOptions(bootstrap=args.rounds, seed=0)
    summary = battles_for_rating(write_jsonl(args.data / "battles-1500000.jsonl", 1_500_000), options)
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores shared)")
    print(f"| data | battles | cells | pairs | draw | sum | refit | total (CPU s, {args.rounds} rounds, 1 thread) |")
    print("|---|---|---|---|---|---|---|---|")
    totals, refits = {}, {}
    with one_blas_thread():
        for category in [None, *summary.categories()]:
            fig = stages(summary, category, args.rounds)
            totals[category] = fig["draw"] + fig["sum"] + fig["refit"]
            refits[category] = fig["refit"]
            print(f"| {category or 'overall'} | {fig['battles']:,} | {fig['cells']:,} | {fig['pairs']:,} | "
                  f"{fig['draw']:.2f} | {fig['sum']:.2f} | {fig['refit']:.2f} | {totals[category]:.2f} |")
    print(f"work ratio, all {len(totals)} bootstraps over the overall one: "
          f"{sum(totals.values()) / totals[None]:.1f}x")
    bound = (totals[None] + sum(v for k, v in refits.items() if k is not None)) / totals[None]
    print(f"lower bound with every category's draw and sum free (the overall bootstrap plus the categories' "
          f"refits alone): {bound:.2f}x")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
