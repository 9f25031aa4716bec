"""Question-level against battle-level bootstrap: wall time of `rate_battles` with 1000 rounds, same data.

A seeded synthetic arena (BT strengths, 30% ties) whose battles belong to questions; both resampling
units run in one process, side by side, with the machine printed. Figures are quoted in the README.
Run: python benchmarks/question_bootstrap_speed.py [--battles 150000 --questions 5000 --models 30]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rating_speed import machine_info, synthetic_battles  # noqa: E402

from arena.rating.leaderboard import rate_battles  # noqa: E402
from arena.rating.options import RatingOptions  # noqa: E402


def main() -> None:
    """Time both resampling units and print the interval widths they give."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--battles", type=int, default=150_000)
    ap.add_argument("--questions", type=int, default=5_000)
    ap.add_argument("--models", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=1000)
    args = ap.parse_args()
    battles, _ = synthetic_battles(args.battles, args.models, seed=7)
    battles["question_id"] = np.random.default_rng(8).integers(0, args.questions, len(battles)).astype(str)
    print(machine_info())
    print(f"{args.battles:,} battles, {args.questions:,} questions, {args.models} models, {args.rounds} rounds")
    for unit in ("battle", "question"):
        options = RatingOptions(bootstrap=args.rounds, seed=0, bootstrap_by=unit)
        t0 = time.perf_counter()
        result = rate_battles(battles, options)
        seconds = time.perf_counter() - t0
        width = float((result.table["ci_high"] - result.table["ci_low"]).median())
        print(f"  by {unit:<8}  {seconds:6.2f} s   median 95% interval width {width:5.1f} rating points")


if __name__ == "__main__":
    main()
