"""The point fit (dense Newton on pair counts) against L-BFGS and a per-battle textbook fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from arena.rating.bt import fit_lbfgs, fit_point

POINTS = 400 / np.log(10)  # rating points per natural unit


def random_battles(seed: int, n_models: int, n_battles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Battles (a, b, score of a, weight) with ties and uneven weights."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p = expit(strength[a] - strength[b])
    u = rng.random(n_battles)
    score = np.where(u < 0.1, 0.5, (u < 0.1 + 0.9 * p).astype(float))
    weight = rng.choice([0.5, 1.0, 2.0, 3.5], n_battles)
    return a, b, score, weight


def pair_stats(a, b, score, weight):
    """Pair statistics (i < j; weighted score of i, total weight), summed with a dict (not counts.py)."""
    acc: dict[tuple[int, int], list[float]] = {}
    for x, y, sc, w in zip(a.tolist(), b.tolist(), score.tolist(), weight.tolist()):
        i, j, s_i = (x, y, sc) if x < y else (y, x, 1.0 - sc)
        cell = acc.setdefault((i, j), [0.0, 0.0])
        cell[0] += w * s_i
        cell[1] += w
    keys = sorted(acc)
    pi = np.array([k[0] for k in keys])
    pj = np.array([k[1] for k in keys])
    return pi, pj, np.array([acc[k][0] for k in keys]), np.array([acc[k][1] for k in keys])


def textbook(a, b, score, weight, n_models: int, alpha: float) -> np.ndarray:
    """Per-battle weighted log-likelihood plus alpha virtual ties against 0, minimised by BFGS."""
    total = weight.sum()

    def loss_grad(t):
        d = t[a] - t[b]
        loss = -np.sum(weight * (score * log_expit(d) + (1 - score) * log_expit(-d)))
        g = weight * (expit(d) - score)
        grad = np.zeros(n_models)
        np.add.at(grad, a, g)
        np.add.at(grad, b, -g)
        loss -= alpha * np.sum(0.5 * log_expit(t) + 0.5 * log_expit(-t))
        grad += alpha * (expit(t) - 0.5)
        return loss / total, grad / total

    t = minimize(loss_grad, np.zeros(n_models), jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 5000}).x
    return t if alpha > 0 else t - t.mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_newton_equals_lbfgs_and_textbook(seed: int) -> None:
    a, b, score, weight = random_battles(seed, 12, 600)
    pi, pj, s, n = pair_stats(a, b, score, weight)
    theta = fit_point(pi, pj, s, n, 12)
    assert abs(theta.mean()) < 1e-12  # centred without the prior, as fit_lbfgs centres
    np.testing.assert_allclose(theta * POINTS, fit_lbfgs(pi, pj, s, n, 12) * POINTS, atol=1e-6, rtol=0)
    np.testing.assert_allclose(theta * POINTS, textbook(a, b, score, weight, 12, 0.0) * POINTS, atol=1e-4, rtol=0)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_undefeated_model_with_prior(alpha: float) -> None:
    a, b, score, weight = random_battles(7, 8, 400)
    champion = 3  # wins every battle it is in: no finite maximum likelihood without the prior
    score = np.where(a == champion, 1.0, np.where(b == champion, 0.0, score))
    pi, pj, s, n = pair_stats(a, b, score, weight)
    theta = fit_point(pi, pj, s, n, 8, alpha)
    assert np.argmax(theta) == champion and np.isfinite(theta).all()
    np.testing.assert_allclose(theta * POINTS, fit_lbfgs(pi, pj, s, n, 8, alpha) * POINTS, atol=1e-6, rtol=0)
    np.testing.assert_allclose(theta * POINTS, textbook(a, b, score, weight, 8, alpha) * POINTS, atol=1e-4, rtol=0)


def test_two_groups_that_never_met_with_prior() -> None:
    a1, b1, s1, w1 = random_battles(3, 4, 200)
    a2, b2, s2, w2 = random_battles(4, 4, 200)
    a, b = np.r_[a1, a2 + 4], np.r_[b1, b2 + 4]
    score, weight = np.r_[s1, s2], np.r_[w1, w2]
    pi, pj, s, n = pair_stats(a, b, score, weight)
    theta = fit_point(pi, pj, s, n, 8, 1.0)
    np.testing.assert_allclose(theta * POINTS, fit_lbfgs(pi, pj, s, n, 8, 1.0) * POINTS, atol=1e-6, rtol=0)
    np.testing.assert_allclose(theta * POINTS, textbook(a, b, score, weight, 8, 1.0) * POINTS, atol=1e-4, rtol=0)


def test_two_models_closed_form() -> None:
    # 7 of 10 weight to model 0: theta_0 - theta_1 = logit(0.7)
    theta = fit_point(np.array([0]), np.array([1]), np.array([7.0]), np.array([10.0]), 2)
    assert theta[0] - theta[1] == pytest.approx(np.log(0.7 / 0.3), abs=1e-10)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)


def test_batched_newton_in_chunks_gives_each_round_the_same_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """newton_batch holds (rounds, M, M) Hessians, so it fits a few rounds at a time (1000 models: 8 of them
    in 64 MB); the chunks do not change any round's fit, and each matches L-BFGS."""
    from arena.rating import bt

    rng = np.random.default_rng(4)
    m, pairs = 7, [(i, j) for i in range(7) for j in range(i + 1, 7)]
    pi, pj = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    n = rng.integers(2, 9, (11, len(pairs))).astype(float)
    s = np.floor(n * rng.uniform(0.2, 0.8, n.shape))
    start = np.zeros((11, m))
    whole, ok_whole = bt.newton_batch(pi, pj, s, n, start, np.zeros(11))
    monkeypatch.setattr(bt, "_HESSIAN_CELLS", 3 * m * m)  # chunks of 3 rounds
    sizes, inner = [], bt.newton_batch

    def counted(pi: np.ndarray, pj: np.ndarray, s: np.ndarray, *rest: object, **kw: object) -> tuple:
        sizes.append(len(s))
        return inner(pi, pj, s, *rest, **kw)

    monkeypatch.setattr(bt, "newton_batch", counted)
    chunked, ok_chunked = bt.newton_batch(pi, pj, s, n, start, np.zeros(11))
    assert sizes == [11, 3, 3, 3, 2]
    assert ok_whole.all() and ok_chunked.all()
    np.testing.assert_allclose(chunked, whole, atol=1e-12)
    for b in (0, 5, 10):
        ref = fit_lbfgs(pi, pj, s[b], n[b], m, 0.0)
        np.testing.assert_allclose(chunked[b] - chunked[b].mean(), ref - ref.mean(), atol=1e-5)
