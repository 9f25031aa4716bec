"""Benchmark of the rating engine on a seeded synthetic arena (1.5M battles, 150 models, ~30% ties).

Prints machine info, aggregation + BT fit time, fit + 1000 bootstrap rounds time, peak memory, and a
per-battle logistic-regression reference fit (FastChat's early method: ties as two rows) on a 200k subset.
Run: python benchmarks/rating_speed.py [--battles N] [--models M] [--rounds R] [--subset K]
Every target of the issue in one table (end to end, 1000 models, categories, style control, Elo; floor and
FastChat's way beside each; optionally an older engine back to back): python benchmarks/rating_speed.py
--targets [--before DIR] (benchmarks/rating_targets.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import scipy.sparse as sp
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.rating.bootstrap import bootstrap_bt, percentile_interval
from arena.rating.bt import fit_point, normalise
from arena.rating.counts import aggregate
from arena.rating.diagnostics import mle_exists
from arena.rating.elo import online_elo
from arena.rating.leaderboard import rate_battles
from arena.rating.options import RatingOptions

FACTOR = 400 / np.log(10)


def machine_info() -> str:
    """CPU model, cores and library versions."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}\n"
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}"
    )


def synthetic_battles(n: int, m: int, seed: int, tie_rate: float = 0.3) -> tuple[pd.DataFrame, np.ndarray]:
    """Battles drawn from BT strengths (rating SD 100), ~tie_rate ties, random sides."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 100, m)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 400))
    u = rng.random(n)
    score = np.where(u < tie_rate, 0.5, np.where(u < tie_rate + (1 - tie_rate) * p, 1.0, 0.0))
    names = np.array([f"model-{k:03d}" for k in range(m)], dtype=object)
    frame = pd.DataFrame({"model_a": names[a], "model_b": names[b], "score": score, "weight": 1.0})
    return frame, strength


def agg_and_fit(battles: pd.DataFrame) -> tuple[list[str], np.ndarray, object]:
    """Aggregate to pair counts and fit BT exactly (the engine's path: `fit_point`, as the leaderboard fits)."""
    counts = aggregate(battles)
    s, n = counts.pair_stats()
    alpha = 0.0 if mle_exists(counts.n_models, counts.pair_i, counts.pair_j, s, n) else 0.01
    theta = fit_point(counts.pair_i, counts.pair_j, s, n, counts.n_models, alpha)
    return counts.models, theta, counts


def per_battle_reference(battles: pd.DataFrame, models: list[str]) -> np.ndarray:
    """FastChat-style per-battle logistic regression: every battle becomes two rows (a tie one win and
    one loss, a decisive battle two identical rows); no intercept; fitted by L-BFGS on the rows."""
    index = {m: k for k, m in enumerate(models)}
    a = battles["model_a"].map(index).to_numpy()
    b = battles["model_b"].map(index).to_numpy()
    s = battles["score"].to_numpy()
    tie = s == 0.5
    rows_a = np.r_[a, a]
    rows_b = np.r_[b, b]
    y = np.r_[np.where(tie, 1.0, s), np.where(tie, 0.0, s)]
    n = len(y)
    x = sp.csr_matrix(
        (np.r_[np.ones(n), -np.ones(n)], (np.r_[np.arange(n), np.arange(n)], np.r_[rows_a, rows_b])),
        shape=(n, len(models)),
    )
    sign = 2 * y - 1

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = sign * (x @ theta)
        value = np.logaddexp(0, -z).sum()
        grad = x.T @ (-sign / (1 + np.exp(z)))
        return float(value) / n, grad / n

    res = minimize(
        loss,
        np.zeros(len(models)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "gtol": 1e-12, "ftol": 1e-15},
    )
    return res.x - res.x.mean()


def sklearn_reference(battles: pd.DataFrame, models: list[str]) -> np.ndarray | None:
    """The method of FastChat's early compute_mle_elo: scikit-learn LogisticRegression (no intercept, no
    penalty) on a dense design with one row per battle and order (a tie: one win and one loss); None
    when scikit-learn is not installed (`pip install scikit-learn` to include it)."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return None
    index = {m: k for k, m in enumerate(models)}
    a = battles["model_a"].map(index).to_numpy()
    b = battles["model_b"].map(index).to_numpy()
    s = battles["score"].to_numpy()
    n = len(a)
    x = np.zeros((2 * n, len(models)))
    rows = np.arange(2 * n)
    x[rows, np.r_[a, a]] = np.log(10.0)
    x[rows, np.r_[b, b]] = -np.log(10.0)
    y = np.r_[np.where(s == 0.5, 1, s), np.where(s == 0.5, 0, s)].astype(int)
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6, max_iter=1000)  # C=inf: no penalty
    lr.fit(x, y)
    coef = lr.coef_[0] * np.log(10.0)  # back to natural-log strengths
    return coef - coef.mean()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--battles", type=int, default=1_500_000)
    parser.add_argument("--models", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--subset", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", action="store_true",
                        help="every target in one table (rating_targets.py; all other options go to it, "
                        "e.g. --targets --before DIR --rounds 1000)")
    parser.add_argument("--files", action="store_true",
                        help="file section only: read floor, streamed parse, `arena rate` end to end (rating_read_speed.py)")
    if "--targets" in sys.argv:  # every other option goes to rating_targets.py
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from rating_targets import main as targets_main

        sys.argv.remove("--targets")
        targets_main()
        return
    args = parser.parse_args()
    print(machine_info())
    if args.files:
        from rating_read_speed import file_section

        file_section([args.battles, 2 * args.battles], args.rounds, Path(".bench-data"))
        return
    battles, _ = synthetic_battles(args.battles, args.models, args.seed)
    print(
        f"data: {len(battles):,} battles, {args.models} models, ties {np.mean(battles['score'] == 0.5):.1%}"
    )

    start = time.perf_counter()
    models, theta, counts = agg_and_fit(battles)
    t_fit = time.perf_counter() - start
    print(
        f"aggregation + BT fit: {t_fit:.2f} s  ({len(counts.pair_i):,} pairs, {len(counts.cell_count):,} cells)"
    )

    start = time.perf_counter()
    models, theta, counts = agg_and_fit(battles)
    draws = bootstrap_bt(counts, theta, args.rounds, args.seed, 0.01)
    ratings = normalise(
        np.where(draws.active, draws.theta, np.nan), models, FACTOR, 1000.0, active=draws.active
    )
    low, high = percentile_interval(ratings, (2.5, 97.5))
    t_boot = time.perf_counter() - start
    print(
        f"aggregation + fit + {args.rounds} bootstrap rounds: {t_boot:.2f} s  "
        f"(median 95% CI width {np.median(high - low):.1f} points, prior rounds {int(draws.prior_rounds.sum())})"
    )

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory so far (data, aggregation, fit, {args.rounds} rounds; max RSS): {peak:.0f} MB")

    order = np.random.default_rng(args.seed).permutation(len(battles))
    subset = battles.iloc[order[: args.subset]].reset_index(drop=True)
    start = time.perf_counter()
    sub_models, sub_theta, _ = agg_and_fit(subset)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    ref = per_battle_reference(subset, sub_models)
    t_ref = time.perf_counter() - start
    diff = np.max(np.abs((sub_theta - sub_theta.mean()) - ref)) * FACTOR
    print(
        f"per-battle logistic regression on {len(subset):,} battles: {t_ref:.2f} s vs {t_ours:.3f} s "
        f"on counts ({t_ref / t_ours:.0f}x faster); largest rating difference {diff:.1e} points"
    )

    start = time.perf_counter()
    sk = sklearn_reference(subset, sub_models)
    t_sk = time.perf_counter() - start
    if sk is None:
        print("scikit-learn not installed: skipping the sklearn reference (pip install scikit-learn)")
    else:
        diff_sk = np.max(np.abs((sub_theta - sub_theta.mean()) - sk)) * FACTOR
        print(
            f"scikit-learn LogisticRegression per battle (FastChat's early compute_mle_elo) on {len(subset):,} "
            f"battles: {t_sk:.2f} s vs {t_ours:.3f} s on counts ({t_sk / t_ours:.0f}x); largest rating "
            f"difference {diff_sk:.2f} points; {args.rounds} bootstrap refits that way would take about "
            f"{t_sk * args.rounds / 60:.0f} min, against {t_boot:.1f} s here on all {len(battles):,} battles"
        )

    start = time.perf_counter()
    rate_battles(battles, RatingOptions(bootstrap=args.rounds, seed=args.seed))
    print(
        f"rate_battles end to end (table, tallies, {args.rounds} rounds): {time.perf_counter() - start:.2f} s"
    )

    codes = pd.Index(models)
    start = time.perf_counter()
    online_elo(
        codes.get_indexer(battles["model_a"]),
        codes.get_indexer(battles["model_b"]),
        battles["score"].to_numpy(),
        battles["weight"].to_numpy(),
        len(models),
    )
    print(f"online Elo, one pass over {len(battles):,} battles: {time.perf_counter() - start:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the whole benchmark process, references included (max RSS): {peak:.0f} MB")


if __name__ == "__main__":
    main()
