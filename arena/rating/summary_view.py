"""One category (or all) of a BattleSummary, answering what rate_battles asks of a battles table.

Pair counts are built in the order `counts.aggregate_indexed` uses (sorted models; scores and weights
coded by first appearance; cells by key), so fits and bootstrap draws match the per-battle path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from arena.errors import ArenaError
from arena.rating.clusters import CountedClusters
from arena.rating.counts import COUNT, PairCounts, self_battle_warning
from arena.rating.summary import BattleSummary

_SIDES = {"model_a": "a", "model_b": "b"}


def _first_order(values: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values in order of first appearance, and each value's code (what pd.factorize gives)."""
    uniques, inverse = np.unique(values, return_inverse=True)
    earliest = np.full(len(uniques), np.iinfo(np.int64).max)
    np.minimum.at(earliest, inverse, first)
    order = np.argsort(earliest, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[inverse]


@dataclass
class SummaryView:
    """The combos of one category without self-battles; len() is the number of battles."""

    summary: BattleSummary
    combos: pd.DataFrame
    category: str | None

    def __len__(self) -> int:
        """Number of battles."""
        return int(self.combos["count"].sum())

    def __getitem__(self, field: str) -> pd.Series:
        """A column of the distinct outcomes, as the shared per-battle functions ask for it: model_a /
        model_b (names), score, weight, and COUNT (battles per outcome; e.g. counts.model_tallies)."""
        if field in _SIDES:
            return pd.Series(self.summary.model_names[self.combos[_SIDES[field]].to_numpy()], index=self.combos.index)
        return self.combos["count" if field == COUNT else field]

    def __contains__(self, field: str) -> bool:
        """Whether __getitem__ has the column."""
        return field in _SIDES or field == COUNT or field in self.combos

    @cached_property
    def models(self) -> list[str]:
        """Sorted model names of these battles."""
        used = np.unique(np.r_[self.combos["a"].to_numpy(), self.combos["b"].to_numpy()])
        return sorted(str(m) for m in self.summary.model_names[used])

    def _sides(self) -> tuple[np.ndarray, np.ndarray]:
        """Codes of model_a / model_b among the sorted models (each name looked up once, then by code)."""
        rank = pd.Series(np.arange(len(self.models)), index=self.models)
        by_code = rank.reindex(self.summary.model_names).fillna(-1).to_numpy(np.int64)
        return by_code[self.combos["a"].to_numpy()], by_code[self.combos["b"].to_numpy()]

    @cached_property
    def indexed(self) -> tuple[PairCounts, np.ndarray]:
        """PairCounts and the cell of every combo."""
        a, b = self._sides()
        first = self.combos["first"].to_numpy(np.int64)
        swap = a > b
        lo, hi = np.where(swap, b, a), np.where(swap, a, b)
        score = self.combos["score"].to_numpy(float)
        s_values, s_codes = _first_order(np.where(swap, 1.0 - score, score), first)
        w_values, w_codes = _first_order(self.combos["weight"].to_numpy(float), first)
        m, n_s, n_w = len(self.models), len(s_values), len(w_values)
        key = ((lo * m + hi) * n_s + s_codes) * n_w + w_codes
        cell_key, combo_cell = np.unique(key, return_inverse=True)
        cell_count = np.bincount(combo_cell, weights=self.combos["count"].to_numpy(float), minlength=len(cell_key))
        pair_keys, cell_pair = np.unique(cell_key // (n_w * n_s), return_inverse=True)
        counts = PairCounts(
            models=list(self.models), pair_i=(pair_keys // m).astype(np.int64), pair_j=(pair_keys % m).astype(np.int64),
            cell_pair=cell_pair.astype(np.int64), cell_score=s_values[(cell_key // n_w) % n_s],
            cell_weight=w_values[cell_key % n_w], cell_count=np.rint(cell_count).astype(np.int64),
        )
        return counts, combo_cell.ravel()

    def clusters(self) -> CountedClusters:
        """Question clusters (sorted question ids, then battles without one in file order) as cell counts."""
        if not self.summary.by_question:
            raise ArenaError("this battles summary was built without question ids (by_question=False)")
        counts, combo_cell = self.indexed
        question = self.combos["question"].to_numpy(np.int64)
        labelled = question >= 0
        ids = self.summary.question_names[question[labelled]].astype(str)
        unique_ids, labelled_code = np.unique(ids, return_inverse=True)
        n_questions = len(unique_ids)
        cluster = np.empty(len(question), np.int64)
        cluster[labelled] = labelled_code.ravel()
        alone = np.flatnonzero(~labelled)
        alone = alone[np.argsort(self.combos["first"].to_numpy()[alone], kind="stable")]
        cluster[alone] = n_questions + np.arange(len(alone))
        n_clusters = n_questions + len(alone)
        matrix = sp.csr_matrix((self.combos["count"].to_numpy(np.int64), (cluster, combo_cell)),
                               shape=(n_clusters, len(counts.cell_count)))
        return CountedClusters(np.zeros(0, np.int64), n_clusters, n_questions, len(alone), matrix)

    def mean_lengths(self) -> pd.Series | None:
        """Mean answer length per model, or None when these battles give no lengths."""
        lengths = self.summary.lengths
        keep = ~lengths["self"].astype(bool)
        if self.category is not None:
            keep &= lengths["category"] == _category_code(self.summary, self.category)
        lengths = lengths[keep]
        if lengths.empty or lengths["len_n"].sum() == 0:
            return None
        sums = lengths.groupby("model")[["len_sum", "len_n"]].sum()
        mean = sums["len_sum"] / sums["len_n"].where(sums["len_n"] > 0)
        mean.index = self.summary.model_names[sums.index.to_numpy(np.int64)]
        return mean.sort_index()


def _category_code(summary: BattleSummary, category: str) -> int:
    """Code of a category name (-2 when absent, matching nothing)."""
    hits = np.flatnonzero(summary.category_names == category)
    return int(hits[0]) if len(hits) else -2


def prepare_view(summary: BattleSummary, category: str | None) -> tuple[SummaryView, list[str]]:
    """prepare() on a summary: filter a category, drop self-battles (warned), same errors."""
    warnings: list[str] = []
    combos = summary.combos
    if category is not None:
        combos = combos[combos["category"] == _category_code(summary, category)]
        if combos.empty:
            raise ArenaError(f"no battles in category {category!r}")
    same = (combos["a"] == combos["b"]).to_numpy()
    if same.any():
        per = combos[same].groupby("a")["count"].sum()
        per.index = summary.model_names[per.index.to_numpy(np.int64)]
        warnings.append(self_battle_warning(per))
        combos = combos[~same]
    if combos.empty:
        raise ArenaError("no battles between two different models")
    return SummaryView(summary, combos.reset_index(drop=True), category), warnings
