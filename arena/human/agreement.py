"""Judge-human agreement, MT-bench style (Zheng et al. 2023, section 4.2).

Every item (question, turn, unordered model pair) has verdicts from each LLM judge and votes from humans. A
verdict is oriented to the pair in name order: "first" (the alphabetically first model wins), "second" or
"tie" (both-bad counts as a tie). Agreement between a judge and the humans is the share of (judge verdict,
human vote) pairs on the same item that match; "without ties" drops every pair where either side is a tie.
Between humans it is the same over pairs of votes by two different voters on one item (inter-annotator),
and over one voter's repeated votes on an item when K > 1 (self-consistency).
Cohen's kappa is computed on the same pairs; the confusion matrix has the judge in rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

LABELS = ("first", "second", "tie")
HUMAN = "human"


def orient(model_a: str, model_b: str, winner: str) -> tuple[tuple[str, str], str] | None:
    """((first, second) by name, label) for a battle verdict; None for an unknown winner or a self-pair."""
    if not model_a or not model_b or model_a == model_b:
        return None
    pair = tuple(sorted((str(model_a), str(model_b))))
    if winner in ("tie", "tie (bothbad)"):
        return pair, "tie"
    if winner not in ("model_a", "model_b"):
        return None
    won = model_a if winner == "model_a" else model_b
    return pair, "first" if won == pair[0] else "second"


def item_of(rec: dict[str, Any]) -> tuple[tuple, str] | None:
    """(item key, label) of a battle or vote record."""
    oriented = orient(rec.get("model_a"), rec.get("model_b"), str(rec.get("winner")))
    if oriented is None:
        return None
    pair, label = oriented
    turn = _turn(rec.get("turn"))
    if turn is None:
        return None
    return (str(rec.get("question_id")), turn, *pair), label


def _turn(value: Any) -> int | None:
    """A record's turn: 1 when missing, the number for a whole number (also as digits), else None (unusable)."""
    if value is None or value == "":
        return 1
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 1 else None


@dataclass
class PairStats:
    """Matched label pairs of two raters (or rater groups) on shared items."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    categories: list[str | None] = field(default_factory=list)

    def add(self, left: str, right: str, category: str | None) -> None:
        """Record one compared pair of labels."""
        self.pairs.append((left, right))
        self.categories.append(category)

    def summary(self, ties: bool = True) -> dict[str, Any]:
        """n, agreement and Cohen's kappa, with or without ties."""
        kept = [(a, b) for a, b in self.pairs if ties or (a != "tie" and b != "tie")]
        return {"n": len(kept), "agreement": _share(kept), "kappa": cohen_kappa(kept)}

    def confusion(self) -> list[list[int]]:
        """3x3 counts, rows the left rater's label, columns the right's, in LABELS order."""
        index = {label: i for i, label in enumerate(LABELS)}
        matrix = [[0] * len(LABELS) for _ in LABELS]
        for a, b in self.pairs:
            matrix[index[a]][index[b]] += 1
        return matrix

    def by_category(self) -> dict[str, dict[str, Any]]:
        """Agreement with and without ties per category."""
        groups: dict[str, PairStats] = {}
        for (a, b), cat in zip(self.pairs, self.categories):
            groups.setdefault(str(cat), PairStats()).add(a, b, cat)
        return {c: {"with_ties": g.summary(True), "without_ties": g.summary(False)} for c, g in sorted(groups.items())}

    def report(self) -> dict[str, Any]:
        """Everything about this comparison as plain data."""
        return {"with_ties": self.summary(True), "without_ties": self.summary(False),
                "confusion": {"labels": list(LABELS), "matrix": self.confusion()}, "categories": self.by_category()}


def _share(pairs: list[tuple[str, str]]) -> float | None:
    """Share of equal pairs (None when there are none)."""
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of paired labels, (p_o - p_e) / (1 - p_e); None when undefined (no pairs, p_e = 1)."""
    if not pairs:
        return None
    labels = sorted({x for pair in pairs for x in pair})
    if len(labels) < 2:
        return None
    index = {label: k for k, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for a, b in pairs:
        table[index[a], index[b]] += 1
    table /= table.sum()
    observed = float(np.trace(table))
    expected = float(table.sum(axis=1) @ table.sum(axis=0))
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def _collect(records: Iterable[dict[str, Any]], who: str) -> dict[tuple, dict[str, list[str]]]:
    """Per item, labels per rater (`who` names the field: judge or voter)."""
    out: dict[tuple, dict[str, list[str]]] = {}
    for rec in records:
        found = item_of(rec)
        if found is not None:
            key, label = found
            out.setdefault(key, {}).setdefault(str(rec.get(who)), []).append(label)
    return out


def agreement(judge_battles: list[dict[str, Any]], votes: list[dict[str, Any]]) -> dict[str, Any]:
    """Each LLM judge against the humans, and humans against each other (inter-annotator), MT-bench style."""
    judged = _collect(judge_battles, "judge")
    humans = _collect(votes, "voter")
    category: dict[tuple, Any] = {}
    for rec in [*judge_battles, *votes]:  # the first named category of an item; a vote's null never overrides
        found = item_of(rec)
        if found is not None and rec.get("category") not in (None, "") and found[0] not in category:
            category[found[0]] = rec.get("category")
    judges = sorted({j for per in judged.values() for j in per})
    per_judge: dict[str, PairStats] = {j: PairStats() for j in judges}
    inter, repeats, voter_pairs = PairStats(), PairStats(), {}
    for key, by_voter in humans.items():
        human_labels = [label for labels in by_voter.values() for label in labels]
        for judge, labels in judged.get(key, {}).items():
            for verdict in labels:
                for vote in human_labels:
                    per_judge[judge].add(verdict, vote, category.get(key))
        for labels in by_voter.values():  # one voter's repeated votes on one item (K > 1)
            for a, b in combinations(labels, 2):
                repeats.add(a, b, category.get(key))
        for (v1, l1), (v2, l2) in combinations(sorted(by_voter.items()), 2):
            stats = voter_pairs.setdefault(f"{v1} | {v2}", PairStats())
            for a in l1:
                for b in l2:
                    inter.add(a, b, category.get(key))
                    stats.add(a, b, category.get(key))
    return {
        "judges": {j: s.report() for j, s in per_judge.items()},
        "humans": inter.report(),
        "repeats": repeats.report(),
        "voter_pairs": {p: {"with_ties": s.summary(True), "without_ties": s.summary(False)}
                        for p, s in sorted(voter_pairs.items())},
        "n_votes": len(votes),
        "n_voters": len({str(v.get("voter")) for v in votes}),
        "n_items_voted": len(humans),
    }


def agreement_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per judge, then 'human (inter-annotator)': n, agreement and kappa with and without ties."""
    rows = []
    named = [(j, r) for j, r in result["judges"].items()] + [(f"{HUMAN} (inter-annotator)", result["humans"])]
    if result["repeats"]["with_ties"]["n"]:
        named.append((f"{HUMAN} (same voter, repeated votes)", result["repeats"]))
    for name, rep in named:
        w, wo = rep["with_ties"], rep["without_ties"]
        rows.append({"judge": name, "n": w["n"], "agreement": w["agreement"], "kappa": w["kappa"],
                     "n_without_ties": wo["n"], "agreement_without_ties": wo["agreement"],
                     "kappa_without_ties": wo["kappa"]})
    return rows
