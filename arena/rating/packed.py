"""Battle outcome counts under packed int64 keys: folding a chunk in costs one sort of the chunk.

A key packs (model_a, model_b, score code, weight code, category + 1) into 20+20+8+8+7 bits; keys stay
sorted, so a chunk's distinct keys are matched by binary search and new ones merged in. Used while every
code fits its bits (a million models, 256 distinct scores and weights, 127 categories); beyond that the
summary builder falls back to a pandas group-by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BITS = (20, 20, 8, 8, 7)  # model_a, model_b, score, weight, category + 1


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
    """Sorted packed keys with battle counts and first-battle indices."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self.count = np.zeros(0, np.int64)
        self.first = np.zeros(0, np.int64)

    def add(self, columns: tuple[np.ndarray, ...], first: np.ndarray) -> None:
        """Fold in one chunk: code columns (see BITS) and each battle's index."""
        unique, where, count = np.unique(_pack(columns), return_index=True, return_counts=True)
        earliest = first[where]
        pos = np.searchsorted(self.keys, unique)
        hit = pos < len(self.keys)
        hit[hit] = self.keys[pos[hit]] == unique[hit]
        self.count[pos[hit]] += count[hit]
        self.first[pos[hit]] = np.minimum(self.first[pos[hit]], earliest[hit])
        if not hit.all():
            keys = np.concatenate([self.keys, unique[~hit]])
            order = np.argsort(keys, kind="stable")
            self.keys = keys[order]
            self.count = np.concatenate([self.count, count[~hit]])[order]
            self.first = np.concatenate([self.first, earliest[~hit]])[order]

    def table(self, scores: np.ndarray, weights: np.ndarray) -> pd.DataFrame:
        """Columns a, b, score, weight, category, question (-1), count, first; scores/weights by code."""
        a, b, s, w, c = _unpack(self.keys)
        return pd.DataFrame({"a": a, "b": b, "score": scores[s], "weight": weights[w], "category": c - 1,
                             "question": np.full(len(a), -1, np.int64), "count": self.count, "first": self.first})
