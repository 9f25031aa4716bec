"""Speed of the rating math at scale: BT bootstrap (150 / 1000 models), style-controlled bootstrap, Elo bootstrap.

Seeded synthetic arenas (BT strengths, 30% ties, random sides; style features that sway outcomes).
Each section prints the engine's time beside the per-round approach FastChat takes for the same job
(one optimiser fit per round for BT and style control, one per-battle Python pass per round for Elo),
timed on a few rounds and scaled to the full count. Inputs are arrays / pair counts, as the engine
receives them after parsing (parsing is timed by benchmarks/rating_speed.py).
Run: python benchmarks/rating_math_speed.py [--rounds 1000] [--elo-rounds 100] [--sections bt,style,elo]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rating_speed import agg_and_fit, machine_info, synthetic_battles  # noqa: E402

from arena.rating.bootstrap import bootstrap_bt, resample_counts  # noqa: E402
from arena.rating.bt import fit_lbfgs  # noqa: E402
from arena.rating.elo import bootstrap_elo, online_elo  # noqa: E402
from arena.rating.style import fit_style, style_control, style_features  # noqa: E402

FACTOR = 400 / np.log(10)


def load() -> str:
    """The machine's load average (the benchmark shares the machine with whatever else runs)."""
    try:
        return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def codes(battles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer model codes of model_a / model_b."""
    index = pd.Index(sorted(set(battles["model_a"]) | set(battles["model_b"])))
    return index.get_indexer(battles["model_a"]), index.get_indexer(battles["model_b"]), len(index)


def bt_section(n: int, m: int, rounds: int) -> None:
    """BT bootstrap on counts: draws alone, full bootstrap, per-round L-BFGS (FastChat-like) scaled."""
    battles, _ = synthetic_battles(n, m, seed=0)
    _, theta, counts = agg_and_fit(battles)
    t0 = time.perf_counter()
    for _ in resample_counts(counts, rounds, seed=0):
        pass
    t_draw = time.perf_counter() - t0
    t0 = time.perf_counter()
    draws = bootstrap_bt(counts, theta, rounds, seed=0, prior_weight=0.01)
    t_boot = time.perf_counter() - t0
    batch = next(resample_counts(counts, 3, seed=0))
    t0 = time.perf_counter()
    for row in batch:
        s, w = counts.pair_stats(row)
        fit_lbfgs(counts.pair_i, counts.pair_j, s, w, m, 0.0, theta)
    t_one = (time.perf_counter() - t0) / len(batch)
    print(
        f"  BT {m:>4} models, {n:>9,} battles ({len(counts.pair_i):,} pairs): {rounds} rounds {t_boot:6.1f} s "
        f"(of which drawing the resamples {t_draw:.1f} s); one L-BFGS fit per round: {t_one * rounds:7.1f} s "
        f"({t_one * rounds / t_boot:.0f}x); prior rounds {int(draws.prior_rounds.sum())}"
    )


def styled(n: int, m: int, seed: int) -> pd.DataFrame:
    """Synthetic battles with answer lengths and markdown counts that sway the outcome."""
    battles, _ = synthetic_battles(n, m, seed)
    rng = np.random.default_rng(seed + 1)
    battles["len_a"], battles["len_b"] = rng.integers(50, 1500, n).astype(float), rng.integers(50, 1500, n).astype(float)
    for kind in ("header", "list", "bold"):
        battles[f"{kind}_a"], battles[f"{kind}_b"] = rng.poisson(3, n).astype(float), rng.poisson(3, n).astype(float)
    longer = (battles["len_a"] - battles["len_b"]) / (battles["len_a"] + battles["len_b"])
    flip = rng.random(n) < 0.3 * np.abs(longer)
    battles.loc[flip, "score"] = np.where(longer[flip] > 0, 1.0, 0.0)
    return battles


def style_section(n: int, m: int, rounds: int) -> None:
    """Style-controlled fit + bootstrap, against one L-BFGS refit per round (FastChat's approach) scaled."""
    battles = styled(n, m, seed=3)
    x, names, _ = style_features(battles)
    a, b, n_models = codes(battles)
    s, w = battles["score"].to_numpy(float), battles["weight"].to_numpy(float)
    t0 = time.perf_counter()
    fit = style_control(a, b, x, names, s, w, n_models, rounds, seed=0, prior_weight=0.01)
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    params = fit_style(a, b, x, s, w, n_models)
    t_fit = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(2):
        k = np.bincount(rng.integers(0, n, n), minlength=n)
        fit_style(a[k > 0], b[k > 0], x[k > 0], s[k > 0], (w * k)[k > 0], n_models, 0.0, params)
    t_one = (time.perf_counter() - t0) / 2
    width = np.median(np.diff(np.nanpercentile(fit.draws[:, :n_models] * FACTOR, [2.5, 97.5], axis=0), axis=0))
    print(
        f"  style control {n_models} models, {n:>9,} battles, {len(names)} features: fit + {rounds} rounds "
        f"{t_boot:6.1f} s (point fit {t_fit:.1f} s); one L-BFGS refit per round: {t_one * rounds:7.0f} s "
        f"({t_one * rounds / t_boot:.0f}x); median 95% width {width:.1f} points"
    )


def elo_section(n: int, m: int, rounds: int) -> None:
    """Elo bootstrap, against one per-battle Python pass per round (FastChat's compute_elo) scaled."""
    battles, _ = synthetic_battles(n, m, seed=5)
    a, b, n_models = codes(battles)
    s, w = battles["score"].to_numpy(float), battles["weight"].to_numpy(float)
    t0 = time.perf_counter()
    bootstrap_elo(a, b, s, w, n_models, rounds, seed=0)
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    online_elo(a, b, s, w, n_models)
    t_one = time.perf_counter() - t0
    print(
        f"  Elo {n_models} models, {n:>9,} battles: {rounds} bootstrap rounds {t_boot:6.1f} s; one per-battle "
        f"pass per round: {t_one * rounds:6.1f} s ({t_one * rounds / t_boot:.1f}x)"
    )


def main() -> None:
    """Run the chosen sections and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--elo-rounds", type=int, default=100)
    parser.add_argument("--sections", default="bt,style,elo")
    parser.add_argument("--sizes", default="200000,1500000", help="battle counts, comma-separated")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    sizes = [int(v) for v in args.sizes.split(",")]
    print(machine_info())
    print(load() + " at start (2 cores; other processes slow every figure down)")
    if "bt" in sections:
        for m in (150, 1000):
            for n in sizes:
                bt_section(n, m, args.rounds)
    if "style" in sections:
        for n in sizes:
            style_section(n, 150, args.rounds)
    if "elo" in sections:
        elo_section(sizes[-1], 150, args.elo_rounds)
    print(load() + " at the end")


if __name__ == "__main__":
    main()
