"""Bootstrap refits on sparse many-model comparison graphs against a textbook Newton fit of each round."""

from __future__ import annotations

import numpy as np
import pytest

from arena.rating.bootstrap import bootstrap_bt, resample_counts
from arena.rating.bt import fit_lbfgs
from arena.rating.counts import aggregate

FACTOR = 400 / np.log(10)


def sparse_arena(m: int, opponents: int, per_pair: int, seed: int):  # type: ignore[no-untyped-def]
    """Battles on a sparse graph: each model meets `opponents` neighbours on a ring, per_pair times."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1.0, m)
    a = np.repeat(np.arange(m), opponents * per_pair)
    b = (a + np.tile(np.repeat(np.arange(1, opponents + 1), per_pair), m)) % m
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    u = rng.random(len(a))
    score = np.where(u < 0.2, 0.5, (u < 0.2 + 0.8 * p).astype(float))
    names = np.array([f"m{k:04d}" for k in range(m)], dtype=object)
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "score": score, "weight": 1.0})


def textbook_mle(
    pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray, m: int, alpha: float = 0.0
) -> np.ndarray:
    """Textbook BT maximum likelihood on pair totals (plus alpha virtual ties of every model against a
    player of strength 0): damped Newton with the dense Hessian, from zero, to steps below 1e-13."""

    def loss(theta: np.ndarray) -> float:
        d = theta[pi] - theta[pj]
        prior = alpha * np.sum(0.5 * np.logaddexp(0, -theta) + 0.5 * np.logaddexp(0, theta))
        return float(np.sum(s * np.logaddexp(0, -d) + (n - s) * np.logaddexp(0, d)) + prior)

    theta = np.zeros(m)
    for _ in range(200):
        p = 1 / (1 + np.exp(-(theta[pi] - theta[pj])))
        q = 1 / (1 + np.exp(-theta))
        g = n * p - s
        grad = np.bincount(pi, g, m) - np.bincount(pj, g, m) + alpha * (q - 0.5)
        h = n * p * (1 - p)
        hess = np.zeros((m, m))
        np.add.at(hess, (pi, pj), -h)
        np.add.at(hess, (pj, pi), -h)
        hess[np.diag_indices(m)] = np.bincount(pi, h, m) + np.bincount(pj, h, m) + alpha * q * (1 - q)
        if alpha == 0:
            hess += 1.0 / m  # the common shift is free: pin it (the gradient has no shift component)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while loss(theta - t * step) > loss(theta) + 1e-12 * abs(loss(theta)) and t > 1e-6:
            t /= 2
        theta = theta - t * step
        if np.max(np.abs(t * step)) < 1e-13:
            break
    return theta - theta.mean()


def test_sparse_thousand_pair_graph_refits_equal_textbook_mle_per_round() -> None:
    battles = sparse_arena(150, 4, 12, seed=0)  # 150 models, 600 of 11,175 possible pairs
    counts = aggregate(battles)
    m = counts.n_models
    s, n = counts.pair_stats()
    theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, m)
    np.testing.assert_allclose(theta - theta.mean(), textbook_mle(counts.pair_i, counts.pair_j, s, n, m), atol=1e-8)
    draws = bootstrap_bt(counts, theta, 4, seed=2, prior_weight=0.01)
    resampled = np.vstack(list(resample_counts(counts, 4, seed=2)))
    for r in range(4):
        if draws.prior_rounds[r] or not draws.active[r].all():
            continue
        s_r, n_r = counts.pair_stats(resampled[r])
        ref = textbook_mle(counts.pair_i, counts.pair_j, s_r, n_r, m)
        got = draws.theta[r] - draws.theta[r].mean()
        assert np.max(np.abs(got - ref)) * FACTOR < 1e-6  # rating points


def test_thin_graph_rounds_far_from_the_full_hessian_and_prior_rounds_equal_textbook_mle() -> None:
    # four battles per pair: resample Hessians differ so much from the full-data one that chord steps stall,
    # and some model often only wins or only loses in a round (the weak prior): batched Newton-CG takes both
    battles = sparse_arena(120, 3, 4, seed=1)
    counts = aggregate(battles)
    m = counts.n_models
    s, n = counts.pair_stats()
    theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, m)
    # a seed whose 8 rounds mix both kinds (3 of 8 need the prior with this draw)
    draws = bootstrap_bt(counts, theta, 8, seed=1, prior_weight=0.01)
    resampled = np.vstack(list(resample_counts(counts, 8, seed=1)))
    assert draws.prior_rounds.any() and not draws.prior_rounds.all()
    for r in np.flatnonzero(draws.active.all(axis=1)):
        s_r, n_r = counts.pair_stats(resampled[r])
        ref = textbook_mle(counts.pair_i, counts.pair_j, s_r, n_r, m, 0.01 if draws.prior_rounds[r] else 0.0)
        got = draws.theta[r] - draws.theta[r].mean()
        assert np.max(np.abs(got - ref)) * FACTOR < 1e-6


def test_prior_fit_reaches_the_textbook_optimum() -> None:
    # a resample in which a model only won: no finite maximum, so the weak prior holds it; the fit used to
    # stop up to 3 rating points short (a rank-one pin turned its Newton polish into a slow chord iteration)
    battles = sparse_arena(200, 3, 4, seed=1)
    counts = aggregate(battles)
    s_r, n_r = counts.pair_stats(np.vstack(list(resample_counts(counts, 8, seed=5)))[6])
    ref = textbook_mle(counts.pair_i, counts.pair_j, s_r, n_r, counts.n_models, 0.01)
    got = fit_lbfgs(counts.pair_i, counts.pair_j, s_r, n_r, counts.n_models, 0.01)
    assert np.max(np.abs(got - got.mean() - ref)) * FACTOR < 1e-6


def complete_arena(  # type: ignore[no-untyped-def]
    m: int, per_pair: int, seed: int, weights: tuple[float, ...] = (1.0,)
):
    """Battles on a complete graph (every pair meets per_pair times, random sides, 25% ties)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.8, m)
    i, j = np.triu_indices(m, 1)
    a, b = np.repeat(i, per_pair), np.repeat(j, per_pair)
    flip = rng.random(len(a)) < 0.5
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    u = rng.random(len(a))
    score = np.where(u < 0.25, 0.5, (u < 0.25 + 0.75 * p).astype(float))
    names = np.array([f"m{k:04d}" for k in range(m)], dtype=object)
    weight = rng.choice(np.array(weights), len(a))
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "score": score, "weight": weight})


def test_dense_graph_refits_equal_textbook_mle_per_round() -> None:
    # every pair met: the rounds are refitted on dense pair-total matrices filled in the drawing threads
    from arena.rating.bootstrap import Refits

    for weights in ((1.0,), (0.5, 1.0, 2.0)):  # unit weights, and weighted battles
        counts = aggregate(complete_arena(40, 3, seed=3, weights=weights))
        m = counts.n_models
        s, n = counts.pair_stats()
        theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, m)
        assert Refits.prepare(counts, theta, 0.01).dense is not None
        draws = bootstrap_bt(counts, theta, 6, seed=4, prior_weight=0.01)
        resampled = np.vstack(list(resample_counts(counts, 6, seed=4)))
        checked = 0
        for r in range(6):
            s_r, n_r = counts.pair_stats(resampled[r])
            alpha = 0.01 if draws.prior_rounds[r] else 0.0
            ref = textbook_mle(counts.pair_i, counts.pair_j, s_r, n_r, m, alpha)
            got = draws.theta[r] - draws.theta[r].mean()
            assert np.max(np.abs(got - ref)) * FACTOR < 1e-6
            checked += not draws.prior_rounds[r]
        assert checked >= 4  # most rounds went through the dense chord refit


@pytest.mark.parametrize("dense_share", [None, 0.0])
def test_rounds_with_absent_models_and_prior_rounds_on_a_sparse_graph_equal_textbook_mle(
    dense_share: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds in which some models did not play (and rounds that need the prior) are refitted by Newton-CG with
    each round's own Hessian diagonal as preconditioner on a sparse graph (or, with the dense share set to 0,
    with the full-data inverse Hessian); every round's active models must match a textbook fit of that round's
    battles."""
    import pandas as pd

    from arena.rating import bootstrap

    if dense_share is not None:
        monkeypatch.setattr(bootstrap, "_DENSE_SHARE", dense_share)

    base = sparse_arena(120, 4, 3, seed=4)  # 120 models, 480 of 7,140 possible pairs: below the dense share
    rng = np.random.default_rng(5)
    rows = []
    for k in range(12):  # newcomers with two battles each: often absent; two of them often one-sided (prior)
        rivals = rng.choice(120, 2, replace=False)
        first, second = (1.0, 0.0) if k < 2 else (0.5, 0.5)
        rows += [(f"new{k:02d}", f"m{rivals[0]:04d}", first), (f"new{k:02d}", f"m{rivals[1]:04d}", second)]
    extra = pd.DataFrame(rows, columns=["model_a", "model_b", "score"]).assign(weight=1.0)
    counts = aggregate(pd.concat([base, extra], ignore_index=True))
    m, pi, pj = counts.n_models, counts.pair_i, counts.pair_j
    s, n = counts.pair_stats()
    theta = fit_lbfgs(pi, pj, s, n, m)
    rounds = 30
    draws = bootstrap_bt(counts, theta, rounds, seed=6, prior_weight=0.01)
    resampled = np.vstack(list(resample_counts(counts, rounds, seed=6)))
    absent = prior = 0  # rounds with a model absent and no prior; rounds with the prior
    for r in range(rounds):
        s_r, n_r = counts.pair_stats(resampled[r])
        played = (np.bincount(pi, n_r, m) + np.bincount(pj, n_r, m)) > 0
        assert (draws.active[r] == played).all()
        absent += int(not played.all() and not draws.prior_rounds[r])
        prior += int(draws.prior_rounds[r])
        if draws.prior_rounds[r]:
            ref = textbook_mle(pi, pj, s_r, n_r, m, alpha=0.01)[played]
        else:  # no prior: the textbook fit of the models that played, on their own pairs
            keep = played[pi] & played[pj]
            index = np.cumsum(played) - 1
            ref = textbook_mle(index[pi[keep]], index[pj[keep]], s_r[keep], n_r[keep], int(played.sum()))
        got = draws.theta[r][played]
        assert np.max(np.abs((got - got.mean()) - (ref - ref.mean()))) * FACTOR < 1e-6  # rating points
    assert absent >= 3 and prior >= 3  # both kinds of round were checked
