"""Vectorised Elo bootstrap: every round equals a plain per-battle Elo loop over the same drawn sequence."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.elo import bootstrap_elo, schedule_block


def textbook_elo(seq_a, seq_b, seq_s, seq_w, m, k=4.0, scale=400.0, base=10.0, init=1000.0):  # type: ignore[no-untyped-def]
    """FastChat's online Elo, one battle at a time in plain Python; NaN for models that never played."""
    rating, seen = [init] * m, [False] * m
    for ia, ib, s, w in zip(seq_a, seq_b, seq_s, seq_w):
        ra, rb = rating[ia], rating[ib]
        delta = k * w * (s - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
        rating[ia], rating[ib] = ra + delta, rb - delta
        seen[ia] = seen[ib] = True
    return np.where(seen, rating, np.nan)


@pytest.mark.parametrize(
    ("n", "m", "rounds", "chunk", "window", "lanes", "weights"),
    [
        (500, 6, 9, 4, 16, 40, (1.0, 2.5)),  # several chunks of rounds, several windows per block
        (300, 40, 5, 1024, 7, 3200, (1.0,)),  # one weight: the constant-K path; a short last window
        (200, 2, 3, 2, 256, 3200, (1.0, 2.5)),  # a block shorter than one window
        (400, 300, 250, 1024, 32, 500, (1.0, 3.0)),  # > 256 models (unpacked codes), rounds x models > 2^16
    ],
)
def test_rounds_equal_per_battle_loops_over_the_same_draws(
    n: int, m: int, rounds: int, chunk: int, window: int, lanes: int, weights: tuple[float, ...]
) -> None:
    rng = np.random.default_rng(n)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    s = rng.choice([0.0, 0.5, 1.0, 0.8], n)
    w = rng.choice(weights, n)
    got = bootstrap_elo(a, b, s, w, m, rounds, seed=11, k=8.0, chunk=chunk, window=window, lanes=lanes)
    draws = np.random.default_rng(11)  # documented stream: per chunk of rounds, an (N, chunk) index matrix
    expected = []
    for start in range(0, rounds, chunk):
        picks = draws.integers(0, n, size=(n, min(chunk, rounds - start)))
        expected += [textbook_elo(a[p], b[p], s[p], w[p], m, k=8.0) for p in picks.T]
    expected = np.array(expected)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    # natural-unit arithmetic (exp instead of base ** x): equal to the per-battle loop within 1e-9 points
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_layers_never_hold_two_battles_of_one_model_and_keep_each_models_order() -> None:
    rng = np.random.default_rng(5)
    n_win, width, rounds, m = 4, 25, 3, 5
    an = rng.integers(0, m, (n_win, width, rounds))  # [w, t, r]: position w * width + t of round r
    bn = (an + rng.integers(1, m, an.shape)) % m
    step_major = np.stack([an.transpose(1, 0, 2), bn.transpose(1, 0, 2)], 1).astype(np.uint8)  # [t, side, w, r]
    dest, bounds, played = schedule_block(step_major, m)
    # battle i (in (t, w, r) order) sits at dest[i]; position in its round is w * width + t
    t, w, r = np.meshgrid(np.arange(width), np.arange(n_win), np.arange(rounds), indexing="ij")
    pos, rnd = (w * width + t).ravel(), r.ravel()
    ma, mb = an.transpose(1, 0, 2).ravel(), bn.transpose(1, 0, 2).ravel()
    assert sorted(dest) == list(range(len(dest))) and bounds[0] == 0 and bounds[-1] == len(dest)
    layer_of = np.searchsorted(bounds, dest, side="right") - 1
    for layer in range(len(bounds) - 1):
        here = layer_of == layer
        used = list(zip(rnd[here], ma[here])) + list(zip(rnd[here], mb[here]))
        assert len(set(used)) == len(used)
    for round_ in range(rounds):
        for model in range(m):
            hits = np.flatnonzero((rnd == round_) & ((ma == model) | (mb == model)))
            hits = hits[np.argsort(pos[hits])]
            assert (np.diff(layer_of[hits]) > 0).all()
            assert played[round_, model] == (len(hits) > 0)
    # windows of a round follow each other, rounds do not wait for each other: the layer count is the
    # deepest round's sum of its windows' as-soon-as-possible depths (computed here one battle at a time)
    def window_depth(seq_a, seq_b):  # type: ignore[no-untyped-def]
        last, deepest = [0] * m, 0
        for x, y in zip(seq_a, seq_b):
            last[x] = last[y] = max(last[x], last[y]) + 1
            deepest = max(deepest, last[x])
        return deepest

    per_round = [sum(window_depth(an[i, :, j], bn[i, :, j]) for i in range(n_win)) for j in range(rounds)]
    assert len(bounds) - 1 == max(per_round)
