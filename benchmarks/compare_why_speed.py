"""Seconds that the 'why' section and the reports add to `arena compare`, on simulated weekly pairs.

The pairs come from benchmarks/compare_coverage.py (one model changed, every other judgment kept), with answer
lengths (len_a / len_b, tokens) and markdown counts added so that the style-controlled refit runs.
Prints: the whole comparison (paired bootstrap, verdicts and the why section), the why section timed again on
its own (contributions, flips, lengths, style-controlled refit of both runs, power), and rendering report.md
and report.html (plotly.js inline).

    python benchmarks/compare_why_speed.py [--rounds 300]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_coverage import rounds_and_machine, weekly_pair  # noqa: E402

from arena.compare.html import html_report  # noqa: E402
from arena.compare.render import markdown  # noqa: E402
from arena.compare.result import STYLE_ROUNDS, compare_runs  # noqa: E402
from arena.compare.why import explain  # noqa: E402


def _with_style(run, rng: np.random.Generator) -> None:
    """Add answer lengths and markdown counts to a run's battles (in place)."""
    n = len(run.battles)
    for side in "ab":
        run.battles[f"len_{side}"] = rng.integers(50, 800, n).astype(float)
        run.battles[f"list_{side}"] = rng.integers(0, 6, n).astype(float)


def main() -> None:
    """Time the parts for a few sizes and print them."""
    args = rounds_and_machine(__doc__)
    for n_models, n_questions in ((6, 80), (12, 300), (30, 500)):
        old, new = weekly_pair(n_models, n_questions, 0.8, seed=0)
        rng = np.random.default_rng(1)
        for run in (old, new):
            _with_style(run, rng)
        start = time.perf_counter()
        result = compare_runs(old, new, rounds=args.rounds, categories=False)
        total = time.perf_counter() - start
        questions = sorted(set(old.battles["question_id"]))
        whys = []
        for style_rounds in (min(args.rounds, STYLE_ROUNDS), 0):
            settings = {"factor": 400 / np.log(10), "reference": None, "prior_weight": 0.01, "rounds": args.rounds,
                        "style_rounds": style_rounds}
            start = time.perf_counter()
            explain(old, new, result, questions, settings)
            whys.append(time.perf_counter() - start)
        start = time.perf_counter()
        md = markdown(result)
        html = html_report(result)
        write = time.perf_counter() - start
        print(f"{n_models} models x {n_questions} questions ({len(old.battles):,} battles a run), {args.rounds} rounds: "
              f"arena compare {total:.2f} s; the why section alone {whys[0]:.2f} s with "
              f"{min(args.rounds, STYLE_ROUNDS)} style rounds, {whys[1]:.2f} s with --style-rounds 0; "
              f"reports {write:.2f} s (md {len(md) / 1e3:.0f} kB, html {len(html) / 1e6:.1f} MB)")

if __name__ == "__main__":
    main()
