"""Bootstrap refits on a sparse many-model comparison graph against scipy maximum likelihood per round."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

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


def scipy_mle(pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray, m: int) -> np.ndarray:
    """Textbook BT maximum likelihood on pair totals: Newton-CG with the exact Hessian-vector product."""

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[pi] - theta[pj]
        loss = np.sum(s * np.logaddexp(0, -d) + (n - s) * np.logaddexp(0, d))
        g = n / (1 + np.exp(-d)) - s
        return float(loss), np.bincount(pi, g, m) - np.bincount(pj, g, m)

    def hessp(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(theta[pi] - theta[pj])))
        h = n * p * (1 - p) * (v[pi] - v[pj])
        return np.bincount(pi, h, m) - np.bincount(pj, h, m) + v.mean()  # the mean pins the common shift

    res = minimize(fun, np.zeros(m), jac=True, hessp=hessp, method="Newton-CG", options={"xtol": 1e-13})
    return res.x - res.x.mean()


def test_sparse_thousand_pair_graph_refits_equal_scipy_mle_per_round() -> None:
    battles = sparse_arena(300, 4, 12, seed=0)  # 300 models, 1,200 of 44,850 possible pairs
    counts = aggregate(battles)
    m = counts.n_models
    s, n = counts.pair_stats()
    theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, m)
    np.testing.assert_allclose(theta - theta.mean(), scipy_mle(counts.pair_i, counts.pair_j, s, n, m), atol=1e-8)
    draws = bootstrap_bt(counts, theta, 6, seed=2, prior_weight=0.01)
    resampled = np.vstack(list(resample_counts(counts, 6, seed=2)))
    for r in range(6):
        if draws.prior_rounds[r] or not draws.active[r].all():
            continue
        s_r, n_r = counts.pair_stats(resampled[r])
        ref = scipy_mle(counts.pair_i, counts.pair_j, s_r, n_r, m)
        got = draws.theta[r] - draws.theta[r].mean()
        assert np.max(np.abs(got - ref)) * FACTOR < 1e-6  # rating points
