"""Battle outcome counts under packed int64 keys, folded in chunk by chunk without sorting battles.

A key packs (model_a, model_b, score code, weight code, category + 1) into 20+20+8+8+7 bits. While the codes
seen so far span few combinations (150 models, 3 scores, 1 weight and 4 categories make 270,000), counts and
first-battle indices live in a dense grid indexed by the combination, so a chunk costs one bincount;
beyond that, keys are kept sorted and a chunk's distinct keys are matched by binary search and new ones
merged in. Used while every code fits its bits (a million models, 256 distinct scores and weights, 127
categories); beyond that the summary builder falls back to a pandas group-by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BITS = (20, 20, 8, 8, 7)  # model_a, model_b, score, weight, category + 1
DENSE_CELLS = 1 << 21  # largest grid of code combinations (16 MB for counts, 16 MB for first battles)
NEVER = np.iinfo(np.int64).max


def fits(columns: tuple[np.ndarray, ...]) -> bool:
    """Whether every code (category shifted by one) fits its bit width."""
    return all(len(c) == 0 or (c.min() >= 0 and c.max() < (1 << bits)) for c, bits in zip(columns, BITS))


def _pack(columns: tuple[np.ndarray, ...]) -> np.ndarray:
    """One int64 key per battle."""
    key = np.zeros(len(columns[0]), np.int64)
    for column, bits in zip(columns, BITS):
        key = (key << bits) | column.astype(np.int64)
    return key


def _unpack(key: np.ndarray) -> list[np.ndarray]:
    """The columns of packed keys."""
    out = []
    for bits in reversed(BITS):
        out.append(key & ((1 << bits) - 1))
        key = key >> bits
    return out[::-1]


class PackedCounts:
    """Battle counts and first-battle indices by packed key: a dense grid while it is small, else sorted keys."""

    def __init__(self) -> None:
        self._keys = np.zeros(0, np.int64)
        self._count = np.zeros(0, np.int64)
        self._first = np.zeros(0, np.int64)
        self._shape: tuple[int, ...] | None = ()  # grid shape (codes per column); None once sorted keys are used
        self._grid_count = np.zeros(0, np.int64)
        self._grid_first = np.zeros(0, np.int64)

    def add(self, columns: tuple[np.ndarray, ...], first: np.ndarray) -> None:
        """Fold in one chunk: code columns (see BITS) and each battle's index."""
        if not len(first):
            return
        if self._shape is not None:
            shape = tuple(max(int(c.max()) + 1, old) for c, old in zip(columns, self._shape or (1,) * len(BITS)))
            if np.prod(shape, dtype=np.float64) <= DENSE_CELLS:
                self._reshape(shape)
                cell = np.ravel_multi_index(columns, shape)
                self._grid_count += np.bincount(cell, minlength=len(self._grid_count))
                np.minimum.at(self._grid_first, cell, first)
                return
            self._leave_grid()
        unique, where, count = np.unique(_pack(columns), return_index=True, return_counts=True)
        self._merge(unique, count, first[where])

    def _reshape(self, shape: tuple[int, ...]) -> None:
        """Grow the grid to `shape`, moving what it holds."""
        if shape == self._shape:
            return
        count, first = np.zeros(int(np.prod(shape)), np.int64), np.full(int(np.prod(shape)), NEVER)
        if self._shape:
            used = np.flatnonzero(self._grid_count)
            moved = np.ravel_multi_index(np.unravel_index(used, self._shape), shape)
            count[moved], first[moved] = self._grid_count[used], self._grid_first[used]
        self._shape, self._grid_count, self._grid_first = shape, count, first

    def _leave_grid(self) -> None:
        """Move the grid's counts to sorted keys (for good: the codes only grow)."""
        if self._shape:
            used = np.flatnonzero(self._grid_count)  # ascending cells are ascending keys
            self._merge(_pack(np.unravel_index(used, self._shape)), self._grid_count[used], self._grid_first[used])
        self._shape, self._grid_count, self._grid_first = None, np.zeros(0, np.int64), np.zeros(0, np.int64)

    def _merge(self, unique: np.ndarray, count: np.ndarray, earliest: np.ndarray) -> None:
        """Add sorted distinct keys with their counts and earliest battles to the sorted keys."""
        pos = np.searchsorted(self._keys, unique)
        hit = pos < len(self._keys)
        hit[hit] = self._keys[pos[hit]] == unique[hit]
        self._count[pos[hit]] += count[hit]
        self._first[pos[hit]] = np.minimum(self._first[pos[hit]], earliest[hit])
        if not hit.all():
            keys = np.concatenate([self._keys, unique[~hit]])
            order = np.argsort(keys, kind="stable")
            self._keys = keys[order]
            self._count = np.concatenate([self._count, count[~hit]])[order]
            self._first = np.concatenate([self._first, earliest[~hit]])[order]

    @property
    def keys(self) -> np.ndarray:
        """The distinct packed keys, sorted."""
        self._leave_grid()
        return self._keys

    def table(self, scores: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
        """Columns a, b, score, weight, category, question (-1), count, first; scores/weights by code."""
        a, b, s, w, c = _unpack(self.keys)
        return pd.DataFrame({"a": a, "b": b, "score": scores[s], "weight": weights[w], "category": c - 1,
                             "question": np.full(len(a), -1, np.int64), "count": self._count, "first": self._first})
