"""Judgments to battles (Chatbot Arena convention), single-mode score tables, and per-judge bias statistics."""
from __future__ import annotations

import re
from collections import defaultdict
from statistics import mean
from typing import Any

from judges.tasks import JudgeTask
from judges.verdicts import Verdict, combine_orders

_HEADER = re.compile(r"^#{1,6}\s", re.M)
_LIST = re.compile(r"^\s*(?:[-*+]|\d+\.)\s", re.M)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_features(text: str) -> dict[str, int]:
    """Approximate length in tokens and markdown counts of one answer."""
    return {"len": max(1, len(text) // 4), "header": len(_HEADER.findall(text)), "list": len(_LIST.findall(text)),
            "bold": len(_BOLD.findall(text))}


def model_winner(position_winner: str | None, order: str) -> str | None:
    """Map a position verdict ("A", "B", "tie") to model terms ("model_a", "model_b", "tie")."""
    if position_winner in (None, "tie"):
        return position_winner
    first = "model_a" if order == "AB" else "model_b"
    second = "model_b" if order == "AB" else "model_a"
    return first if position_winner == "A" else second


def _verdict(rec: dict) -> Verdict | None:
    if rec.get("status") != "ok" or rec.get("position_winner") is None:
        return None
    return Verdict(kind=rec["verdict_kind"], label=rec["label"], winner=rec["position_winner"],
                   strength=int(rec.get("strength") or 1))


def _battle(task: JudgeTask, judge: str, mode: str, winner: str, weight: float, games: list[str],
            **extra: Any) -> dict[str, Any]:
    fa = style_features(task.answers_a[task.turn - 1])
    fb = style_features(task.answers_b[task.turn - 1]) if task.answers_b else fa
    out = {"question_id": task.question.question_id, "model_a": task.model_a, "model_b": task.model_b,
           "winner": winner, "judge": judge, "category": task.question.category, "turn": task.turn,
           "weight": weight, "mode": mode, "games": games, **extra}
    for k in ("len", "header", "list", "bold"):
        out[f"{k}_a"], out[f"{k}_b"] = fa[k], fb[k]
    return out


def make_battles(pairs: list[tuple[JudgeTask, dict]], *, judge: str, mode: str, inconsistent: str,
                 strong_weight: float, tie_band: float = 0.0,
                 planned: dict[Any, int] | None = None) -> tuple[list[dict], dict[str, int]]:
    """Battles from judged tasks; a game pair with a missing or failed game gives no battle (it is retried).
    `planned`: the games each pair was meant to have (pair_id -> count); a pair with fewer judged (a budget
    stop, an endpoint given up on) is incomplete, not a one-order battle. None: every pair is taken as it is
    (one order per cell on purpose: judge.order random, or adaptive one-first)."""
    groups: dict[tuple, list[tuple[JudgeTask, dict]]] = defaultdict(list)
    for task, rec in pairs:
        groups[task.pair_id].append((task, rec))
    battles: list[dict] = []
    counts = {"incomplete": 0, "consistent": 0, "inconsistent": 0}
    for games in groups.values():
        games.sort(key=lambda g: g[0].order)
        task = games[0][0]
        keys = [rec["key"] for _, rec in games]
        if any(rec.get("status") != "ok" for _, rec in games) or \
                (planned is not None and len(games) < planned.get(task.pair_id, 0)):
            counts["incomplete"] += 1
            continue
        if games[0][1].get("prob_a") is not None:  # reward model: soft outcome
            p = float(games[0][1]["prob_a"])
            win = "model_a" if p > 0.5 + tie_band else "model_b" if p < 0.5 - tie_band else "tie"
            battles.append(_battle(task, judge, mode, win, 1.0, keys, prob_a=p))
            continue
        if len(games) == 1 or inconsistent == "separate":
            for t, rec in games:
                w = model_winner(rec["position_winner"], t.order) or "tie"
                weight = strong_weight if int(rec.get("strength") or 1) == 2 else 1.0
                battles.append(_battle(task, judge, mode, w, weight, [rec["key"]]))
            if len(games) == 2:
                agree = model_winner(games[0][1]["position_winner"], "AB") == model_winner(
                    games[1][1]["position_winner"], "BA")
                counts["consistent" if agree else "inconsistent"] += 1
            continue
        outcome = combine_orders(_verdict(games[0][1]), _verdict(games[1][1]), strong_weight=strong_weight)
        if outcome.winner is None:
            counts["incomplete"] += 1
            continue
        counts["consistent" if outcome.consistent else "inconsistent"] += 1
        win = {"A": "model_a", "B": "model_b", "tie": "tie"}[outcome.winner]
        battles.append(_battle(task, judge, mode, win, outcome.weight, keys, consistent=bool(outcome.consistent)))
    return battles, counts


def single_scores(pairs: list[tuple[JudgeTask, dict]], judge: str) -> tuple[list[dict], dict[str, Any]]:
    """Score rows and the per-model summary (mean overall, per turn, per category) of single mode."""
    rows = [{"question_id": t.question.question_id, "model": t.model_a, "turn": t.turn, "score": rec["score"],
             "judge": judge, "category": t.question.category, "key": rec["key"]}
            for t, rec in pairs if rec.get("status") == "ok" and rec.get("score") is not None]
    return rows, score_table(rows, judge)


def score_table(rows: list[dict], judge: str) -> dict[str, Any]:
    """Per-model mean score, count, and means per turn and per category."""
    by_model: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    models = []
    for model, rs in by_model.items():
        per_turn: dict[str, list[float]] = defaultdict(list)
        per_cat: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            per_turn[str(r["turn"])].append(r["score"])
            per_cat[r["category"]].append(r["score"])
        models.append({"model": model, "mean": round(mean(r["score"] for r in rs), 4), "n": len(rs),
                       "per_turn": {k: round(mean(v), 4) for k, v in sorted(per_turn.items())},
                       "per_category": {k: round(mean(v), 4) for k, v in sorted(per_cat.items())}})
    models.sort(key=lambda m: -m["mean"])
    return {"judge": judge, "models": models}


def judge_stats(pairs: list[tuple[JudgeTask, dict]], *, new_calls: int, dry_run: bool) -> dict[str, Any]:
    """Position consistency, first-position win rate, tie rate, parse failures, tokens, cost, and truncation:
    judgments that saw an answer cut at max_tokens, and judge replies that were cut themselves."""
    recs = [rec for _, rec in pairs]
    ok = [r for r in recs if r.get("status") == "ok"]
    unparsed = sum(r.get("status") == "unparsed" for r in recs)
    decisive = [r for r in ok if r.get("position_winner") in ("A", "B")]
    ties = [r for r in ok if r.get("position_winner") == "tie"]
    groups: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for t, rec in pairs:
        if t.model_b is not None and rec.get("status") == "ok" and rec.get("position_winner"):
            groups[t.pair_id][t.order] = rec
    both = [g for g in groups.values() if len(g) == 2]
    agree = sum(model_winner(g["AB"]["position_winner"], "AB") == model_winner(g["BA"]["position_winner"], "BA")
                for g in both)
    rate = (lambda n, d: round(n / d, 4) if d else None)
    return {"calls": new_calls, "cached": len(recs) - new_calls, "ok": len(ok), "unparsed": unparsed,
            "errors": sum(r.get("status") == "error" for r in recs),
            "parse_failure_rate": rate(unparsed, len(ok) + unparsed), "pairs_both_orders": len(both),
            "position_consistency": rate(agree, len(both)),
            "first_position_win_rate": rate(sum(r["position_winner"] == "A" for r in decisive), len(decisive)),
            "tie_rate": rate(len(ties), len(ok) if decisive or ties else 0),
            "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in recs),
            "completion_tokens": sum(r.get("completion_tokens") or 0 for r in recs),
            "cost_usd": round(sum(r.get("cost_usd") or 0.0 for r in recs), 6), "dry_run": dry_run,
            "truncated_answers": sum(bool(r.get("answer_truncated")) for r in recs),
            "truncated_judge_replies": sum(bool(r.get("judge_truncated")) and r.get("verdict_kind") != "reward"
                                           for r in recs),
            # a reward model has no reply: its flag says the conversation was cut on the left to its max_length
            "truncated_judge_inputs": sum(bool(r.get("judge_truncated")) and r.get("verdict_kind") == "reward"
                                          for r in recs),
            "usage_bounded": sum(bool(r.get("usage_estimated")) for r in recs)}
