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
    block: int = 16_384,
    window: int = 256,
) -> np.ndarray:
    """Elo of n_rounds resampled sequences (N battles drawn with replacement, in drawn order); (R, M),
    NaN where a model had no battle in a round.

    Round r of a chunk of rounds plays the battles in column r of a (N, chunk) matrix of indices drawn
    row by row from the seeded generator (`block` positions at a time: memory only, the draws do not depend
    on it). All rounds advance together in layers (`elo_layers`): each
    battle is updated with exactly the arithmetic of `online_elo`, after every earlier battle of its round
    that shares a model, so every round equals a plain per-battle pass over its sequence.
    """
    n = len(a)
    rng = np.random.default_rng(seed)
    out = np.empty((n_rounds, n_models))
    kw_all = k * np.asarray(weight, float)
    score = np.asarray(score, float)
    for start in range(0, n_rounds, chunk):
        size = min(chunk, n_rounds - start)
        flat = np.full(size * n_models, float(init))
        seen = np.zeros(size * n_models, dtype=bool)
        lane_base = np.arange(size) * n_models
        # positions per block: several windows, so that the layering scan works on wide arrays; bounded memory
        width = max(1, min(block, window * max(1, _SCAN_CELLS // (size * n_models))))
        for first in range(0, n, width):
            picks = rng.integers(0, n, size=(min(width, n - first), size))
            fa, fb = lane_base + a.take(picks), lane_base + b.take(picks)
            seen[fa.ravel()] = True
            seen[fb.ravel()] = True
            order, bounds = elo_layers(fa, fb, window, size * n_models)
            fa, fb, picks = fa.take(order), fb.take(order), picks.take(order)
            sc, kw = score.take(picks), kw_all.take(picks)
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                ia, ib = fa[lo:hi], fb[lo:hi]
                ra, rb = flat.take(ia), flat.take(ib)
                delta = kw[lo:hi] * (sc[lo:hi] - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
                flat[ia] = ra + delta
                flat[ib] = rb - delta
        # a model that no battle of a round touched has no rating in that round (not its starting value)
        out[start : start + size] = np.where(seen, flat, np.nan).reshape(size, n_models)
    return out


_SCAN_CELLS = 4_000_000  # (windows x rounds x models) entries of the layering scan's last-seen table


def elo_layers(fa: np.ndarray, fb: np.ndarray, window: int, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Order the (P, R) battles (rating slots fa, fb) into layers that can be applied at once.

    Positions are cut into windows of `window` consecutive battles. Within a window a battle's depth is
    one more than the deepest earlier battle of the window sharing a slot with it (a scan over the
    window's positions, vectorised over all windows and rounds); windows come one after the other. A layer
    (window, depth) never holds two battles sharing a slot, and every battle comes after each earlier
    battle it shares a slot with. Returns the flat order of the battles and the layer boundaries.
    """
    n_pos, n_rounds = fa.shape
    n_win = -(-n_pos // window)
    pad = n_win * window - n_pos
    # lane (window w, round r) keeps its last-seen depths at w * n_slots + slot (slots include the round)
    lanes = np.arange(n_win, dtype=np.int64)[None, :, None] * n_slots

    def by_step(slots: np.ndarray) -> np.ndarray:
        """(window, n_win * R) table keys, step t of every window in row t."""
        padded = np.pad(slots, ((0, pad), (0, 0)), constant_values=n_slots - 1)
        return (padded.reshape(n_win, window, n_rounds).transpose(1, 0, 2) + lanes).reshape(window, -1)

    ka_all, kb_all = by_step(fa), by_step(fb)
    small = np.int16 if window < 2**15 else np.int32  # depths never exceed the window
    last = np.zeros(n_win * n_slots, small)
    depth = np.empty((window, n_win * n_rounds), small)
    for t in range(window):
        ka, kb = ka_all[t], kb_all[t]
        d = np.maximum(last.take(ka), last.take(kb))
        d += 1
        last[ka] = d
        last[kb] = d
        depth[t] = d
    depth = depth.reshape(window, n_win, n_rounds).transpose(1, 0, 2).reshape(n_win * window, n_rounds)[:n_pos]
    max_depth = int(depth.max())
    key = (np.arange(n_pos) // window)[:, None] * (max_depth + 1) + depth
    key = key.ravel().astype(np.uint16 if key.max() < 2**16 else np.int64)  # 16-bit keys sort by radix
    order = np.argsort(key, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(key))]
    return order, np.unique(bounds)
