"""Adaptive judging's knobs, on the simulated arena of `adaptive_judging.py`: each variant of the settings run on the
same arenas (same seeds), against the same all-pairs reference.

Each arena is simulated once and its all-pairs reference fitted once; every variant then runs the product's loop
(`judges.adaptive.run_schedule`) from the same cache and is measured as `adaptive_judging.py` measures (1000-round
bootstrap). Columns: 'share' = calls / all-pairs' open calls; 'reached' = the strict criterion of
`adaptive_judging.py`; 'firm' = the same with only the neighbour pairs all-pairs settles at P(order) >= 0.999
asked to be settled (a noise-aware column: pairs all-pairs settles at 0.990-0.999 are near coin flips for a run
with less data, see `all-reseeded`); 'same' = the exact order of all-pairs; 'tau' = Kendall tau with the true
order; 'gap w' / 'width' = interval widths relative to all-pairs (neighbours' differences / models' own).

Variants are named `key=value,...` over judge.adaptive's fields (`futility`, `batch_calls`, `warmup`, `level`,
`orders`, ...) plus the benchmark-only `margin` (a stop is confirmed only if every neighbour pair counted as
settled has P(order) >= level + margin on the 1000-round confirmation fit, or intervals apart) and `weights`
(`chance`: the greedy weighs targets by their forecast chance of settling), `budget` (max_calls as a share of the
arena's open calls: `budget=0.5` is the issue's half of all-pairs' calls, spent by the adaptive loop and its stop
rule) and `random` (no loop: that share of the open cells drawn uniformly at random, the same calls unsteered;
e.g. `random=0.5` beside `budget=0.5`). `base` is the product's defaults.
Run: python benchmarks/adaptive_knobs.py [--seeds 5] [--first-seed 0] [--cases weekly-1,weekly-2,fresh]
       [--variants "base;futility=0.2;batch_calls=100"]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adaptive_judging import (
    ROUNDS,
    figures,
    fit_ratings,
    frame,
    judge,
    measure,
    prepare,
    random_order,
    reached,
)
from rating_speed import machine_info

from arena.config import AdaptiveConfig
from judges.adaptive import CONFIRM_ROUNDS, AdaptiveSchedule, Fit, Plan, Unit, run_schedule


class Variant(AdaptiveSchedule):
    """The product's schedule with the benchmark-only knobs: `margin` (a stop confirmed on the 1000-round fit counts a
    neighbour pair as settled only at level + margin) and `weights` (`chance`: the greedy weighs each target by its
    forecast chance of settling, `_chances`, instead of its minority share)."""

    margin = 0.0
    weights = "minority"

    def _weights(self, fit: Fit, targets: list[tuple[str, str]]) -> np.ndarray:
        if self.weights != "chance":
            return super()._weights(fit, targets)
        pairs = [p for p in itertools.combinations(sorted(self.models), 2) if self.open.get(p)]
        return np.maximum(np.array(self._chances(fit, targets, pairs)), 0.02)

    def plan(self, fit: Fit | None) -> Plan:
        if fit is None or self.margin <= 0 or fit.draws.shape[0] < CONFIRM_ROUNDS:
            return super().plan(fit)
        settings = self.settings
        self.settings = settings.model_copy(update={"level": min(settings.level + self.margin, 0.9999)})
        try:
            return super().plan(fit)
        finally:
            self.settings = settings


def parse(spec: str) -> tuple[dict, float]:
    """A variant's settings update and its margin (`budget` and `random` stay in the update as shares)."""
    update: dict = {}
    margin = 0.0
    if spec == "base":
        return update, margin
    for part in spec.split(","):
        key, value = part.split("=")
        if key == "margin":
            margin = float(value)
        elif key in ("budget", "random"):
            update[key] = float(value)
        elif key in ("orders", "weights"):
            update[key] = value
        else:
            field = AdaptiveConfig.model_fields[key]
            update[key] = field.annotation(value) if field.annotation in (int, float) else float(value)
    return update, margin


def run_arena(seed: int, changed: int, variants: list[str]) -> dict[str, dict]:
    """Every variant on one arena (simulated once), measured against the same all-pairs fit."""
    now, truth, cached, open_cells, known = prepare(seed, changed)
    every = sorted(now.outcome)
    level = AdaptiveConfig().level
    ref_fit = judge(now, every, seed)
    ref = measure(ref_fit, ref_fit, truth, level)
    out = {"all": {**ref, "calls": 2 * len(open_cells), "reached": True, "stopped": "-", "seconds": 0.0}}
    again = fit_ratings(frame(now, every), ROUNDS, seed + 1)
    m = measure(again, ref_fit, truth, level)
    out["all-reseeded"] = {**m, "calls": 2 * len(open_cells), "reached": reached(m, ref),
                           "stopped": "-", "seconds": 0.0}
    for spec in variants:
        update, margin = parse(spec)
        weights = update.pop("weights", "minority")
        budget, share = update.pop("budget", None), update.pop("random", None)
        judged: list[Unit] = list(cached)
        if share is not None:  # unsteered: a uniform random share of the open cells, both orders each
            pick = random_order(len(open_cells), seed)[: round(share * len(open_cells))]
            judged.extend(open_cells[i] for i in sorted(pick))
            fit = judge(now, judged, seed)
            m = measure(fit, ref_fit, truth, level)
            out[spec] = {**m, "calls": 2 * len(pick), "reached": reached(m, ref), "stopped": "-", "seconds": 0.0}
            continue
        if budget is not None:
            update["max_calls"] = round(budget * 2 * len(open_cells))

        async def ask(units: list[Unit], judged: list[Unit] = judged) -> int:
            judged.extend(units)
            return sum(2 if len(u) == 3 else 1 for u in units)

        sched = Variant(now.models, {c: 2 for c in open_cells}, dict(known), AdaptiveConfig(**update))
        sched.margin, sched.weights = margin, weights
        t0 = time.perf_counter()
        summary = asyncio.run(run_schedule(sched, ask, lambda judged=judged: frame(now, judged)))
        fit = judge(now, judged, seed)
        m = measure(fit, ref_fit, truth, level)
        out[spec] = {**m, "calls": summary["calls"], "reached": reached(m, ref),
                     "stopped": summary["stopped"], "seconds": time.perf_counter() - t0}
    return out


def table(case: str, results: list[dict[str, dict]]) -> list[str]:
    n = len(results)
    base = np.mean([r["all"]["calls"] for r in results])
    rows = [(f"\n{case}: {n} seeds; all-pairs open calls {base:,.0f} (mean); neighbour pairs all-pairs settles "
             f"{np.mean([r['all']['ref_settled'] for r in results]):.1f} of 11"),
            (f"{'variant':<32} {'calls':>7} {'share':>5} {'reached':>7} {'firm':>5} {'same':>5} {'tau':>6} "
             f"{'gap w':>5} {'width':>5}  per-seed share; stops")]
    for name in results[0]:
        rs = [r[name] for r in results]
        per = ",".join(f"{x['calls'] / r['all']['calls']:.0%}" for x, r in zip(rs, results))
        rows.append(f"{name:<32} {figures(rs, base, (('reached', 7), ('firm', 5), ('same', 5)))}  {per}; "
                    f"{','.join(x['stopped'] for x in rs)}; {np.mean([x['seconds'] for x in rs]):.1f} s")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--save", help="also write every arena's figures to this JSON file (per case, per seed)")
    ap.add_argument("--cases", default="weekly-1,weekly-2,fresh")
    ap.add_argument("--variants", default="base;futility=0.1;futility=0.2;futility=0.3;warmup=1;batch_calls=100;"
                                          "margin=0.003;weights=chance")
    args = ap.parse_args()
    print(machine_info())
    print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    variants = args.variants.split(";")
    saved: dict[str, list] = {}
    for case in args.cases.split(","):
        changed = 0 if case == "fresh" else int(case.split("-")[1])
        results = [run_arena(seed, changed, variants) for seed in range(args.first_seed, args.first_seed + args.seeds)]
        print("\n".join(table(case, results)), flush=True)
        saved[case] = results
        if args.save:
            Path(args.save).write_text(json.dumps(saved, default=float))


if __name__ == "__main__":
    main()
