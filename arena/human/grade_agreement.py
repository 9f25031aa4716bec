"""Judge-human agreement for single-mode runs: human 1-10 grades against the judge's scores of the same
answer (question, turn, model), and between two people who graded the same answer."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from arena.human.items import grade_key


def _stats(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """n, Pearson and Spearman correlation (scipy), mean absolute difference and share within one point."""
    out: dict[str, Any] = {"n": len(pairs), "pearson": None, "spearman": None, "mean_abs_diff": None,
                           "within_1": None}
    if not pairs:
        return out
    left, right = [p[0] for p in pairs], [p[1] for p in pairs]
    out["mean_abs_diff"] = sum(abs(a - b) for a, b in pairs) / len(pairs)
    out["within_1"] = sum(abs(a - b) <= 1 for a, b in pairs) / len(pairs)
    if len(pairs) >= 3 and len(set(left)) > 1 and len(set(right)) > 1:
        from scipy.stats import pearsonr, spearmanr

        out["pearson"] = float(pearsonr(left, right)[0])
        rho = float(spearmanr(left, right)[0])
        out["spearman"] = None if math.isnan(rho) else rho
    return out


def grade_agreement(scores: list[dict[str, Any]], grades: list[dict[str, Any]]) -> dict[str, Any]:
    """Per judge: its score against every human grade of the same answer; humans: pairs of two voters' grades."""
    judged: dict[str, dict[str, list[float]]] = {}
    for rec in scores:
        score = rec.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score) and rec.get("model"):
            key = grade_key(rec.get("question_id"), rec.get("turn"), rec["model"])
            judged.setdefault(str(rec.get("judge") or "judge"), {}).setdefault(key, []).append(float(score))
    human: dict[str, dict[str, list[float]]] = {}
    for g in grades:
        key = grade_key(g.get("question_id"), g.get("turn"), g.get("model"))
        human.setdefault(key, {}).setdefault(str(g.get("voter")), []).append(float(g["grade"]))
    judges = {j: _stats([(s, h) for key, per in by_key.items() for s in per
                         for hs in human.get(key, {}).values() for h in hs]) for j, by_key in sorted(judged.items())}
    inter = [(a, b) for by_voter in human.values() for (_, g1), (_, g2) in combinations(sorted(by_voter.items()), 2)
             for a in g1 for b in g2]
    return {"judges": judges, "humans": _stats(inter), "n_grades": len(grades),
            "n_voters": len({str(g.get("voter")) for g in grades}), "n_items_graded": len(human)}


def grade_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per judge, then 'human (inter-annotator)'."""
    named = [*result["judges"].items(), ("human (inter-annotator)", result["humans"])]
    return [{"judge": name, **stats} for name, stats in named]
