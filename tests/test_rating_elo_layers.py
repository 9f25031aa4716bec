"""Vectorised Elo bootstrap: every round equals a plain per-battle Elo loop over the same drawn sequence."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.elo import bootstrap_elo, elo_layers


def textbook_elo(seq_a, seq_b, seq_s, seq_w, m, k=4.0, scale=400.0, base=10.0, init=1000.0):  # type: ignore[no-untyped-def]
    """FastChat's online Elo, one battle at a time in plain Python; NaN for models that never played."""
    rating, seen = [init] * m, [False] * m
    for ia, ib, s, w in zip(seq_a, seq_b, seq_s, seq_w):
        ra, rb = rating[ia], rating[ib]
        delta = k * w * (s - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
        rating[ia], rating[ib] = ra + delta, rb - delta
        seen[ia] = seen[ib] = True
    return np.where(seen, rating, np.nan)


@pytest.mark.parametrize(("n", "m", "rounds", "chunk", "window"), [(500, 6, 9, 4, 16), (300, 40, 5, 1024, 7), (200, 2, 3, 2, 256)])
def test_rounds_equal_per_battle_loops_over_the_same_draws(n: int, m: int, rounds: int, chunk: int, window: int) -> None:
    rng = np.random.default_rng(n)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    s = rng.choice([0.0, 0.5, 1.0], n)
    w = rng.choice([1.0, 2.5], n)
    got = bootstrap_elo(a, b, s, w, m, rounds, seed=11, k=8.0, chunk=chunk, window=window)
    draws = np.random.default_rng(11)  # documented stream: per chunk of rounds, an (N, chunk) index matrix
    expected = []
    for start in range(0, rounds, chunk):
        picks = draws.integers(0, n, size=(n, min(chunk, rounds - start)))
        expected += [textbook_elo(a[p], b[p], s[p], w[p], m, k=8.0) for p in picks.T]
    np.testing.assert_array_equal(got, np.array(expected))  # the same arithmetic in the same order: bit for bit


def test_layers_never_hold_two_battles_of_one_model_and_keep_each_models_order() -> None:
    rng = np.random.default_rng(5)
    n_pos, n_rounds, slots = 100, 3, 3 * 5
    fa = rng.integers(0, 5, (n_pos, n_rounds)) + np.arange(n_rounds) * 5
    fb = (fa % 5 + rng.integers(1, 5, (n_pos, n_rounds))) % 5 + np.arange(n_rounds) * 5
    order, bounds = elo_layers(fa, fb, 8, slots)
    assert sorted(order) == list(range(n_pos * n_rounds))
    layer_of = np.empty(n_pos * n_rounds, int)
    for layer, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        layer_of[order[lo:hi]] = layer
        used = np.r_[fa.ravel()[order[lo:hi]], fb.ravel()[order[lo:hi]]]
        assert len(set(used)) == len(used)
    for slot in range(slots):
        hits = np.flatnonzero((fa.ravel() == slot) | (fb.ravel() == slot))  # in position order
        assert (np.diff(layer_of[hits]) > 0).all()
