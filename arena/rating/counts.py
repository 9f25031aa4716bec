"""Sufficient statistics of Bradley-Terry: weighted scores per model pair, and per-model tallies."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from arena.errors import ArenaError


@dataclass(frozen=True)
class PairCounts:
    """Battles collapsed into cells (pair, score of the lower-index model, weight) with battle counts.

    Pairs are oriented so that pair_i < pair_j; a battle with the models on the other sides contributes
    score 1 - s to the same pair, so the statistics do not depend on sides.
    """

    models: list[str]
    pair_i: np.ndarray  # (P,) int
    pair_j: np.ndarray  # (P,) int
    cell_pair: np.ndarray  # (C,) int index into pairs
    cell_score: np.ndarray  # (C,) float in [0, 1], from pair_i's side
    cell_weight: np.ndarray  # (C,) float
    cell_count: np.ndarray  # (C,) int64 number of battles

    @property
    def n_models(self) -> int:
        """Number of models."""
        return len(self.models)

    @property
    def n_battles(self) -> int:
        """Number of battles aggregated."""
        return int(self.cell_count.sum())

    @cached_property
    def cell_matrices(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Sparse (C, P) maps from cell counts to pair score sums S and pair weight sums N."""
        shape = (len(self.cell_pair), len(self.pair_i))
        rows = np.arange(shape[0])
        to_s = sp.csr_matrix((self.cell_weight * self.cell_score, (rows, self.cell_pair)), shape=shape)
        to_n = sp.csr_matrix((self.cell_weight, (rows, self.cell_pair)), shape=shape)
        return to_s, to_n

    def pair_stats(self, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Weighted score S and weight N per pair for the observed counts (or a (B, C) batch of counts)."""
        counts = self.cell_count if counts is None else counts
        to_s, to_n = self.cell_matrices
        if counts.ndim == 1:
            return to_s.T @ counts.astype(float), to_n.T @ counts.astype(float)
        counts_t = np.ascontiguousarray(counts.T, dtype=float)  # C order: scipy would copy an F-order operand
        return (to_s.T @ counts_t).T, (to_n.T @ counts_t).T

    @cached_property
    def _cell_to_model(self) -> sp.csr_matrix:
        """Sparse (C, M) map from cell counts to battles per model."""
        n_cells, n_pairs = len(self.cell_pair), len(self.pair_i)
        per_cell = sp.csr_matrix(
            (np.ones(n_cells), (np.arange(n_cells), self.cell_pair)), shape=(n_cells, n_pairs)
        )
        rows = np.r_[np.arange(n_pairs), np.arange(n_pairs)]
        incidence = sp.csr_matrix(
            (np.ones(2 * n_pairs), (rows, np.r_[self.pair_i, self.pair_j])), shape=(n_pairs, self.n_models)
        )
        return (per_cell @ incidence).tocsr()

    def model_battles(self, counts: np.ndarray | None = None) -> np.ndarray:
        """Number of battles per model for the observed counts (or a (B, C) batch)."""
        counts = self.cell_count if counts is None else counts
        to_model = self._cell_to_model
        if counts.ndim == 1:
            return to_model.T @ counts.astype(float)
        return (to_model.T @ np.ascontiguousarray(counts.T, dtype=float)).T


def encode_models(battles: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted model names and integer codes of model_a / model_b."""
    both = pd.concat([battles["model_a"], battles["model_b"]], ignore_index=True)
    codes, uniques = pd.factorize(both, sort=True)
    n = len(battles)
    return [str(m) for m in uniques], codes[:n].astype(np.int64), codes[n:].astype(np.int64)


def aggregate(battles: pd.DataFrame, models: list[str] | None = None) -> PairCounts:
    """Collapse a validated battles table into PairCounts (self-battles must be removed first)."""
    return aggregate_indexed(battles, models)[0]


def aggregate_indexed(
    battles: pd.DataFrame, models: list[str] | None = None
) -> tuple[PairCounts, np.ndarray]:
    """PairCounts of the battles and the cell index of every battle (N,), for clustered resampling.

    A streamed SummaryView gives its counts directly (and no per-battle cells: its question clusters
    carry their cell matrix).
    """
    if hasattr(battles, "indexed") and models is None:
        return battles.indexed[0], np.zeros(0, np.int64)
    if battles.empty:
        raise ArenaError("no battles to rate")
    found, a, b = encode_models(battles)
    if models is not None:
        remap = pd.Index(models).get_indexer(found)
        if (remap < 0).any():
            raise ArenaError(
                f"models missing from the model list: {[m for m, r in zip(found, remap) if r < 0]}"
            )
        a, b, found = remap[a], remap[b], list(models)
    if (a == b).any():
        raise ArenaError("battles of a model against itself must be removed before aggregation")
    score = battles["score"].to_numpy(float)
    weight = battles["weight"].to_numpy(float)
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    score = np.where(swap, 1.0 - score, score)
    n_models = len(found)
    pair_key = lo * n_models + hi
    s_codes, s_values = pd.factorize(score)
    w_codes, w_values = pd.factorize(weight)
    n_s, n_w = len(s_values), len(w_values)
    key = (pair_key * n_s + s_codes) * n_w + w_codes
    if n_models * n_models * n_s * n_w <= 50_000_000:
        cell_count = np.bincount(key, minlength=0)
        cell_key = np.flatnonzero(cell_count)
        cell_count = cell_count[cell_key]
        cell_of_battle = np.searchsorted(cell_key, key)
    else:
        cell_key, cell_of_battle, cell_count = np.unique(key, return_inverse=True, return_counts=True)
    w_idx = cell_key % n_w
    s_idx = (cell_key // n_w) % n_s
    cell_pair_key = cell_key // (n_w * n_s)
    pair_keys, cell_pair = np.unique(cell_pair_key, return_inverse=True)
    counts = PairCounts(
        models=found,
        pair_i=(pair_keys // n_models).astype(np.int64),
        pair_j=(pair_keys % n_models).astype(np.int64),
        cell_pair=cell_pair.astype(np.int64),
        cell_score=np.asarray(s_values, float)[s_idx],
        cell_weight=np.asarray(w_values, float)[w_idx],
        cell_count=cell_count.astype(np.int64),
    )
    return counts, np.asarray(cell_of_battle, np.int64).ravel()


COUNT = "outcome_battles"  # column of a table of distinct outcomes (a streamed SummaryView): battles per row


def _row_counts(battles: pd.DataFrame, n_rows: int) -> np.ndarray:
    """Battles each row stands for: the COUNT column of a table of distinct outcomes, else 1."""
    return battles[COUNT].to_numpy(np.int64) if COUNT in battles else np.ones(n_rows, np.int64)


def _model_codes(battles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model names by code and the codes of model_a / model_b (a streamed SummaryView has them already)."""
    if hasattr(battles, "summary") and hasattr(battles, "combos"):
        return battles.summary.model_names, battles.combos["a"].to_numpy(), battles.combos["b"].to_numpy()
    n = len(battles)
    codes, names = pd.factorize(np.r_[battles["model_a"].to_numpy(object), battles["model_b"].to_numpy(object)])
    return np.asarray(names, dtype=object), codes[:n], codes[n:]


def model_tallies(battles: pd.DataFrame) -> pd.DataFrame:
    """Per model: battles, wins, ties, losses (unweighted; soft scores count >0.5 / =0.5 / <0.5); a row of a
    table of distinct outcomes counts COUNT times."""
    names, a, b = _model_codes(battles)
    score = battles["score"].to_numpy(float)
    count = _row_counts(battles, len(score))
    code, own, count = np.r_[a, b], np.r_[score, 1.0 - score], np.r_[count, count]
    tally = {"battles": count, "wins": np.where(own > 0.5, count, 0), "ties": np.where(own == 0.5, count, 0),
             "losses": np.where(own < 0.5, count, 0)}
    sums = {k: np.bincount(code, weights=v, minlength=len(names)) for k, v in tally.items()}
    seen = np.flatnonzero(np.bincount(code, minlength=len(names)))
    order = seen[np.argsort(names[seen].astype(str), kind="stable")]
    return pd.DataFrame({k: np.rint(v[order]).astype(np.int64) for k, v in sums.items()},
                        index=pd.Index(names[order], name="model"))


def observed_win_rate(battles: pd.DataFrame, models: list[str], baseline: str) -> np.ndarray:
    """Weighted share of points against the baseline x 100 (ties half); NaN without such battles; a row of a
    table of distinct outcomes counts COUNT times."""
    a, b = battles["model_a"].to_numpy(object), battles["model_b"].to_numpy(object)
    s = battles["score"].to_numpy(float)
    w = battles["weight"].to_numpy(float) * _row_counts(battles, len(s))
    vs_a, vs_b = b == baseline, a == baseline
    long = pd.DataFrame({"model": np.r_[a[vs_a], b[vs_b]], "points": np.r_[(w * s)[vs_a], (w * (1.0 - s))[vs_b]],
                         "weight": np.r_[w[vs_a], w[vs_b]]})
    sums = long.groupby("model")[["points", "weight"]].sum()
    rate = 100.0 * sums["points"] / sums["weight"].where(sums["weight"] > 0)
    return rate.reindex(models).to_numpy(float)


def mean_lengths(battles: pd.DataFrame) -> pd.Series | None:
    """Mean answer length per model from len_a / len_b, or None when no lengths are given."""
    if hasattr(battles, "mean_lengths"):  # a streamed SummaryView
        return battles.mean_lengths()
    if "len_a" not in battles or battles[["len_a", "len_b"]].isna().all().all():
        return None
    long = pd.concat(
        [
            pd.DataFrame({"model": battles["model_a"], "len": battles["len_a"]}),
            pd.DataFrame({"model": battles["model_b"], "len": battles["len_b"]}),
        ],
        ignore_index=True,
    )
    return long.groupby("model", sort=True)["len"].mean()


def self_battle_warning(per_model: pd.Series) -> str:
    """The warning for ignored self-battles, from their number per model (any order)."""
    per_model = per_model.sort_index()
    shown = ", ".join(f"{m!r}: {n}" for m, n in list(per_model.items())[:10])
    more = f", and {len(per_model) - 10} more models" if len(per_model) > 10 else ""
    return (f"{int(per_model.sum())} battle(s) of a model against itself were ignored ({shown}{more}): "
            "a self-battle says nothing about a rating")
