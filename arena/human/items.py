"""What humans vote on: battles of a run grouped into items (one per question, turn and model pair) and
single-mode answers as grade items; each item has a stable key and the judge's view of it."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

from arena.records import content_hash

WINNER_SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


def battle_key(question_id: Any, turn: Any, model_a: str, model_b: str) -> str:
    """The key of a pairwise item: question, turn and the unordered model pair (judges share it)."""
    pair = sorted((str(model_a), str(model_b)))
    return content_hash(["battle", str(question_id), _turn(turn), *pair])


def grade_key(question_id: Any, turn: Any, model: str) -> str:
    """The key of a grade item: question, turn and model."""
    return content_hash(["grade", str(question_id), _turn(turn), str(model)])


def _turn(value: Any) -> int:
    """A turn number (1 when missing or unreadable)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def _judge_score(battle: dict[str, Any]) -> float | None:
    """The judge's score for model_a of one battle (prob_a when given, else from the winner)."""
    prob = battle.get("prob_a")
    if isinstance(prob, (int, float)) and not isinstance(prob, bool) and math.isfinite(prob):
        return float(prob)
    return WINNER_SCORE.get(str(battle.get("winner")))


def _games(value: Any) -> list[str]:
    """A battle's judgment keys as a list (the app's tables join them with a separator)."""
    if isinstance(value, list):
        return [str(k) for k in value]
    return [k for k in str(value or "").split("\x1f") if k]


def battle_items(battles: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per (question, turn, model pair), in first-seen order, with every judge's score for its
    model_a (`judge_scores`), whether any judge was inconsistent across orders, and all judgment keys."""
    items: dict[str, dict[str, Any]] = {}
    for battle in battles:
        a, b = battle.get("model_a"), battle.get("model_b")
        if not a or not b or a == b:
            continue
        key = battle_key(battle.get("question_id"), battle.get("turn"), a, b)
        item = items.get(key)
        if item is None:
            item = items[key] = {
                "battle": key, "question_id": str(battle.get("question_id")), "turn": _turn(battle.get("turn")),
                "category": None if battle.get("category") is None else str(battle.get("category")),
                "model_a": str(a), "model_b": str(b), "judgments": [], "judge_scores": {},
                "inconsistent": False,
            }
        score = _judge_score(battle)
        if score is not None:
            judge = str(battle.get("judge") or "judge")
            item["judge_scores"][judge] = score if str(a) == item["model_a"] else 1.0 - score
        item["judgments"] += _games(battle.get("games"))
        if battle.get("consistent") is False:
            item["inconsistent"] = True
    return list(items.values())


def grade_items(scores: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per (model, question, turn) of a single-mode run, with every judge's 1-10 score."""
    items: dict[str, dict[str, Any]] = {}
    for rec in scores:
        model = rec.get("model")
        if not model:
            continue
        key = grade_key(rec.get("question_id"), rec.get("turn"), model)
        item = items.setdefault(key, {
            "battle": key, "question_id": str(rec.get("question_id")), "turn": _turn(rec.get("turn")),
            "category": None if rec.get("category") is None else str(rec.get("category")),
            "model": str(model), "judgments": [], "judge_scores": {},
        })
        score = rec.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
            item["judge_scores"][str(rec.get("judge") or "judge")] = float(score)
        if rec.get("key"):
            item["judgments"].append(str(rec["key"]))
    return list(items.values())


def seeded_unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by the parts (sha256): the same voter and item always get the same draw."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def shown_swapped(voter: str, battle: str, nth: int = 0) -> bool:
    """Whether this voter sees model_b as Answer 1 on their nth showing of this battle (seeded, 50/50)."""
    return seeded_unit("order", voter, battle, nth) < 0.5
