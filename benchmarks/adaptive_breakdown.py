"""Where adaptive judging's calls go, on the simulated arena of `adaptive_judging.py`.

For each arena the adaptive loop runs as in that benchmark; each batch's calls are split evenly over the targets
the schedule chased when it planned the batch (adjacent pairs not settled, not futile, not tied), and each target
is classed by what the all-pairs fit says of the same two models:
- warm-up: batches planned before the ratings steer;
- settled: the all-pairs fit settles the pair (these calls are needed);
- near-tie: the all-pairs fit leaves the pair unsettled (calls until the futility rule gave up on it);
- other: the two models are not neighbours in the all-pairs ranking (the current ranking was wrong there, or
  the pair lies across a pair left unsettled).
Beside it: 'nbr' = share of the calls on the all-pairs neighbours' own cells (the rest inform them through third
models), 'late' = calls made after the run first reached the all-pairs ranking and stayed there (measured at
every refit on a 1000-round bootstrap, as the benchmark measures), and per near-tie the calls on its own cells.
Run: python benchmarks/adaptive_breakdown.py [--seeds 3] [--cases fresh,weekly-1,weekly-2] [--orders both]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adaptive_judging import ROUNDS, changed_models, frame, judge, make_arena, measure, reached
from rating_speed import machine_info

from arena.config import AdaptiveConfig
from judges.adaptive import AdaptiveSchedule, Fit, Plan, Unit, fit_ratings, run_schedule


class Traced(AdaptiveSchedule):
    """The product's schedule, recording what each plan chased."""

    def plan(self, fit: Fit | None) -> Plan:
        out = super().plan(fit)
        targets: list[tuple[str, str]] = []
        phase = "warm-up"
        if fit is not None and set(fit.models) == set(self.models) and not any(
                self.known.get(p, 0) < self.settings.warmup for p in self.open if self.open[p]):
            phase = "steer"
            targets = [t for t in self._targets(fit) if t not in self.futile and t not in self.tied]
        self.trace.append((phase, targets, list(out.cells)))
        return out


def breakdown(seed: int, changed: int, settings: AdaptiveConfig) -> dict:
    """One arena: calls per class, calls after reaching, calls per reference pair."""
    now, old = make_arena(seed, changed)
    moved = changed_models(now, old)
    every = sorted(now.outcome)
    cached = [c for c in every if not ({c[1], c[2]} & moved)] if old is not None else []
    open_cells = sorted(set(every) - set(cached))
    truth = dict(zip(now.models, now.truth))
    ref_fit = judge(now, every, seed)
    ref = measure(ref_fit, ref_fit, truth, settings.level)
    order = ref_fit.order()
    neighbours = {tuple(sorted(p)): p for p in itertools.pairwise(order)}
    ref_settled = {tuple(sorted(p)) for p in itertools.pairwise(order) if ref_fit.settled(*p, settings.level)}
    known: dict[tuple[str, str], int] = {}
    for c in cached:
        known[c[1:]] = known.get(c[1:], 0) + 1
    judged: list[Unit] = list(cached)
    calls_at: list[int] = []
    hit_at: list[bool] = []

    async def ask(units: list[Unit]) -> int:
        judged.extend(units)
        return sum(2 if len(u) == 3 else 1 for u in units)

    def on_round(fit: Fit | None, calls: int) -> None:
        calls_at.append(calls)
        if fit is None or set(fit.models) != set(now.models):
            hit_at.append(False)
            return
        f = fit_ratings(frame(now, judged), ROUNDS, seed)
        hit_at.append(reached(measure(f, ref_fit, truth, settings.level), ref))

    sched = Traced(now.models, {c: 2 for c in open_cells}, dict(known), settings)
    sched.trace = []
    summary = asyncio.run(run_schedule(sched, ask, lambda: frame(now, judged), on_round=on_round))
    final = reached(measure(judge(now, judged, seed), ref_fit, truth, settings.level), ref)
    classes = {"warm-up": 0.0, "settled": 0.0, "near-tie": 0.0, "other": 0.0}
    per_pair: dict[tuple[str, str], int] = {}
    plans = [t for t in sched.trace if t[2]]  # the plans that were judged (a stop's plan has no cells)
    for phase, targets, cells in plans:
        calls = sum(2 if len(u) == 3 else 1 for u in cells)
        for u in cells:
            per_pair[(u[1], u[2])] = per_pair.get((u[1], u[2]), 0) + (2 if len(u) == 3 else 1)
        if phase == "warm-up" or not targets:
            classes["warm-up"] += calls
            continue
        for t in targets:
            key = tuple(sorted(t))
            cls = ("settled" if key in ref_settled else "near-tie") if key in neighbours else "other"
            classes[cls] += calls / len(targets)
    # calls after the ranking reached the reference for good (the refit before each batch)
    late = 0
    if final and hit_at:
        k = len(hit_at)
        while k > 0 and hit_at[k - 1]:
            k -= 1
        late = summary["calls"] - calls_at[k] if k < len(calls_at) else 0
    near = [p for p in neighbours if p not in ref_settled]
    return {"calls": summary["calls"], "all": 2 * len(open_cells), "reached": final, "classes": classes,
            "late": late, "stopped": summary["stopped"],
            "near_pairs": {f"{a}/{b}": per_pair.get((a, b), 0) for a, b in near},
            "near_p": {f"{a}/{b}": round(max(ref_fit.above[ref_fit.models.index(a), ref_fit.models.index(b)],
                                              ref_fit.above[ref_fit.models.index(b), ref_fit.models.index(a)]), 3)
                       for a, b in near},
            "settled_pairs": {f"{a}/{b}": per_pair.get((a, b), 0) for a, b in sorted(ref_settled)},
            "neighbour_share": sum(per_pair.get(p, 0) for p in neighbours) / max(summary["calls"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cases", default="fresh,weekly-1,weekly-2")
    ap.add_argument("--orders", default="both")
    ap.add_argument("--futility", type=float, default=AdaptiveConfig().futility)
    args = ap.parse_args()
    print(machine_info())
    print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    settings = AdaptiveConfig(orders=args.orders, futility=args.futility)
    for case in args.cases.split(","):
        changed = 0 if case == "fresh" else int(case.split("-")[1])
        print(f"\n{case} (orders {args.orders}, futility {args.futility:g}): calls by what the batch chased, "
              "as a share of the run's calls")
        print(f"{'seed':>4} {'calls':>7} {'share':>5} {'reached':>7} {'warm-up':>7} {'settled':>7} {'near-tie':>8} "
              f"{'other':>5} {'late':>5} {'nbr':>4}  near-tie pairs: calls spent (P of all-pairs)")
        for seed in range(args.seeds):
            r = breakdown(seed, changed, settings)
            c = {k: v / r["calls"] for k, v in r["classes"].items()}
            near = ", ".join(f"{p} {n} ({r['near_p'][p]})" for p, n in r["near_pairs"].items())
            print(f"{seed:>4} {r['calls']:>7,} {r['calls'] / r['all']:>5.0%} {r['reached']!s:>7} "
                  f"{c['warm-up']:>7.0%} {c['settled']:>7.0%} {c['near-tie']:>8.0%} {c['other']:>5.0%} "
                  f"{r['late'] / r['calls']:>5.0%} {r['neighbour_share']:>4.0%}  {near}; stop {r['stopped']}",
                  flush=True)


if __name__ == "__main__":
    main()
