"""Adaptive judging (judge.pairs: adaptive): config, the schedule on simulated arenas, cached judgments never asked
again (counted on a real local judge server), and a dry run through the CLI."""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI

from arena.cli import main
from arena.config import AdaptiveConfig, load_config
from arena.errors import ConfigError
from arena.pipeline import run_pipeline
from judges.adaptive import AdaptiveSchedule, Cell, cell_of, run_schedule

# ---------------------------------------------------------------- config

def _cfg_file(tmp_path: Path, judge: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    cands = [{"name": n, "backend": "demo"} for n in ("a", "b", "c")]
    path.write_text(yaml.safe_dump({"questions": {"path": "q.jsonl"}, "candidates": cands, "judge": judge}))
    return path


def test_config_accepts_adaptive_with_its_section(tmp_path):
    cfg = load_config(_cfg_file(tmp_path, {"pairs": "adaptive", "adaptive": {"max_calls": 500, "batch_calls": 50}}))
    assert cfg.judge.pairs == "adaptive"
    assert (cfg.judge.adaptive.max_calls, cfg.judge.adaptive.batch_calls, cfg.judge.adaptive.level) == (500, 50, 0.99)


def test_config_wrong_pairs_names_the_allowed_values_and_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_cfg_file(tmp_path, {"pairs": "adaptve"}))
    text = str(err.value)
    assert "judge.pairs" in text and "'all', 'sampled' or 'adaptive'" in text and "(line " in text


@pytest.mark.parametrize("judge, words", [
    ({"pairs": "adaptive", "mode": "baseline", "baseline": "a"}, "use it with mode pairwise"),
    ({"pairs": "all", "adaptive": {"max_calls": 10}}, "read only with pairs: adaptive"),
    ({"pairs": "adaptive", "adaptive": {"batch_size": 10}}, "did you mean 'batch_calls'"),
    ({"pairs": "adaptive", "adaptive": {"level": 1.5}}, "judge.adaptive.level"),
])
def test_config_rejects_misuse(tmp_path, judge, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_config(_cfg_file(tmp_path, judge))


# ---------------------------------------------------------------- the schedule on a simulated arena

def _arena(ratings: list[float], questions: int, noise: float, seed: int = 0) -> dict[Cell, float]:
    """Score of the cell's first model on every cell: BT at the given ratings, a share `noise` of coin flips."""
    rng = np.random.default_rng(seed)
    models = [f"m{k}" for k in range(len(ratings))]
    out = {}
    for q in range(questions):
        for i, j in itertools.combinations(range(len(models)), 2):
            p = 1 / (1 + 10 ** ((ratings[j] - ratings[i]) / 400))
            p = 0.5 if rng.random() < noise else p
            out[cell_of(str(q), models[i], models[j])] = float(rng.random() < p)
    return out


def _simulate(outcome: dict[Cell, float], settings: AdaptiveConfig, cached: set[Cell] = frozenset()):
    """Run the product's schedule loop against the simulated outcomes; returns its summary, the cells asked."""
    models = sorted({m for c in outcome for m in c[1:]})
    known: dict[tuple[str, str], int] = {}
    for c in cached:
        known[c[1:]] = known.get(c[1:], 0) + 1
    sched = AdaptiveSchedule(models, {c: 2 for c in outcome if c not in cached}, known, settings)
    judged, asked = list(cached), []

    async def ask(cells):
        asked.extend(cells)
        judged.extend(cells)
        return 2 * len(cells)

    def battles():
        return pd.DataFrame({"model_a": [c[1] for c in judged], "model_b": [c[2] for c in judged],
                             "score": [outcome[c] for c in judged], "weight": 1.0})

    fits = []
    summary = asyncio.run(run_schedule(sched, ask, battles, on_round=lambda fit, calls: fits.append(fit)))
    return summary, asked, fits[-1]


def test_clear_gaps_stop_early_with_the_true_order():
    outcome = _arena([1300, 1150, 1000, 850, 700], questions=100, noise=0.1)
    summary, asked, fit = _simulate(outcome, AdaptiveConfig(batch_calls=40, bootstrap=60))
    assert summary["stopped"] == "separated", summary
    assert fit.order() == ["m0", "m1", "m2", "m3", "m4"]
    assert summary["calls"] == 2 * len(asked) < 0.25 * 2 * len(outcome)  # all pairs would be 2,000 calls
    assert summary["saved_calls"] == 2 * (len(outcome) - len(asked))
    assert len(set(asked)) == len(asked)  # no cell twice


def test_stops_at_the_call_budget():
    outcome = _arena([1000, 1000, 1000, 1000], questions=60, noise=0.2)  # never separable
    summary, asked, _ = _simulate(outcome, AdaptiveConfig(max_calls=150, batch_calls=40, bootstrap=50))
    assert summary["stopped"] == "max_calls"
    assert summary["calls"] == 2 * len(asked) == 150 - 150 % 2  # 2 calls per cell, never past the budget


def test_cached_cells_are_never_asked_and_steer_to_the_new_model():
    outcome = _arena([1200, 1100, 1000, 900, 1050], questions=80, noise=0.1)
    cached = {c for c in outcome if "m4" not in c[1:]}  # last week's full run of m0..m3
    summary, asked, fit = _simulate(outcome, AdaptiveConfig(batch_calls=40, bootstrap=100), cached)
    assert asked and not set(asked) & cached and all("m4" in c[1:] for c in asked)
    assert summary["calls"] < 2 * 4 * 80  # fewer than all of the new model's pairs
    assert fit.order()[:3] == ["m0", "m1", "m4"]


def test_undecidable_pairs_stop_as_not_separable_before_judging_everything():
    # m1 and m2 are equal: no number of questions settles them; the others separate quickly
    outcome = _arena([1400, 1000, 1000, 600], questions=150, noise=0.1)
    summary, asked, fit = _simulate(outcome, AdaptiveConfig(batch_calls=60, bootstrap=100))
    assert summary["stopped"] == "futile", summary
    assert summary["not_separable"] == [" / ".join(fit.order()[1:3])]
    assert len(asked) < len(outcome)


# ---------------------------------------------------------------- real local judge server

def _questions(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"question_id": f"q{k}", "category": "general",
                                        "turns": [f"Question number {k}?"]}) + "\n" for k in range(n)))
    return path


def _answer_of(text: str) -> str:
    m = re.search(r"answer from (\w+) ", text)
    return m.group(1) if m else ""


def ranked_judge(rank: dict[str, int], noise: float):
    """A judge that prefers the better-ranked model's answer, reversed on a hash-chosen share `noise` of prompts."""
    def reply(req: dict) -> str:
        user = req["messages"][-1]["content"]
        a = _answer_of(user.split("<<<ANSWER A START>>>")[1])
        b = _answer_of(user.split("<<<ANSWER B START>>>")[1])
        flip = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) / 2 ** 32 < noise
        a_better = (rank[a] < rank[b]) != flip
        return f"Verdict: {'[[A>B]]' if a_better else '[[B>A]]'}"
    return reply


def _prompts(srv: FakeOpenAI) -> list[str]:
    return [r["messages"][-1]["content"] for r in srv.requests]


def test_real_judge_cached_judgments_are_never_asked_again(tmp_path, fake_openai):
    questions = _questions(tmp_path, 12)
    rank = {"m1": 0, "m2": 1, "m3": 2, "m4": 3}
    cands = lambda names: [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url}
                           for n in names]
    with FakeOpenAI(reply=ranked_judge(rank, noise=0.3)) as judge:
        base = {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url, "verdict": "5way"}
        run = lambda names, **kw: run_pipeline(load_config(write_config(
            tmp_path, questions, cands(names), judge={**base, **kw}, rating={"bootstrap": 20})),
            show_progress=False, log=lambda s: None)
        run(["m1", "m2", "m3"], pairs="all")  # last week: every pair of m1..m3 judged
        week1 = len(judge.requests)
        assert week1 == 12 * 3 * 2
        adaptive = {"pairs": "adaptive", "adaptive": {"batch_calls": 12, "bootstrap": 30}}
        ctx = run(["m1", "m2", "m3", "m4"], **adaptive)  # this week: m4 joins
        week2 = judge.requests[week1:]
        ctx3 = run(["m1", "m2", "m3", "m4"], **adaptive)  # the same run again
        week3 = judge.requests[week1 + len(week2):]
    prompts = _prompts(judge)
    assert len(set(prompts)) == len(prompts)  # no prompt was ever sent twice, over the three runs
    week2_prompts = [r["messages"][-1]["content"] for r in week2]
    assert week2_prompts and all("answer from m4 " in p for p in week2_prompts)  # only the new model's pairs
    info = json.loads((ctx.run.path / "run.json").read_text())["stages"]["judge"]
    assert info["schedule"]["pairs"] == "adaptive" and info["schedule"]["calls"] == len(week2) == info["new_calls"]
    assert info["cached"] == 12 * 3 * 2 and info["schedule"]["stop_reason"]
    assert len(week2) + info["schedule"]["saved_calls"] == 12 * 3 * 2  # m4's pairs: judged or saved
    info3 = json.loads((ctx3.run.path / "run.json").read_text())["stages"]["judge"]
    assert info3["cached"] == 12 * 3 * 2 + len(week2) and info3["new_calls"] == len(week3)


def test_real_judge_clear_order_stops_once_each_neighbour_pair_has_six_straight_wins(tmp_path, fake_openai):
    """A judge without noise: every model wins or loses every game, so the ratings have no estimate and only the
    neighbours' own records settle them: 6 straight wins each (P >= 0.99), then the schedule stops."""
    questions = _questions(tmp_path, 10)
    rank = {"m1": 0, "m2": 1, "m3": 2}
    with FakeOpenAI(reply=ranked_judge(rank, noise=0.0)) as judge:
        cfg = write_config(tmp_path, questions, [{"name": n, "backend": "openai", "model": n,
                                                  "base_url": fake_openai.base_url} for n in rank],
                           judge={"mode": "pairwise", "model": "j", "base_url": judge.base_url, "pairs": "adaptive",
                                  "adaptive": {"warmup": 3, "bootstrap": 30, "batch_calls": 4}},
                           rating={"bootstrap": 20})
        ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    info = json.loads((ctx.run.path / "run.json").read_text())["stages"]["judge"]["schedule"]
    # the warm-up (3 pairs x 3 questions x 2 orders), then 3 more questions for each of the 2 neighbour pairs
    assert info["stopped"] == "separated" and info["calls"] == len(judge.requests) == 3 * 3 * 2 + 2 * 3 * 2
    lb = json.loads((ctx.run.path / "leaderboard.json").read_text())
    assert [r["model"] for r in lb["overall"]["table"]] == ["m1", "m2", "m3"]


# ---------------------------------------------------------------- dry run through the CLI

def test_dry_run_end_to_end_through_the_cli(tmp_path, capsys):
    questions = _questions(tmp_path, 15)
    cands = [{"name": f"demo-{k}", "backend": "demo", "quality": q, "seed": k} for k, q in enumerate((0.9, 0.5, 0.1))]
    cfg = write_config(tmp_path, questions, cands, rating={"bootstrap": 20},
                       judge={"mode": "pairwise", "model": "gpt-4o", "pairs": "adaptive",
                              "adaptive": {"max_calls": 40, "batch_calls": 16, "bootstrap": 30}})
    assert main(["run", "-c", str(cfg), "--dry-run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "adaptive schedule: 40 calls" in out and "upper bound" in out
    run = next((tmp_path / "ws" / "runs").iterdir())
    judge = json.loads((run / "run.json").read_text())["stages"]["judge"]
    assert judge["dry_run"] and judge["schedule"]["stopped"] == "max_calls"
    assert judge["schedule"]["calls"] == judge["new_calls"] == 40
    est = judge["estimate"]  # the real run stops at max_calls too: that many calls, the dearest prompts
    assert (est["calls"], est["max_calls"], est["open_calls"]) == (40, 40, 15 * 3 * 2)
    assert "max_calls=40 of 90 open calls" in out
    assert (run / "leaderboard.json").exists()
    # the same arena with every pair judged, in another workspace: the bound is its 40 longest prompts
    cfg = write_config(tmp_path, questions, cands, rating={"bootstrap": 20}, workspace=str(tmp_path / "all"),
                       judge={"mode": "pairwise", "model": "gpt-4o", "pairs": "all"})
    assert main(["run", "-c", str(cfg), "--dry-run", "--no-progress"]) == 0
    run = next((tmp_path / "all" / "runs").iterdir())
    sizes = sorted((r["prompt_chars"] for r in read_jsonl(run / "judgments.jsonl")), reverse=True)
    full = json.loads((run / "run.json").read_text())["stages"]["judge"]["estimate"]
    assert len(sizes) == full["calls"] == 90 and "max_calls" not in full
    assert est["prompt_chars"] == sum(sizes[:40]) < full["prompt_chars"]
    assert est["completion_tokens"] * 90 == full["completion_tokens"] * 40


def test_the_schedules_fit_is_the_leaderboards_fit():
    """The ratings and intervals the schedule steers by are those `arena` reports (rate_battles, same rounds)."""
    from arena.rating import RatingOptions, rate_battles
    from arena.rating.io import validate_battles
    from judges.adaptive import fit_ratings

    outcome = _arena([1100, 1050, 1000, 900], questions=40, noise=0.2, seed=3)
    frame = pd.DataFrame({"model_a": [c[1] for c in outcome], "model_b": [c[2] for c in outcome],
                          "winner": ["model_a" if s else "model_b" for s in outcome.values()]})
    battles = validate_battles(frame)
    fit = fit_ratings(battles, rounds=100, seed=5)
    table = rate_battles(battles, RatingOptions(bootstrap=100, seed=5)).table.set_index("model")
    for k, m in enumerate(fit.models):
        assert fit.rating[k] == pytest.approx(table.loc[m, "rating"], abs=1e-6)
        assert (fit.low[k], fit.high[k]) == pytest.approx((table.loc[m, "ci_low"], table.loc[m, "ci_high"]), abs=1e-6)
    slow = [[np.mean([r[i] > r[j] for r in fit.draws]) for j in range(4)] for i in range(4)]  # round by round
    assert np.allclose(fit.above, slow)


# ---------------------------------------------------------------- orders: one-first

def test_config_orders_default_and_choices(tmp_path):
    assert load_config(_cfg_file(tmp_path, {"pairs": "adaptive"})).judge.adaptive.orders == "both"
    cfg = load_config(_cfg_file(tmp_path, {"pairs": "adaptive", "adaptive": {"orders": "one-first"}}))
    assert cfg.judge.adaptive.orders == "one-first"
    with pytest.raises(ConfigError) as err:
        load_config(_cfg_file(tmp_path, {"pairs": "adaptive", "adaptive": {"orders": "one"}}))
    text = str(err.value)
    assert "judge.adaptive.orders" in text and "'both' or 'one-first'" in text and "(line " in text


def _halves(cells: list[Cell]) -> dict:
    return {c + (m,): 1 for c in cells for m in c[1:]}


def test_one_first_takes_every_first_order_of_a_pair_before_any_swapped_order_and_balances_them():
    cells = [cell_of(str(q), a, b) for q in range(9) for a, b in itertools.combinations(["x", "y", "z"], 2)]
    sched = AdaptiveSchedule(["x", "y", "z"], _halves(cells), {}, AdaptiveConfig(orders="one-first", seed=4))
    for pair, stack in sched.open.items():
        taken = stack[::-1]  # the order the pair's units are handed out
        firsts, seconds = taken[:9], taken[9:]
        assert sorted(u[:3] for u in firsts) == sorted(u[:3] for u in seconds) == sorted(
            c for c in cells if c[1:] == pair)  # every cell once in each phase, the other order second
        assert set(seconds) <= sched.second and not set(firsts) & sched.second
        assert all({f[3], s[3]} == set(pair) for f, s in zip(sorted(firsts), sorted(seconds)))
        for k in range(1, 10):  # every prefix of the first orders: each model shown first within one of half
            shown = [u[3] for u in firsts[:k]]
            assert abs(shown.count(pair[0]) - shown.count(pair[1])) <= 1


def test_one_first_a_cell_given_whole_is_split_and_an_answered_cells_rest_is_second():
    cells = [cell_of(str(q), "x", "y") for q in range(4)]
    answered = {cells[0]}  # one order of q0 is cached: only its other order is open
    cost = {cells[0] + ("y",): 1, **{c: 2 for c in cells[1:]}}
    sched = AdaptiveSchedule(["x", "y"], cost, {("x", "y"): 1}, AdaptiveConfig(orders="one-first"), answered=answered)
    assert set(sched.cost) == {cells[0] + ("y",)} | {c + (m,) for c in cells[1:] for m in "xy"}
    taken = sched.open[("x", "y")][::-1]
    assert len(taken) == 7 and cells[0] + ("y",) in sched.second and taken.index(cells[0] + ("y",)) == 3
    assert {u[:3] for u in taken[:3]} == set(cells[1:])  # the fresh cells' first orders come first
    sched.judged(taken[:4], 4)
    assert sched.known[("x", "y")] == 4 and sched.seconds_asked == 1  # a second order is not a new cell


def test_one_first_schedule_on_a_simulated_arena_never_asks_a_unit_twice_and_stays_balanced():
    outcome = _arena([1300, 1150, 1000, 850, 700], questions=100, noise=0.1)
    models = sorted({m for c in outcome for m in c[1:]})
    sched = AdaptiveSchedule(models, {c: 2 for c in outcome}, {},
                             AdaptiveConfig(orders="one-first", batch_calls=40, bootstrap=60))
    asked: list = []

    async def ask(units):
        asked.extend(units)
        return len(units)

    def battles():  # a one-order cell is one battle; the simulated verdict does not depend on the order here
        cells = sorted({u[:3] for u in asked})
        return pd.DataFrame({"model_a": [c[1] for c in cells], "model_b": [c[2] for c in cells],
                             "score": [outcome[c] for c in cells], "weight": 1.0})

    summary = asyncio.run(run_schedule(sched, ask, battles))
    assert summary["stopped"] == "separated" and summary["orders"] == "one-first"
    assert len(set(asked)) == len(asked) == summary["calls"] < len(outcome)  # one call per half, none twice
    for pair in itertools.combinations(models, 2):
        firsts = [u[3] for u in asked if u[1:3] == pair and u not in sched.second]
        assert abs(firsts.count(pair[0]) - firsts.count(pair[1])) <= 1, (pair, firsts)
    assert summary["second_orders"] == sum(u in sched.second for u in asked)


def _always_a_strong(req: dict) -> str:
    return "Verdict: [[A>>B]]"  # a judge that only looks at the position: a one-order cell goes to the first shown


def test_real_judge_one_first_battles_and_no_game_asked_twice_across_runs(tmp_path, fake_openai):
    questions = _questions(tmp_path, 6)
    names = ["m1", "m2", "m3"]
    cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in names]
    with FakeOpenAI(reply=_always_a_strong) as judge:
        base = {"mode": "pairwise", "model": "judge-model", "base_url": judge.base_url, "verdict": "5way"}
        run = lambda **kw: run_pipeline(load_config(write_config(  # noqa: E731
            tmp_path, questions, cands, judge={**base, **kw}, rating={"bootstrap": 20})),
            show_progress=False, log=lambda s: None)
        one_first = lambda n: {"pairs": "adaptive",  # noqa: E731
                               "adaptive": {"orders": "one-first", "max_calls": n, "batch_calls": 6, "bootstrap": 30,
                                            "futility": 0.0}}
        ctx1 = run(**one_first(24))  # 18 cells (3 pairs x 6 questions): first orders, then swapped ones
        n1 = len(judge.requests)
        ctx2 = run(**one_first(12))  # cached halves are free: only swapped orders not yet judged
        n2 = len(judge.requests)
        ctx3 = run(pairs="all")  # everything left: exactly the halves never judged
    prompts = _prompts(judge)
    assert len(set(prompts)) == len(prompts) == 3 * 6 * 2  # no game ever asked twice, the other order included
    assert (n1, n2 - n1) == (24, 12)
    info = json.loads((ctx1.run.path / "run.json").read_text())["stages"]["judge"]
    seconds = info["schedule"]["second_orders"]
    assert info["schedule"]["orders"] == "one-first" and 6 <= seconds < 12  # a pair's swaps after all its firsts
    info2 = json.loads((ctx2.run.path / "run.json").read_text())["stages"]["judge"]
    # run 2 judges the 12 halves left: the cells run 1 never reached get a first order, the others their swap
    assert info2["cached"] == 24 and info2["new_calls"] == 12 and info2["schedule"]["second_orders"] == 18 - seconds
    assert json.loads((ctx3.run.path / "run.json").read_text())["stages"]["judge"]["new_calls"] == 0
    # run 1: which model was shown first, per pair (the first orders alternate), and the battles by hand
    judgments = [json.loads(x) for x in (ctx1.run.path / "judgments.jsonl").read_text().splitlines()]
    shown = {j["key"]: (j["model_a"] if j["order"] == "AB" else j["model_b"]) for j in judgments}
    battles = [json.loads(x) for x in (ctx1.run.path / "battles.jsonl").read_text().splitlines()]
    singles = [b for b in battles if len(b["games"]) == 1]
    assert len(battles) == 24 - seconds and len(singles) == 24 - 2 * seconds  # one battle per cell judged
    for b in singles:  # [[A>>B]] on one order: the model shown first wins, a strong verdict (strong_weight 3)
        first = shown[b["games"][0]]
        assert b["winner"] == ("model_a" if first == b["model_a"] else "model_b") and b["weight"] == 3.0
    for b in battles:
        if len(b["games"]) == 2:  # both orders say "first shown wins": inconsistent, a tie of weight 1
            assert b["winner"] == "tie" and b["weight"] == 1.0 and b["consistent"] is False
    for pair in itertools.combinations(names, 2):
        firsts = [shown[b["games"][0]] for b in singles if {b["model_a"], b["model_b"]} == set(pair)]
        both = [b for b in battles if {b["model_a"], b["model_b"]} == set(pair) and len(b["games"]) == 2]
        # the first orders split within one; a cell judged both ways showed each model first once, whichever first
        assert abs(firsts.count(pair[0]) - firsts.count(pair[1])) <= 1 + len(both)


# ---------------------------------------------------------------- min_gap: near-equal neighbours tie

def test_min_gap_ties_equal_neighbours_and_stops():
    outcome = _arena([1400, 1000, 1000, 600], questions=150, noise=0.1)
    summary, asked, fit = _simulate(outcome, AdaptiveConfig(batch_calls=60, bootstrap=100, min_gap=100.0))
    assert summary["stopped"] == "separated" and "tied within judge.adaptive.min_gap=100" in summary["stop_reason"]
    assert summary["tied_within_min_gap"] == [" / ".join(fit.order()[1:3])] and summary["min_gap"] == 100.0
    assert len(asked) < len(outcome)
    # the rule by hand: the 95% interval of the two models' rating difference, round by round, inside +-100
    i, j = (fit.models.index(m) for m in fit.order()[1:3])
    diffs = sorted(r[i] - r[j] for r in fit.draws if np.isfinite(r[i]) and np.isfinite(r[j]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert -100 < low and high < 100 and fit.tied(fit.models[i], fit.models[j], 100.0)
    assert not fit.tied(fit.models[i], fit.models[j], 0.0)  # min_gap 0 (the default): never a tie
    assert not fit.tied(fit.models[i], fit.models[j], max(abs(low), abs(high)) - 1e-6)


def test_config_min_gap_must_not_be_negative(tmp_path):
    assert load_config(_cfg_file(tmp_path, {"pairs": "adaptive"})).judge.adaptive.min_gap == 0.0
    with pytest.raises(ConfigError, match=re.escape("judge.adaptive.min_gap")):
        load_config(_cfg_file(tmp_path, {"pairs": "adaptive", "adaptive": {"min_gap": -5}}))


# ---------------------------------------------------------------- targets: adjacent pairs not settled

def _fit_with(above: dict[tuple[str, str], float]):
    """A Fit of x > y > z > w (ratings 40, 30, 20, 0) whose wide intervals overlap: only P(order) settles."""
    from judges.adaptive import Fit

    models = ["x", "y", "z", "w"]
    p = np.full((4, 4), 0.5)
    for (a, b), v in above.items():
        i, j = models.index(a), models.index(b)
        p[i, j], p[j, i] = v, 1 - v
    n = len(models)
    return Fit(models, np.array([40.0, 30, 20, 0]), np.full(n, -500.0), np.full(n, 500.0), p, np.zeros(n),
               None, np.zeros((5, n)))


def test_targets_are_the_adjacent_pairs_not_settled_by_probability_or_intervals():
    sure = {("y", "w"): 1.0, ("x", "w"): 1.0, ("x", "z"): 0.98}
    sched = AdaptiveSchedule(["w", "x", "y", "z"], {}, {}, AdaptiveConfig())
    # P(order) 0.6 and 0.989 are below level 0.99; 0.995 is above; x / z (0.98) is not adjacent
    fit = _fit_with({**sure, ("x", "y"): 0.6, ("y", "z"): 0.995, ("z", "w"): 0.989})
    assert sched._targets(fit) == [("x", "y"), ("z", "w")]
    assert AdaptiveSchedule(["w", "x", "y", "z"], {}, {}, AdaptiveConfig(level=0.95))._targets(fit) == [("x", "y")]
    # intervals apart settle a pair whatever P says
    apart = _fit_with({**sure, ("x", "y"): 0.6, ("y", "z"): 0.995, ("z", "w"): 0.989})
    object.__setattr__(apart, "low", np.array([100.0, -500, -500, -500]))
    object.__setattr__(apart, "high", np.array([500.0, 50, 500, 500]))
    assert sched._targets(apart) == [("z", "w")]


def test_a_model_that_won_every_game_so_far_settles_nothing():
    """After the warm-up the changed model has won its 6 games: every bootstrap round resamples only wins, so the
    rounds put it first with P = 1, an artefact of separation (no maximum-likelihood estimate), not evidence.
    The schedule goes on judging instead of stopping as separated; only a pair's own record can settle it then."""
    from judges.adaptive import fit_ratings

    rows = [("m0", "m1", 1.0)] * 6 + [("m0", "m1", 0.0)] * 4 + [("m0", "m1", 0.5)] * 2  # last week, cached
    rows += [("new", "m0", 1.0)] * 3 + [("m1", "new", 0.0)] * 3  # the warm-up: the new model won all 6
    battles = pd.DataFrame(rows, columns=["model_a", "model_b", "score"]).assign(weight=1.0)
    fit = fit_ratings(battles, rounds=200, seed=0)
    assert not fit.mle and fit.order()[0] == "new" and fit.above[fit.models.index("new"), fit.models.index("m0")] == 1
    assert not fit.settled("new", "m0", 0.99) and not fit.tied("new", "m0", 1000.0)
    cells = {cell_of(str(q), "m0", "new"): 2 for q in range(3, 40)} | {cell_of(str(q), "m1", "new"): 2
                                                                      for q in range(3, 40)}
    sched = AdaptiveSchedule(["m0", "m1", "new"], cells, {("m0", "m1"): 12, ("m0", "new"): 3, ("m1", "new"): 3},
                             AdaptiveConfig(batch_calls=20))
    plan = sched.plan(fit)
    assert plan.cells and plan.stop is None  # more of the new model's cells, no stop
    # six straight wins against m0 are evidence of their own: P(better) = 1 - 2^-7 under a uniform prior
    more = pd.concat([battles, pd.DataFrame([("m0", "new", 0.0, 1.0)] * 3, columns=battles.columns)])
    fit6 = fit_ratings(more, rounds=200, seed=0)
    assert not fit6.mle and fit6.settled("new", "m0", 0.99) and not fit6.settled("new", "m0", 0.995)
    assert not fit6.settled("new", "m1", 0.99)  # still 3-0 there
    mixed = battles.copy()
    mixed.loc[len(mixed)] = ["new", "m0", 0.0, 1.0]  # one loss: the estimate exists again
    assert fit_ratings(mixed, rounds=50, seed=0).mle


# ---------------------------------------------------------------- futility forecast

@pytest.mark.parametrize("gap, open_cells", [(0.10, 400), (0.25, 100), (0.30, 400), (0.23, 30)])
def test_futility_forecast_integrates_over_the_current_posterior_of_the_gap(gap, open_cells):
    """The forecast chance that judging every open cell settles a pair equals the chance, by simulation, of drawing
    the true gap from its current posterior, then the open cells' estimate of it, and pooling the two estimates by
    precision: the final estimate given today's is N(gap, v_now - v_all), as `_chances` uses."""
    from judges.adaptive import FACTOR, Fit

    rng = np.random.default_rng(3)
    models, w_now, v_now = ["a", "b"], 150.0, 0.012  # Fisher information of a - b now; bootstrap variance now
    theta = np.array([gap / 2, -gap / 2])
    cov = np.linalg.inv(w_now * np.array([[1.0, -1], [-1, 1]]) + 1.0)  # the pin added to every entry cancels
    d = rng.normal(0, 1, 4000)
    d = (d - d.mean()) / d.std() * np.sqrt(v_now) * FACTOR  # bootstrap draws of the gap with variance v_now
    draws = np.c_[d / 2, -d / 2]
    fit = Fit(models, theta * FACTOR, np.full(2, -9e9), np.full(2, 9e9), np.full((2, 2), 0.5), theta, cov, draws)
    cells = {(str(q), "a", "b"): 2 for q in range(open_cells)}
    sched = AdaptiveSchedule(models, cells, {("a", "b"): 10}, AdaptiveConfig())
    [chance] = sched._chances(fit, [("a", "b")], [("a", "b")])

    q = 1 / (1 + np.exp(-gap))
    w_add = q * (1 - q) * open_cells  # information the open cells add
    scale = v_now * w_now  # bootstrap variance per unit of Fisher variance
    v_all = scale / (w_now + w_add)
    true = rng.normal(gap, np.sqrt(v_now), 400_000)  # the true gap given today's estimate (flat prior)
    added = rng.normal(true, np.sqrt(scale / w_add))  # what the open cells alone would estimate
    final = (w_now * gap + w_add * added) / (w_now + w_add)
    simulated = np.mean(np.abs(final) >= 2.3263478740408408 * np.sqrt(v_all))  # z of level 0.99
    assert chance == pytest.approx(simulated, abs=0.004), (chance, simulated)
    assert 0.01 < simulated < 0.99  # a forecast in doubt, not a certain one


# ---------------------------------------------------------------- judge stage edge cases (real local judge server)

def _stage_run(tmp_path: Path, questions: Path, names: dict[str, str], judge_url: str, cand_url: str,
               **judge) -> tuple[int, dict]:
    """`arena run` through the CLI; returns the exit code and run.json (candidates `name: served model`)."""
    cands = [{"name": n, "backend": "openai", "model": m, "base_url": cand_url} for n, m in names.items()]
    cfg = write_config(tmp_path, questions, cands, rating={"bootstrap": 20},
                       judge={"mode": "pairwise", "model": "judge-model", "base_url": judge_url, "verdict": "5way",
                              "max_retries": 0, **judge})
    code = main(["run", "-c", str(cfg), "--no-progress"])
    runs = sorted((tmp_path / "ws" / "runs").iterdir())
    return code, json.loads((runs[-1] / "run.json").read_text())


ADAPTIVE = {"pairs": "adaptive", "adaptive": {"batch_calls": 12, "bootstrap": 30}}


def test_adaptive_with_nothing_left_to_judge_records_its_stop(tmp_path, fake_openai, capsys):
    questions = _questions(tmp_path, 6)
    names = {"m1": "m1", "m2": "m2", "m3": "m3"}
    with FakeOpenAI(reply=ranked_judge({"m1": 0, "m2": 1, "m3": 2}, noise=0.3)) as judge:
        assert _stage_run(tmp_path, questions, names, judge.base_url, fake_openai.base_url, pairs="all")[0] == 0
        sent = len(judge.requests)
        code, info = _stage_run(tmp_path, questions, names, judge.base_url, fake_openai.base_url, **ADAPTIVE)
    schedule = info["stages"]["judge"]["schedule"]
    assert code == 0 and len(judge.requests) == sent and schedule["calls"] == 0
    assert schedule["rounds"] == 0 and schedule["stopped"] in ("separated", "futile", "exhausted")
    assert "adaptive schedule: 0 calls in 0 rounds" in capsys.readouterr().out


def test_identical_answers_are_one_judgment_not_two_requests(tmp_path, fake_openai):
    """Two candidates served by the same model answer alike: both orders of their cells are one prompt."""
    questions = _questions(tmp_path, 8)
    names = {"m1": "m1", "twin": "m1", "m3": "m3"}
    with FakeOpenAI(reply=ranked_judge({"m1": 0, "m3": 1}, noise=0.2)) as judge:
        code, info = _stage_run(tmp_path, questions, names, judge.base_url, fake_openai.base_url,
                                pairs="adaptive", adaptive={"batch_calls": 12, "bootstrap": 30, "warmup": 8})
    prompts = _prompts(judge)
    assert len(prompts) == len(set(prompts))  # no prompt twice
    stage = info["stages"]["judge"]
    assert code == 0 and info["status"] == "completed" and stage["not_done"] == 0
    assert stage["schedule"]["calls"] == len(prompts) == stage["new_calls"]


def test_failures_of_earlier_runs_left_open_are_not_this_runs_failures(tmp_path, fake_openai):
    questions = _questions(tmp_path, 20)
    names = {"m1": "m1", "m2": "m2", "m3": "m3"}
    good = ranked_judge({"m1": 0, "m2": 1, "m3": 2}, noise=0.0)
    def sometimes_none(req: dict) -> str:  # a quarter of the prompts get no verdict, their follow-ups neither
        first = next(m["content"] for m in req["messages"] if m["role"] == "user")
        if int(hashlib.sha256(first.encode()).hexdigest()[:8], 16) < 2**30:
            return "no verdict here"
        return good(req)

    with FakeOpenAI(reply=sometimes_none) as judge:
        first = _stage_run(tmp_path, questions, names, judge.base_url, fake_openai.base_url, pairs="all")[1]
    unparsed = first["stages"]["judge"]["unparsed"]
    assert unparsed > 0 and first["status"] == "partial"  # a quarter of the prompts had no verdict
    with FakeOpenAI(reply=good) as judge:
        code, info = _stage_run(tmp_path, questions, names, judge.base_url, fake_openai.base_url,
                                pairs="adaptive", adaptive={"batch_calls": 6, "bootstrap": 30, "warmup": 1})
    stage = info["stages"]["judge"]
    assert stage["schedule"]["stopped"] == "separated" and stage["schedule"]["saved_calls"] > 0  # some left open
    assert code == 0 and info["status"] == "completed"
    assert stage["unparsed"] == 0 and stage["errors"] == 0 and not info["errors"]


def test_a_judge_with_no_verdicts_stops_as_no_battles(tmp_path, fake_openai):
    questions = _questions(tmp_path, 6)
    with FakeOpenAI(reply=lambda req: "I cannot decide.") as judge:
        code, info = _stage_run(tmp_path, questions, {"m1": "m1", "m2": "m2", "m3": "m3"}, judge.base_url,
                                fake_openai.base_url, **ADAPTIVE)
    schedule = info["stages"]["judge"]["schedule"]
    assert schedule["stopped"] == "no_battles" and "gave no battles to rate any model" in schedule["stop_reason"]
    assert schedule["saved_calls"] > 0 and code != 0


def test_an_outside_stop_comes_before_a_plan_made_without_the_skipped_judgments():
    """A money budget that skipped part of a batch: the next plan would stop 'separated' on what was judged, but
    the stop is the budget's (`halted`)."""
    outcome = _arena([1900, 1500, 1100, 700, 300], questions=40, noise=0.0)
    models = sorted({m for c in outcome for m in c[1:]})
    cached = [c for c in outcome if "m4" not in c[1:]]  # last week's m0..m3; m4 is new and far below them
    known = {p: 40 for p in itertools.combinations(models[:4], 2)}
    sched = AdaptiveSchedule(models, {c: 2 for c in outcome if c not in cached}, known,
                             AdaptiveConfig(batch_calls=400, bootstrap=60))
    judged: list[Cell] = list(cached)

    async def ask(cells):
        judged.extend(cells)
        return 2 * len(cells)

    def battles():
        return pd.DataFrame({"model_a": [c[1] for c in judged], "model_b": [c[2] for c in judged],
                             "score": [outcome[c] for c in judged], "weight": 1.0}) if judged else None

    summary = asyncio.run(run_schedule(sched, ask, battles, halted=lambda: "the money budget stopped"
                                       if len(judged) > len(cached) else None))
    assert summary["stopped"] == "halted" and summary["stop_reason"] == "the money budget stopped"
    assert summary["rounds"] == 1  # the batch that hit the budget, then the stop


def test_a_money_budget_stop_is_reported_as_halted(tmp_path, fake_openai):
    questions = _questions(tmp_path, 15)
    names = {f"m{k}": f"m{k}" for k in range(1, 5)}
    with FakeOpenAI(reply=ranked_judge({m: k for k, m in enumerate(names)}, noise=0.25)) as judge:
        code, info = _stage_run(tmp_path, questions, names, judge.base_url, fake_openai.base_url, **ADAPTIVE,
                                price={"input_per_mtok": 100.0, "output_per_mtok": 100.0}, max_cost_usd=3.0,
                                max_tokens=64)
    stage = info["stages"]["judge"]
    assert stage["budget_stopped"] and stage["schedule"]["stopped"] == "halted"
    assert "money budget" in stage["schedule"]["stop_reason"]
