"""Style-controlled bootstrap: batched chord refits against per-round textbook fits of the same resamples."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from arena.rating.style import style_control


def styled_arrays(n: int, m: int, seed: int) -> tuple[np.ndarray, ...]:
    """Battles whose outcome depends on strengths and two style features; weights 1 or 2."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    x = rng.normal(size=(n, 2))
    theta = rng.normal(0, 0.5, m)
    z = theta[a] - theta[b] + x @ np.array([0.6, -0.3])
    u = rng.random(n)
    s = np.where(u < 0.15, 0.5, (u < 0.15 + 0.85 / (1 + np.exp(-z))).astype(float))
    w = rng.choice([1.0, 2.0], n)
    return a, b, x, s, w


def textbook_fit(a, b, x, s, w, m):  # type: ignore[no-untyped-def]
    """Weighted per-battle contextual BT from the definitions, model 0 pinned at 0, then centred."""

    def loss(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta, beta = np.r_[0.0, free[: m - 1]], free[m - 1 :]
        z = theta[a] - theta[b] + x @ beta
        p = 1 / (1 + np.exp(-z))
        g = w * (p - s)
        value = -np.sum(w * (s * np.log(p) + (1 - s) * np.log(1 - p)))
        grad_t = np.bincount(a, g, m) - np.bincount(b, g, m)
        return float(value), np.r_[grad_t[1:], x.T @ g]

    res = minimize(loss, np.zeros(m - 1 + x.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-10})
    theta = np.r_[0.0, res.x[: m - 1]]
    return np.r_[theta - theta.mean(), res.x[m - 1 :]]


def test_batched_style_refits_equal_textbook_fits_of_the_same_resamples() -> None:
    a, b, x, s, w = styled_arrays(600, 5, 1)
    fit = style_control(a, b, x, ["f1", "f2"], s, w, 5, n_rounds=12, seed=3, prior_weight=0.01)
    np.testing.assert_allclose(fit.draws[:, :5].sum(axis=1), 0, atol=1e-9)
    rng = np.random.default_rng(3)  # the documented stream: one draw of N battle indices per round
    for r in range(12):
        k = np.bincount(rng.integers(0, len(a), len(a)), minlength=len(a))
        used = k > 0
        ref = textbook_fit(a[used], b[used], x[used], s[used], w[used] * k[used], 5)
        np.testing.assert_allclose(fit.draws[r], ref, atol=2e-6)
    point = textbook_fit(a, b, x, s, w, 5)
    np.testing.assert_allclose(np.r_[fit.theta, fit.beta], point, atol=2e-6)


def test_rounds_without_a_rare_model_fall_back_and_leave_it_unrated() -> None:
    a, b, x, s, w = styled_arrays(500, 4, 2)
    a, b = np.r_[a, 4, 4], np.r_[b, 0, 1]  # model 4 plays twice: absent or one-sided in most rounds
    x, s, w = np.vstack([x, [[0.1, 0.2], [0.0, -0.1]]]), np.r_[s, 1.0, 0.0], np.r_[w, 1.0, 1.0]
    fit = style_control(a, b, x, ["f1", "f2"], s, w, 5, n_rounds=40, seed=0, prior_weight=0.01)
    rng = np.random.default_rng(0)
    for r in range(40):
        k = np.bincount(rng.integers(0, len(a), len(a)), minlength=len(a))
        assert np.isnan(fit.draws[r, 4]) == (k[-2:].sum() == 0)
        assert np.isfinite(fit.draws[r, :4]).all() and np.isfinite(fit.draws[r, 5:]).all()
