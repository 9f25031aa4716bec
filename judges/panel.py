"""A panel of judges: each judges on its own (own cache, own statistics); their outcomes are aggregated."""
from __future__ import annotations

from collections import defaultdict
from statistics import mean, median
from typing import Any

_SCORE = {"model_a": 1.0, "tie": 0.5, "tie (bothbad)": 0.5, "model_b": 0.0}


def _p_a(battle: dict) -> float:
    return float(battle["prob_a"]) if battle.get("prob_a") is not None else _SCORE[battle["winner"]]


def aggregate_battles(per_judge: dict[str, list[dict]], panel: str, method: str) -> list[dict]:
    """One battle per (question, turn, pair) that at least one judge decided: majority vote or mean outcome.

    Each judge's say on a game pair is its battles' weighted mean outcome P(model_a wins) (a win 1, a tie
    0.5, a soft reward-model outcome as it is; a strong verdict weighs `strong_weight`), with the mean
    weight of those battles as its strength. Majority: the winner needs more than half of the votes of the
    judges that decided this game pair, and weighs the mean strength of the judges that voted for it (a
    panel whose judges all say A>>B gives the weight one such judge gives); no majority is a tie of weight
    1. Mean: the soft outcome is the mean of the judges' P(model_a wins), kept as `prob_a`, weighted by
    their mean strength. A panel of one judge, or of copies of one judge, gives that judge's battles.
    """
    groups: dict[tuple, list[tuple[str, dict]]] = defaultdict(list)
    for judge, battles in per_judge.items():
        for b in battles:
            groups[(str(b["question_id"]), b["turn"], b["model_a"], b["model_b"])].append((judge, b))
    out = []
    for votes in groups.values():
        # a judge that kept both games as separate battles votes with their weighted mean outcome
        by_judge: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for judge, b in votes:
            by_judge[judge].append((_p_a(b), float(b.get("weight", 1.0))))
        p_by_judge = {j: sum(p * w for p, w in pw) / sum(w for _, w in pw) if sum(w for _, w in pw) > 0
                      else mean(p for p, _ in pw) for j, pw in by_judge.items()}
        strength = {j: mean(w for _, w in pw) for j, pw in by_judge.items()}
        first = votes[0][1]
        base = {k: v for k, v in first.items() if k not in ("winner", "weight", "prob_a", "consistent", "games")}
        base.update({"judge": panel, "panel_votes": {j: round(p, 4) for j, p in p_by_judge.items()},
                     "games": [k for _, b in votes for k in b.get("games", [])]})
        if method == "mean":
            p = mean(p_by_judge.values())
            winner = "model_a" if p > 0.5 else "model_b" if p < 0.5 else "tie"
            out.append({**base, "winner": winner, "prob_a": round(p, 6), "weight": mean(strength.values())})
            continue
        n = len(p_by_judge)
        side = {"model_a": [j for j, p in p_by_judge.items() if p > 0.5],
                "model_b": [j for j, p in p_by_judge.items() if p < 0.5]}
        winner = next((w for w, js in side.items() if len(js) * 2 > n), "tie")
        weight = mean(strength[j] for j in side[winner]) if winner != "tie" else 1.0
        out.append({**base, "winner": winner, "weight": weight})
    return out


def aggregate_scores(per_judge: dict[str, list[dict]], panel: str, method: str) -> list[dict]:
    """Single mode: one score per (question, turn, model): the mean, or the median for `majority`."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for rows in per_judge.values():
        for r in rows:
            groups[(str(r["question_id"]), r["turn"], r["model"])].append(r)
    combine = mean if method == "mean" else median
    out = []
    for rows in groups.values():
        first = rows[0]
        out.append({**{k: v for k, v in first.items() if k != "key"}, "judge": panel,
                    "score": round(float(combine(r["score"] for r in rows)), 4),
                    "panel_scores": {r["judge"]: r["score"] for r in rows}})
    return out


def panel_summary(member_summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals over the panel's judges for run.json and the terminal report."""
    keys = ("tasks", "new_calls", "ok", "unparsed", "errors", "prompt_tokens", "completion_tokens")
    total: dict[str, Any] = {k: sum(s.get(k, 0) for s in member_summaries.values()) for k in keys}
    total["cost_usd"] = round(sum(s.get("cost_usd", 0.0) for s in member_summaries.values()), 6)
    total["cached"] = sum(s.get("cached", 0) for s in member_summaries.values())
    total["spent_now_usd"] = round(sum(s.get("spent_now_usd", 0.0) for s in member_summaries.values()), 6)
    total["budget_stopped"] = any(s.get("budget_stopped") for s in member_summaries.values())
    total["not_done"] = sum(s.get("not_done", 0) for s in member_summaries.values())
    total["members"] = member_summaries
    estimates = [s["estimate"] for s in member_summaries.values() if "estimate" in s]
    if estimates:
        total["estimate"] = {
            "calls": sum(e["calls"] for e in estimates), "cached": sum(e["cached"] for e in estimates),
            "prompt_chars": sum(e["prompt_chars"] for e in estimates),
            "prompt_tokens": sum(e["prompt_tokens"] for e in estimates),
            "completion_tokens": sum(e["completion_tokens"] for e in estimates),
            "cost_usd": round(sum(e["cost_usd"] for e in estimates), 4),
            "priced": all(e["priced"] for e in estimates),
            "no_api_cost": all(e.get("no_api_cost") for e in estimates),
            "method": "; ".join(f"{j}: {s['estimate']['method']}" for j, s in member_summaries.items()
                                if "estimate" in s)}
    return total
