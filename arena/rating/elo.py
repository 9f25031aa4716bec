"""Online Elo in battle order (FastChat conventions) and its bootstrap over resampled battle sequences."""

from __future__ import annotations

import numpy as np


def online_elo(
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    weight: np.ndarray,
    n_models: int,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
) -> np.ndarray:
    """One pass over the battles in order: R_a += K w (S_a - E_a), R_b -= the same amount.

    E_a = 1 / (1 + base ** ((R_b - R_a) / scale)); a tie scores 0.5; the weight scales K.
    """
    ratings = [float(init)] * n_models
    for ia, ib, s, w in zip(a.tolist(), b.tolist(), score.tolist(), weight.tolist()):
        ra, rb = ratings[ia], ratings[ib]
        expected = 1.0 / (1.0 + base ** ((rb - ra) / scale))
        delta = k * w * (s - expected)
        ratings[ia] = ra + delta
        ratings[ib] = rb - delta
    return np.array(ratings)


def bootstrap_elo(
    a: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    weight: np.ndarray,
    n_models: int,
    n_rounds: int,
    seed: int,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    chunk: int = 1024,
    block: int = 4096,
) -> np.ndarray:
    """Elo of n_rounds resampled sequences (N battles drawn with replacement, in drawn order); (R, M),
    NaN where a model had no battle in a round.

    All rounds of a chunk advance together, one battle position at a time, so the Python loop runs
    N times per chunk of rounds rather than N times per round; draws are made in blocks of positions.
    """
    n = len(a)
    rng = np.random.default_rng(seed)
    out = np.empty((n_rounds, n_models))
    for start in range(0, n_rounds, chunk):
        size = min(chunk, n_rounds - start)
        ratings = np.full((size, n_models), float(init))
        seen = np.zeros((size, n_models), dtype=bool)
        rows = np.arange(size)
        for first in range(0, n, block):
            picks = rng.integers(0, n, size=(block if first + block <= n else n - first, size))
            ia, ib, sc, kw = a[picks], b[picks], score[picks], k * weight[picks]
            seen[rows[None, :], ia] = True
            seen[rows[None, :], ib] = True
            for t in range(picks.shape[0]):
                col_a, col_b = ia[t], ib[t]
                ra, rb = ratings[rows, col_a], ratings[rows, col_b]
                delta = kw[t] * (sc[t] - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
                ratings[rows, col_a] = ra + delta
                ratings[rows, col_b] = rb - delta
        # a model that no battle of a round touched has no rating in that round (not its starting value)
        out[start : start + size] = np.where(seen, ratings, np.nan)
    return out
