"""Adaptive judging: judge calls needed to reach the all-pairs ranking, on a simulated arena with known strengths.

The arena: 12 models whose true ratings are spread by random gaps (10-60 rating points between neighbours),
300 questions, and a per-(model, question) effect (sd 0.5 logits), so questions differ as they do in real
sets. Every (pair, question) cell is judged in both orders (2 calls) by a simulated judge that favours the
answer in position A (+0.4 logits), gives a tie 10% of the time, and in 20% of its calls ignores the answers
and picks A, B or tie at random; the two orders are combined by the product's `combine_orders`.

Schedules, each with the product's code:
- all: every cell (the reference: its fit is "the all-pairs ranking");
- sampled: `schedule_pairs` with opponents_per_question k = 1..11; the smallest k that reaches the reference;
- adaptive: `judges.adaptive.run_schedule` (the same loop the judge stage runs), with the product's defaults
  (batch 200 calls, level 0.99, 200 bootstrap rounds, warm-up 2 questions per pair), one row per futility
  (0.05, the default, and 0.01);
- random: uniform random cells, in tenths of the open cells; the smallest tenth that reaches the reference;
- unsteered: the adaptive loop and stop rule, but the batches drawn uniformly at random from the open cells
  (`AdaptiveSchedule(steer=False)`): what the steering adds beyond the stop rule;
- across-ties: the adaptive loop with pairs across an unsettled pair as targets too (no third model settled
  between them: if the tie falls the other way they are neighbours), a variant the product does not use;
- all-reseeded: the all-pairs battles themselves with another bootstrap seed (as a stop is confirmed): how often
  the reference's own data 'reach' it, the noise floor of the criterion (P(order) near 0.99 moves by ~0.003
  between 1000-round bootstraps);
- one-first: the adaptive loop with `judge.adaptive.orders: one-first` (one order of a cell first, the model
  shown first alternating within a pair, the swapped order only after all of a pair's cells have one); a cell
  judged in one order is one battle with that game's verdict, as `judges.battles.make_battles` makes it (the
  same simulated games as the both-orders cells: the order showing the cell's first model first is game 1).
Reaching the all-pairs ranking ('reached') means: every pair of models that all-pairs orders confidently
(P(order) >= level) in the same order ('agree'), and every neighbour pair that all-pairs settles (intervals
apart, or P(order) >= level) settled too ('settled'). Pairs all-pairs leaves unsettled are ties in its
ranking, so their order is not asked for; 'exact' (the same order, coin-flip pairs included) and 'tau'
(Kendall tau with the true order) are shown beside it. 'gap w' is the mean width of the intervals of the
neighbours' rating differences (the ones that decide the order) and 'width' the mean width of the models' own
intervals, both relative to all-pairs.
'firm' is a noise-aware column beside 'reached' (never instead of it): the same, but only the neighbour pairs
all-pairs settles firmly (intervals apart or P(order) >= 0.999) must be settled too.
Every schedule is measured with the same `fit_ratings` at 1000 bootstrap rounds (at 200, P(order) near 0.99
moves by about 0.007 from one bootstrap seed to another, enough to flip 'settled' for a borderline pair).
sampled and random are measured in hindsight (the fewest calls that reach the reference: an oracle a real run
does not have); adaptive is measured where its own stop rule stopped it.

Cases: `fresh` (no judgments yet) and `weekly-1` / `weekly-2` (a full run of last week is in the cache;
1 or 2 models changed by 40-120 points, so only their cells are open).
Run: python benchmarks/adaptive_judging.py [--seeds 5] [--cases fresh,weekly-1,weekly-2] [--futility 0.05,0.01]
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rating_speed import machine_info

from arena.config import AdaptiveConfig, JudgeConfig
from arena.questions import Question
from judges.adaptive import AdaptiveSchedule, Cell, Fit, Unit, cell_of, fit_ratings, run_schedule
from judges.tasks import schedule_pairs
from judges.verdicts import Verdict, combine_orders

FACTOR = 400 / np.log(10)
N_MODELS, N_QUESTIONS = 12, 300
BIAS, TIE, NOISE, QUESTION_SD = 0.4, 0.10, 0.20, 0.5
ROUNDS = 1000  # bootstrap rounds of every fit measured (the schedule's own refits use its 200)
FIRM = 0.999  # the 'firm' column: neighbour pairs all-pairs settles at least this surely


@dataclass
class Arena:
    """One simulated arena: models, true ratings, every cell's battle (score of the cell's first model, weight)."""

    models: list[str]
    truth: np.ndarray
    outcome: dict[Cell, tuple[float, float]]
    games: dict[Cell, tuple[float, float]] = field(default_factory=dict)  # the cell's first model's score per game


def _verdict(rng: np.random.Generator, d: float) -> Verdict:
    """One judge call: position A's strength minus B's is d (logits)."""
    if rng.random() < NOISE:
        winner = ["A", "B", "tie"][rng.integers(3)]
    elif rng.random() < TIE:
        winner = "tie"
    else:
        winner = "A" if rng.random() < 1 / (1 + np.exp(-(d + BIAS))) else "B"
    return Verdict(kind="3way", label=winner, winner=winner)


def simulate(seed: int, truth: np.ndarray, models: list[str],
             effect: np.ndarray) -> tuple[dict[Cell, tuple[float, float]], dict[Cell, tuple[float, float]]]:
    """Judge every cell in both orders; the battle as the product combines the two games, and each game's own
    battle (a cell judged in one order: the position winner in model terms, weight 1 for a 3-way verdict)."""
    rng = np.random.default_rng([seed, 7])
    theta = truth[:, None] / FACTOR + effect  # (M, Q)
    out: dict[Cell, tuple[float, float]] = {}
    games: dict[Cell, tuple[float, float]] = {}
    score = {"A": 1.0, "B": 0.0, "tie": 0.5}
    for q in range(N_QUESTIONS):
        for i, j in itertools.combinations(range(len(models)), 2):
            d = theta[i, q] - theta[j, q]
            first, swapped = _verdict(rng, d), _verdict(rng, -d)  # models[i] shown first, then models[j] first
            o = combine_orders(first, swapped)
            cell = cell_of(str(q), models[i], models[j])
            out[cell] = (score[o.winner or "tie"], o.weight)
            games[cell] = (score[first.winner], 1.0 - score[swapped.winner])
    return out, games


def make_arena(seed: int, changed: int = 0) -> tuple[Arena, Arena | None]:
    """This week's arena and, for a weekly case, last week's (the same but for `changed` models)."""
    rng = np.random.default_rng(seed)
    models = [f"m{k:02d}" for k in range(N_MODELS)]
    truth = np.cumsum(np.r_[0, rng.uniform(10, 60, N_MODELS - 1)])[::-1].copy()
    truth -= truth.mean()
    effect = rng.normal(0, QUESTION_SD, (N_MODELS, N_QUESTIONS))
    now = Arena(models, truth, *simulate(seed, truth, models, effect))
    if not changed:
        return now, None
    old_truth = truth.copy()
    moved = rng.choice(N_MODELS, changed, replace=False)
    old_truth[moved] -= rng.choice([-1, 1], changed) * rng.uniform(40, 120, changed)
    return now, Arena(models, old_truth, {})  # its judgments of unchanged pairs are the ones cached now


def changed_models(now: Arena, old: Arena | None) -> set[str]:
    """Models whose answers (strengths) changed since last week."""
    if old is None:
        return set()
    return {m for m, a, b in zip(now.models, now.truth, old.truth) if a != b}


def frame(arena: Arena, units: list[Unit]) -> pd.DataFrame:
    """Battles of the given units: a whole cell, or one order of it (the cell and the model shown first); a cell
    with both orders judged is the combined battle, a cell with one its game's battle."""
    shown: dict[Cell, set[str]] = {}
    for u in units:
        shown.setdefault(u[:3], set()).update(u[3:] if len(u) == 4 else u[1:3])  # type: ignore[index]
    cells = list(shown)
    battle = lambda c: (arena.outcome[c] if len(shown[c]) == 2
                        else (arena.games[c][0 if c[1] in shown[c] else 1], 1.0))
    score, weight = zip(*(battle(c) for c in cells)) if cells else ((), ())
    return pd.DataFrame({"model_a": [c[1] for c in cells], "model_b": [c[2] for c in cells],
                         "score": score, "weight": weight})


def judge(arena: Arena, cells: list[Unit], seed: int) -> Fit:
    """The fit every schedule is measured with."""
    fit = fit_ratings(frame(arena, cells), ROUNDS, seed)
    assert fit is not None
    return fit


def gap_widths(fit: Fit, order: list[str]) -> np.ndarray:
    """Widths of the 95% bootstrap intervals of the rating differences of neighbours in `order`."""
    cols = [fit.models.index(m) for m in order]
    gaps = fit.draws[:, cols[:-1]] - fit.draws[:, cols[1:]]
    low, high = np.nanpercentile(gaps, [2.5, 97.5], axis=0)
    return high - low


def settled(fit: Fit, order: list[str], level: float) -> list[bool]:
    """Per neighbour pair of `order`: settled as the adaptive stop rule counts it (intervals apart or P >= level)."""
    return [fit.settled(a, b, level) for a, b in itertools.pairwise(order)]


def measure(fit: Fit, ref: Fit, truth: dict[str, float], level: float) -> dict[str, float]:
    """Against the all-pairs fit: the pairs it orders confidently ordered the same way, the neighbour pairs it
    settles settled too, the exact order, Kendall tau with the truth, and the mean interval widths."""
    tau = kendalltau([truth[m] for m in fit.models], fit.rating).statistic
    width = float(np.mean(fit.high - fit.low) / np.mean(ref.high - ref.low))
    order = ref.order()
    gap = float(np.mean(gap_widths(fit, order)) / np.mean(gap_widths(ref, order)))
    mine, theirs = settled(fit, order, level), settled(ref, order, level)
    firm = settled(ref, order, FIRM)
    rank = {m: k for k, m in enumerate(fit.order())}
    sure = [(a, b) for a, b in itertools.combinations(order, 2) if ref.settled(a, b, level)]
    return {"same": float(fit.order() == order), "agree": float(all(rank[a] < rank[b] for a, b in sure)),
            "tau": float(tau), "width": width, "gap": gap,
            "settled": float(all(a or not b for a, b in zip(mine, theirs))), "ref_settled": float(sum(theirs)),
            "firm_settled": float(all(a or not b for a, b in zip(mine, firm)))}


def reached(m: dict[str, float], ref: dict[str, float]) -> bool:
    """The all-pairs ranking: every pair it orders confidently in the same order, every neighbour pair it settles
    settled too (pairs all-pairs leaves unsettled are ties in its ranking: their order is not asked for)."""
    return bool(m["agree"] and m["settled"])


def reached_firm(m: dict[str, float]) -> bool:
    """The noise-aware column beside `reached` (never instead of it): every pair all-pairs orders confidently in the
    same order, and the neighbour pairs all-pairs settles firmly (intervals apart or P(order) >= FIRM) settled too
    (at `level`). A pair all-pairs settles at P(order) 0.990-0.999 is close to a coin flip for any run with less
    data: its own battles refitted with another bootstrap seed miss it in 3 of 15 arenas."""
    return bool(m["agree"] and m["firm_settled"])


class AcrossTies(AdaptiveSchedule):
    """A variant: pairs across an unsettled pair (no third model settled between them) are targets too, since a
    tie may fall either way and then they are neighbours."""

    def _targets(self, fit: Fit) -> list[tuple[str, str]]:
        level, ranking = self.settings.level, fit.order()
        out = []
        for lo, hi in itertools.combinations(range(len(ranking)), 2):
            a, b = ranking[lo], ranking[hi]
            if not fit.settled(a, b, level) and not any(
                    fit.settled(a, z, level) and fit.settled(z, b, level) for z in ranking[lo + 1:hi]):
                out.append((a, b))
        return out


def prepare(seed: int, changed: int) -> tuple[Arena, dict[str, float], list[Cell], list[Cell], dict[tuple[str, str], int]]:
    """One case's arena: the arena, true ratings, the cached cells (last week's, of unchanged models), the open
    cells, and the cached cells per pair."""
    now, old = make_arena(seed, changed)
    moved = changed_models(now, old)
    every = sorted(now.outcome)
    cached = [c for c in every if not ({c[1], c[2]} & moved)] if old is not None else []
    known: dict[tuple[str, str], int] = {}
    for c in cached:
        known[c[1:]] = known.get(c[1:], 0) + 1
    return now, dict(zip(now.models, now.truth)), cached, sorted(set(every) - set(cached)), known


def random_order(n: int, seed: int) -> np.ndarray:
    """The arena's random order of its n open cells (the `random` rows here and in adaptive_knobs.py)."""
    return np.random.default_rng([seed, 99]).permutation(n)


def run_case(seed: int, changed: int, settings: AdaptiveConfig, futilities: list[float],
             rows: tuple[str, ...] = ("",)) -> dict[str, dict]:
    """All schedules on one arena; per schedule: calls needed, and order / tau / widths where it ended."""
    now, truth, cached, open_cells, known = prepare(seed, changed)
    every = sorted(now.outcome)
    ref_fit = judge(now, every, seed)
    ref = measure(ref_fit, ref_fit, truth, settings.level)
    out = {"all": {**ref, "calls": 2 * len(open_cells), "reached": True}}
    if "all-reseeded".startswith(rows):  # the criterion's noise floor: the same battles, another bootstrap seed
        m = measure(fit_ratings(frame(now, every), ROUNDS, seed + 1), ref_fit, truth, settings.level)
        out["all-reseeded"] = {**m, "calls": 2 * len(open_cells), "reached": reached(m, ref)}

    def cheapest(name: str, steps: list[tuple[list[Cell], dict]]) -> None:
        """The first step (fewest calls) that reaches the reference; the last one if none does."""
        for cells, extra in steps:
            m = measure(judge(now, cached + cells, seed), ref_fit, truth, settings.level)
            out[name] = {**m, "calls": 2 * len(cells), "reached": reached(m, ref), **extra}
            if out[name]["reached"]:
                return

    questions = [Question(str(q), ["q"]) for q in range(N_QUESTIONS)]
    sampled = []
    for k in range(1, N_MODELS):  # the product's sampled schedule, k opponents per model and question
        cfg = JudgeConfig(pairs="sampled", opponents_per_question=k, seed=seed)
        picked = {cell_of(q.qid, a, b) for q in questions for a, b in schedule_pairs(cfg, now.models, q)}
        sampled.append((sorted(picked - set(cached)), {"k": k}))
    if "sampled".startswith(rows):
        cheapest("sampled", sampled)
    shuffled = [open_cells[i] for i in random_order(len(open_cells), seed)]
    if "random".startswith(rows):
        cheapest("random", [(shuffled[: len(shuffled) * t // 10], {"tenths": t}) for t in range(1, 11)])

    variants = ([(f, True, "both") for f in futilities] + [(futilities[0], "across", "both")]
                + [(futilities[0], False, "both")] + [(f, True, "one-first") for f in futilities])
    for futility, steer, orders in variants:
        name = (f"one-first {futility:g}" if orders == "one-first" else f"across-ties {futility:g}" if steer == "across"
                else f"{'adaptive' if steer else 'unsteered'} {futility:g}")
        if not name.startswith(rows):
            continue
        judged: list[Unit] = list(cached)

        async def ask(units: list[Unit], judged: list[Unit] = judged) -> int:
            judged.extend(units)
            return sum(2 if len(u) == 3 else 1 for u in units)

        kind = AcrossTies if steer == "across" else AdaptiveSchedule
        sched = kind(now.models, {c: 2 for c in open_cells}, dict(known),
                     settings.model_copy(update={"futility": futility, "orders": orders}), steer=bool(steer))
        t0 = time.perf_counter()
        summary = asyncio.run(run_schedule(sched, ask, lambda judged=judged: frame(now, judged)))
        seconds = time.perf_counter() - t0
        m = measure(judge(now, judged, seed), ref_fit, truth, settings.level)
        out[name] = {**m, "calls": summary["calls"], "reached": reached(m, ref), "stopped": summary["stopped"],
                     "seconds": seconds, "rounds": summary["rounds"], "seconds_asked": summary["second_orders"],
                     "single": sum(len(u) == 4 for u in judged) - 2 * summary["second_orders"]}
    return out


def table(case: str, results: list[dict[str, dict]]) -> list[str]:
    """One block of the printed table: per schedule, mean calls and how often it reached the reference."""
    n = len(results)
    base = np.mean([r["all"]["calls"] for r in results])
    head = (f"\n{case}: {n} seeds; all-pairs open calls {base:,.0f} (mean); all-pairs: tau with the truth "
            f"{np.mean([r['all']['tau'] for r in results]):.3f}, settled neighbour pairs "
            f"{np.mean([r['all']['ref_settled'] for r in results]):.1f} of {N_MODELS - 1}")
    columns = (f"{'schedule':<14} {'calls':>7} {'share':>5} {'reached':>7} {'firm':>5} {'agree':>5} {'settled':>7} "
               f"{'exact':>5} "
               f"{'tau':>6} {'gap w':>5} {'width':>5}  notes")
    rows = [head, columns]
    for name in results[0]:
        rs = [r[name] for r in results]
        per_seed = {"sampled": ("smallest k reaching it, per seed: ", "k"),
                    "random": ("uniform random cells in tenths; tenths per seed: ", "tenths")}
        note = ""
        if name in per_seed:
            label, key = per_seed[name]
            note = label + ",".join(str(x.get(key)) for x in rs)
        if name.startswith(("adaptive", "across-ties", "unsteered", "one-first")):
            note = (f"its own stop rule: {','.join(x['stopped'] for x in rs)}; "
                    f"{np.mean([x['rounds'] for x in rs]):.0f} refits, {np.mean([x['seconds'] for x in rs]):.1f} s "
                    "of scheduling per arena")
            if name.startswith("one-first"):
                note += (f"; cells judged in one order {np.mean([x['single'] for x in rs]):,.0f}, "
                         f"swapped orders added {np.mean([x['seconds_asked'] for x in rs]):,.0f} (means)")
        rows.append(f"{name:<14} {figures(rs, base, (('reached', 7), ('firm', 5), ('agree', 5), ('settled', 7), ('same', 5)))}"
                    f"  {note}")
    return rows


def figures(rs: list[dict], base: float, counts: tuple[tuple[str, int], ...]) -> str:
    """One schedule's figures over the arenas: mean calls and share of all-pairs', the counted criteria ('firm' by
    `reached_firm`) as k/n in columns of the given widths, mean tau, and the mean relative interval widths."""
    n, calls = len(rs), np.mean([x["calls"] for x in rs])
    hits = {key: sum(reached_firm(x) if key == "firm" else bool(x[key]) for x in rs) for key, _ in counts}
    return (f"{calls:>7,.0f} {calls / base:>5.0%} " + " ".join(f"{f'{hits[k]}/{n}':>{w}}" for k, w in counts)
            + f" {np.mean([x['tau'] for x in rs]):>6.3f} {np.mean([x['gap'] for x in rs]):>5.2f} "
              f"{np.mean([x['width'] for x in rs]):>5.2f}")


def main() -> None:
    """Run the cases over the seeds and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cases", default="fresh,weekly-1,weekly-2")
    ap.add_argument("--level", type=float, default=AdaptiveConfig().level)
    ap.add_argument("--batch-calls", type=int, default=AdaptiveConfig().batch_calls)
    ap.add_argument("--futility", default="0.05,0.01", help="adaptive rows: judge.adaptive.futility values")
    ap.add_argument("--rows", default="", help="only the rows whose names start so (comma-separated; all is kept)")
    args = ap.parse_args()
    print(machine_info())
    print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"arena: {N_MODELS} models, {N_QUESTIONS} questions, both orders (2 calls per cell); judge: position bias "
          f"+{BIAS} logits, ties {TIE:.0%}, {NOISE:.0%} random verdicts; adaptive level {args.level}, batch "
          f"{args.batch_calls} calls; 'share' = calls / all-pairs' calls; 'gap w' = mean width of the neighbours' "
          "difference intervals / all-pairs'; 'width' = mean width of the models' intervals / all-pairs'")
    settings = AdaptiveConfig(level=args.level, batch_calls=args.batch_calls)
    for case in args.cases.split(","):
        changed = 0 if case == "fresh" else int(case.split("-")[1])
        futilities = [float(x) for x in args.futility.split(",")]
        rows = tuple(args.rows.split(",")) if args.rows else ("",)
        results = [run_case(seed, changed, settings, futilities, rows) for seed in range(args.seeds)]
        print("\n".join(table(case, results)), flush=True)


if __name__ == "__main__":
    main()
