"""Do `arena compare`'s difference intervals cover the true change at the stated rate, and how fast is it?

Simulated weekly pairs with known Bradley-Terry strengths: last week's battles, then a week in which one
model's answers changed (+CHANGE log-odds) and every other pair's judgments are cached (identical). Prints
per-model coverage of the true change (truth on the median scale: CHANGE * 400/ln10 for the changed
model, 0 for the others), how often the changed model is found, how often ANY unchanged model is
flagged (Bonferroni, the default, vs each model alone), and the seconds per comparison.
Then the seconds of one comparison of larger runs (12 models x 300 questions, 30 x 500).
Run: python benchmarks/compare_coverage.py [--sims 100] [--models 6] [--questions 80] [--rounds 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from arena.compare.result import compare_runs
from arena.compare.runs import RunFacts
from arena.rating.io import validate_battles

FACTOR = 400 / np.log(10)


def simulate(strength: np.ndarray, n_questions: int, rng: np.random.Generator) -> pd.DataFrame:
    """One battle per model pair and question, winner drawn from BT (no ties: ties drawn at a fixed rate would
    not be BT, and the fitted change would then differ from the simulated one)."""
    i, j = np.triu_indices(len(strength), 1)
    qi = np.repeat(np.arange(n_questions), len(i))
    a, b = np.tile(i, n_questions), np.tile(j, n_questions)
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    winner = np.where(rng.random(len(a)) < p, "model_a", "model_b")
    return pd.DataFrame({"question_id": [f"q{q}" for q in qi], "model_a": [f"m{k}" for k in a],
                         "model_b": [f"m{k}" for k in b], "winner": winner, "judge": "sim"})


def weekly_pair(n_models: int, n_questions: int, change: float, seed: int) -> tuple[RunFacts, RunFacts]:
    """(old, new) runs in memory: model m0 changed by `change`, every other pair's battles identical."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.5, n_models)
    old = simulate(strength, n_questions, rng)
    changed = strength.copy()
    changed[0] += change
    redrawn = simulate(changed, n_questions, rng)
    kept = old[(old["model_a"] != "m0") & (old["model_b"] != "m0")]
    new = pd.concat([kept, redrawn[(redrawn["model_a"] == "m0") | (redrawn["model_b"] == "m0")]], ignore_index=True)
    facts = [RunFacts(Path(name), {}, {}, [], [], validate_battles(frame)) for name, frame in (("old", old), ("new", new))]
    return facts[0], facts[1]


def rounds_and_machine(doc: str) -> argparse.Namespace:
    """A speed benchmark's options (--rounds, default 300), after printing the machine line (cores, load)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, python {platform.python_version()}")
    return args


def main() -> None:
    """Run the simulation and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--questions", type=int, default=80)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--change", type=float, default=0.5, help="true change of m0 in natural log-odds")
    ap.add_argument("--level", type=float, default=0.90)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"{args.sims} simulated weekly pairs: {args.models} models, {args.questions} questions, one battle per pair "
          f"and question, m0 changed by {args.change} log-odds ({args.change * FACTOR:.0f} points), "
          f"{args.rounds} rounds, level {args.level}")
    covered = {"adjusted": [], "per-model": []}
    found = {"adjusted": 0, "per-model": 0}
    false_any = {"adjusted": 0, "per-model": 0}
    seconds = []
    for sim in range(args.sims):
        old, new = weekly_pair(args.models, args.questions, args.change, seed=sim)
        for name, adjust in (("adjusted", True), ("per-model", False)):
            start = time.perf_counter()
            res = compare_runs(old, new, level=args.level, rounds=args.rounds, seed=sim, categories=False,
                               adjust=adjust, why=False)
            seconds.append(time.perf_counter() - start)
            for row in res["models"]:
                truth = args.change * FACTOR if row["model"] == "m0" else 0.0
                covered[name].append(row["ci_low"] <= truth <= row["ci_high"])
            found[name] += "m0" in res["better"]
            false_any[name] += bool([m for m in res["better"] + res["worse"] if m != "m0"])
    for name, hits in covered.items():
        print(f"{name:>9}: coverage of the true change {np.mean(hits):.3f} (stated >= "
              f"{args.level if name == 'per-model' else 1 - (1 - args.level) / args.models:.3f} per model); "
              f"changed model found in {found[name]}/{args.sims}; any unchanged model flagged in "
              f"{false_any[name]}/{args.sims} (stated at most {1 - args.level:.2f} for adjusted)")
    print(f"seconds per comparison ({args.rounds} rounds): median {np.median(seconds):.3f}")
    speed(args.rounds)


def speed(rounds: int) -> None:
    """Seconds of one comparison of larger runs, overall only and with 8 categories."""
    for n_models, n_questions in ((12, 300), (30, 500)):
        old, new = weekly_pair(n_models, n_questions, 0.5, seed=0)
        for run in (old, new):
            run.battles["category"] = [f"c{int(q[1:]) % 8}" for q in run.battles["question_id"]]
        times = []
        for categories in (False, True):
            start = time.perf_counter()
            compare_runs(old, new, rounds=rounds, categories=categories, why=False)  # why: compare_why_speed.py
            times.append(time.perf_counter() - start)
        print(f"{n_models} models x {n_questions} questions ({len(old.battles)} battles per run), {rounds} rounds: "
              f"{times[0]:.2f} s overall, {times[1]:.2f} s with 8 categories")


if __name__ == "__main__":
    main()
