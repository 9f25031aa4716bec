"""Seconds that the per-judge breakdown adds to `arena compare`, and whether it finds the judge that saw the change.

Two judges judge the same simulated weekly pair (benchmarks/compare_coverage.py: model m0 changed, every other
judgment kept): 'sharp' sees m0's change, 'blind' judges m0's new answers as it judged the old ones. Both judges'
battles sit in one battles file (the `judge` column). The same battles with one judge name (no breakdown) are
the baseline, so the difference is the breakdown: each judge's own paired bootstrap and the contributions.

    python benchmarks/compare_judges_speed.py [--rounds 300]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_coverage import rounds_and_machine, weekly_pair

from arena.compare.result import compare_runs
from arena.compare.runs import RunFacts


def two_judges(n_models: int, n_questions: int, change: float, seed: int) -> tuple[RunFacts, RunFacts]:
    """(old, new): sharp's battles from a pair where m0 changed, blind's from one where nothing changed."""
    sharp, blind = weekly_pair(n_models, n_questions, change, seed), weekly_pair(n_models, n_questions, 0.0, seed + 1)
    runs = []
    for k in (0, 1):
        frame = pd.concat([sharp[k].battles.assign(judge="sharp"), blind[k].battles.assign(judge="blind")],
                          ignore_index=True)
        runs.append(RunFacts(sharp[k].path, {}, {}, [], [], frame))
    return runs[0], runs[1]


def one_name(run: RunFacts) -> RunFacts:
    """The same battles recorded as one judge's."""
    return RunFacts(run.path, {}, {}, [], [], run.battles.assign(judge="one"))


def main() -> None:
    """Time both comparisons for a few sizes and print the figures side by side."""
    args = rounds_and_machine(__doc__)
    compare_runs(*two_judges(4, 20, 1.0, seed=9), rounds=20, categories=False, style_rounds=0)  # warm-up (imports)
    for n_models, n_questions in ((6, 80), (12, 300), (30, 500)):
        old, new = two_judges(n_models, n_questions, 1.0, seed=0)
        times, results = [], []
        for pair in ((one_name(old), one_name(new)), (old, new)):
            start = time.perf_counter()
            results.append(compare_runs(*pair, rounds=args.rounds, categories=False, style_rounds=0))
            times.append(time.perf_counter() - start)
        found = (results[1].get("why") or {}).get("m0", {}).get("judges") or {}
        print(f"{n_models} models x {n_questions} questions x 2 judges ({len(old.battles):,} battles a run), "
              f"{args.rounds} rounds: compare {times[0]:.2f} s with one judge name, {times[1]:.2f} s with the "
              f"per-judge breakdown (+{times[1] - times[0]:.2f} s); judges that see m0's change: "
              f"{found.get('see', 'm0 not flagged')}; flag: {found.get('flag')}")


if __name__ == "__main__":
    main()
