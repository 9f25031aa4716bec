"""Which item a voter sees next: random, stratified by category, where the judge is least sure, or where
the judge and the humans so far disagree most. Every order is seeded by the voter's name, so it is stable
across page reloads and different for each voter; items the voter has voted on K times are left out."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import mean, pstdev
from typing import Any

from arena.errors import ArenaError
from arena.human.items import WINNER_SCORE, seeded_unit

STRATEGIES = {
    "random": "Random",
    "stratified": "Stratified by category",
    "least_sure": "Where the judge is least sure",
    "disagreement": "Where judge and humans disagree most",
}
RATING_SCALE = 400.0  # Elo-scale ratings: P(a beats b) = 1 / (1 + 10 ** (-(Ra - Rb) / 400))


def remaining(items: list[dict[str, Any]], own_counts: dict[str, int], k: int) -> list[dict[str, Any]]:
    """Items the voter may still vote on (fewer than k votes of theirs)."""
    if k < 1:
        raise ArenaError("votes per battle must be at least 1")
    return [it for it in items if own_counts.get(it["battle"], 0) < k]


def votes_left(items: list[dict[str, Any]], own_counts: dict[str, int], k: int) -> int:
    """How many votes the voter has left in total (k per item, minus those cast)."""
    return sum(max(0, k - own_counts.get(it["battle"], 0)) for it in items)


def _tiebreak(voter: str, seed: int) -> Callable[[dict[str, Any]], float]:
    return lambda it: seeded_unit("sample", seed, voter, it["battle"])


def order_random(items: list[dict[str, Any]], voter: str, seed: int = 0, **_: Any) -> list[dict[str, Any]]:
    """A seeded shuffle, fixed per voter."""
    return sorted(items, key=_tiebreak(voter, seed))


def order_stratified(items: list[dict[str, Any]], voter: str, seed: int = 0, **_: Any) -> list[dict[str, Any]]:
    """Round robin over categories (each shuffled, categories in a seeded order): the first n items cover
    every category as evenly as n allows."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in order_random(items, voter, seed):
        groups.setdefault(str(item.get("category")), []).append(item)
    names = sorted(groups, key=lambda c: seeded_unit("category", seed, voter, c))
    out: list[dict[str, Any]] = []
    for depth in range(max((len(g) for g in groups.values()), default=0)):
        out += [groups[c][depth] for c in names if depth < len(groups[c])]
    return out


def judge_doubt(item: dict[str, Any], ratings: dict[str, float] | None = None) -> float:
    """How unsure the judge is about an item, higher is less sure: ties and split verdicts (1 - |2s - 1|
    averaged over judges), +1 when a judge was inconsistent across orders, the judges' spread, and how close
    the pair is on the leaderboard (pairwise items; 1 for an even pair, 0 for a certain one)."""
    scores = list(item.get("judge_scores", {}).values())
    if "model" in item:  # a grade item: a mid score (5.5) is least sure, and judges far apart
        if not scores:
            return 1.0
        return 1 - abs(mean(scores) - 5.5) / 4.5 + pstdev(scores) / 4.5
    doubt = mean(1 - abs(2 * s - 1) for s in scores) if scores else 1.0
    doubt += 1.0 if item.get("inconsistent") else 0.0
    doubt += 2 * pstdev(scores) if len(scores) > 1 else 0.0
    if ratings and item.get("model_a") in ratings and item.get("model_b") in ratings:
        gap = ratings[item["model_a"]] - ratings[item["model_b"]]
        p = 1 / (1 + 10 ** (-gap / RATING_SCALE))
        doubt += 1 - abs(2 * p - 1)
    return doubt


def order_least_sure(items: list[dict[str, Any]], voter: str, seed: int = 0,
                     ratings: dict[str, float] | None = None, **_: Any) -> list[dict[str, Any]]:
    """Least sure first (judge_doubt in steps of 0.1, so near-equal doubts do not all come from the closest
    model pair), seeded order among equals."""
    tie = _tiebreak(voter, seed)
    return sorted(items, key=lambda it: (-round(judge_doubt(it, ratings), 1), tie(it)))


def _human_score(vote: dict[str, Any], item: dict[str, Any]) -> float | None:
    """A vote as the item's model_a score (0..1), or a grade as it is."""
    if "grade" in vote:
        return float(vote["grade"])
    score = WINNER_SCORE.get(str(vote.get("winner")))
    if score is None:
        return None
    return score if vote.get("model_a") == item.get("model_a") else 1 - score


def human_judge_gap(items: list[dict[str, Any]], votes: list[dict[str, Any]]) -> dict[str, float]:
    """Per item, |human mean - judge mean| on the judge's scale (0..1 for pairs, 0..1 of 9 points for
    grades); an item nobody voted on gets the gap of its model pair (or model) over the items voted on."""
    by_item: dict[str, list[float]] = {}
    index = {it["battle"]: it for it in items}
    for vote in votes:
        item = index.get(str(vote.get("battle")))
        score = None if item is None else _human_score(vote, item)
        if score is not None:
            by_item.setdefault(item["battle"], []).append(score)
    gaps: dict[str, float] = {}
    by_group: dict[tuple, list[float]] = {}
    for item in items:
        judged = list(item.get("judge_scores", {}).values())
        if item["battle"] in by_item and judged:
            scale = 9.0 if "model" in item else 1.0
            gaps[item["battle"]] = abs(mean(by_item[item["battle"]]) - mean(judged)) / scale
            by_group.setdefault(_group(item), []).append(gaps[item["battle"]])
    for item in items:
        if item["battle"] not in gaps:
            group = by_group.get(_group(item))
            gaps[item["battle"]] = mean(group) if group else 0.0
    return gaps


def _group(item: dict[str, Any]) -> tuple:
    """The model pair (unordered) of a pairwise item, or the model of a grade item."""
    return (item["model"],) if "model" in item else tuple(sorted((item["model_a"], item["model_b"])))


def order_disagreement(items: list[dict[str, Any]], voter: str, seed: int = 0,
                       votes: list[dict[str, Any]] | None = None, pool: list[dict[str, Any]] | None = None,
                       **_: Any) -> list[dict[str, Any]]:
    """Largest judge-human gap first (human_judge_gap over everyone's active votes on the whole `pool` of
    items, the voter's finished ones included), seeded among equals."""
    gaps = human_judge_gap(pool if pool is not None else items, votes or [])
    tie = _tiebreak(voter, seed)
    return sorted(items, key=lambda it: (-round(gaps[it["battle"]], 9), tie(it)))


ORDERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "random": order_random,
    "stratified": order_stratified,
    "least_sure": order_least_sure,
    "disagreement": order_disagreement,
}


def next_items(strategy: str, items: list[dict[str, Any]], voter: str, own_counts: dict[str, int], k: int = 1,
               *, seed: int = 0, votes: list[dict[str, Any]] | None = None,
               ratings: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """The items the voter may still vote on, in the strategy's order."""
    if strategy not in ORDERS:
        raise ArenaError(f"unknown sampling strategy {strategy!r}", hint=f"use one of {', '.join(ORDERS)}")
    open_items = remaining(items, own_counts, k)
    ratings = {m: r for m, r in (ratings or {}).items() if isinstance(r, (int, float)) and math.isfinite(r)}
    return ORDERS[strategy](open_items, voter, seed, votes=votes, ratings=ratings, pool=items)
