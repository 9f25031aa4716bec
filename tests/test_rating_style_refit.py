"""Style-controlled bootstrap: batched Newton refits against exact per-round fits of the same resamples."""

from __future__ import annotations

import math
import re

import numpy as np
from scipy.optimize import minimize
from scipy.stats import binom, chisquare

from arena.rating.style import round_multiplicities, style_control
from arena.rating.style_refit import (
    draw_battles,
    full_inverse,
    gradient_hessian,
    newton_fit,
    refit_rounds,
    style_layout,
)

POINT = 400 / math.log(10)  # rating points per natural unit
EXACT = 1e-6 / POINT  # the promised agreement: 1e-6 rating points


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
    """Weighted per-battle contextual BT from the definitions: a dense design with model 0 pinned at 0,
    BFGS to get close, then plain Newton steps on the dense Hessian to machine precision; centred."""
    design = np.zeros((len(a), m + x.shape[1]))
    design[np.arange(len(a)), a] += 1.0
    design[np.arange(len(a)), b] -= 1.0
    design[:, m:] = x
    design = design[:, 1:]

    def loss(free: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ free
        p = 1 / (1 + np.exp(-z))
        value = -np.sum(w * (s * np.log(p) + (1 - s) * np.log(1 - p)))
        return float(value), design.T @ (w * (p - s))

    free = minimize(loss, np.zeros(design.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-8}).x
    for _ in range(20):
        p = 1 / (1 + np.exp(-(design @ free)))
        hess = design.T @ (design * (w * p * (1 - p))[:, None])
        step = np.linalg.solve(hess, design.T @ (w * (p - s)))
        free -= step
        if np.max(np.abs(step)) < 1e-14:
            break
    theta = np.r_[0.0, free[: m - 1]]
    return np.r_[theta - theta.mean(), free[m - 1 :]]


def original_order(k_sorted: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Multiplicities of the battles in their given order, from the layout's sorted order."""
    k = np.empty_like(k_sorted)
    k[order] = k_sorted
    return k


def test_batched_style_refits_equal_exact_fits_of_the_same_resamples() -> None:
    a, b, x, s, w = styled_arrays(600, 5, 1)
    fit = style_control(a, b, x, ["f1", "f2"], s, w, 5, n_rounds=12, seed=3, prior_weight=0.01)
    np.testing.assert_allclose(fit.draws[:, :5].sum(axis=1), 0, atol=1e-9)
    order = style_layout(a, b, x, s, w, 5).order
    rng = np.random.default_rng(3)  # the documented stream: round_multiplicities, one round after another
    for r in range(12):
        k = original_order(round_multiplicities(rng, len(a), None), order)
        assert k.sum() == len(a)
        used = k > 0
        ref = textbook_fit(a[used], b[used], x[used], s[used], w[used] * k[used], 5)
        np.testing.assert_allclose(fit.draws[r], ref, atol=EXACT, rtol=0)
    point = textbook_fit(a, b, x, s, w, 5)
    np.testing.assert_allclose(np.r_[fit.theta, fit.beta], point, atol=EXACT, rtol=0)


def test_question_bootstrap_refits_equal_exact_fits() -> None:
    a, b, x, s, w = styled_arrays(500, 4, 5)
    clusters = np.arange(500) % 60
    fit = style_control(a, b, x, ["f1", "f2"], s, w, 4, n_rounds=6, seed=2, prior_weight=0.01, clusters=clusters)
    order = style_layout(a, b, x, s, w, 4).order
    rng = np.random.default_rng(2)
    for r in range(6):
        k = original_order(round_multiplicities(rng, len(a), clusters[order]), order)
        assert (k == k[np.argsort(clusters)][np.searchsorted(np.sort(clusters), clusters)]).all()
        used = k > 0
        ref = textbook_fit(a[used], b[used], x[used], s[used], w[used] * k[used], 4)
        np.testing.assert_allclose(fit.draws[r], ref, atol=EXACT, rtol=0)


def test_refits_with_the_full_hessian_for_many_models_equal_exact_fits() -> None:
    """The path for many models steps with the full data's inverse Hessian: more passes, same answers."""
    a, b, x, s, w = styled_arrays(20_000, 6, 7)
    lay = style_layout(a, b, x, s, w, 6)
    params = newton_fit(lay, 15.0)
    _, hess, p_full = gradient_hessian(lay, params)
    rng = np.random.default_rng(0)
    ks = np.vstack([draw_battles(rng, len(a)) for _ in range(5)])
    got, converged, passes = refit_rounds(lay, ks, params, hess, p_full, full_inverse(lay, hess))
    own, own_converged, own_passes = refit_rounds(lay, ks, params, hess, p_full)
    assert converged.all() and own_converged.all()
    assert own_passes.mean() <= passes.mean()
    for r in range(3):
        k = original_order(ks[r], lay.order)
        used = k > 0
        ref = textbook_fit(a[used], b[used], x[used], s[used], w[used] * k[used], 6)
        np.testing.assert_allclose(got[r], ref, atol=EXACT, rtol=0)
        np.testing.assert_allclose(own[r], ref, atol=EXACT, rtol=0)


def test_two_stage_draw_is_resampling_with_replacement() -> None:
    """Counts over 150,000 battles (three blocks, the last one partial) follow the multinomial: each count
    is Binomial(n, 1/n), every block (the partial one too) gets its share, and every round draws n."""
    n, rounds = 150_000, 12
    rng = np.random.default_rng(9)
    ks = np.vstack([draw_battles(rng, n) for _ in range(rounds)]).astype(int)
    assert (ks.sum(axis=1) == n).all()
    values = np.bincount(ks.ravel(), minlength=7)
    expected = binom.pmf(np.arange(7), n, 1 / n) * ks.size
    observed = np.r_[values[:6], values[6:].sum()]
    expected = np.r_[expected[:6], ks.size - expected[:6].sum()]
    assert chisquare(observed, expected).pvalue > 1e-3
    for lo, hi in ((0, 65_536), (65_536, 131_072), (131_072, n)):
        share = ks[:, lo:hi].sum() / (rounds * n)
        sd = math.sqrt((hi - lo) / n * (1 - (hi - lo) / n) / (rounds * n))
        assert abs(share - (hi - lo) / n) < 5 * sd


def test_rounds_without_a_rare_model_fall_back_and_leave_it_unrated() -> None:
    a, b, x, s, w = styled_arrays(500, 4, 2)
    a, b = np.r_[a, 4, 4], np.r_[b, 0, 1]  # model 4 plays twice: absent or one-sided in most rounds
    x, s, w = np.vstack([x, [[0.1, 0.2], [0.0, -0.1]]]), np.r_[s, 1.0, 0.0], np.r_[w, 1.0, 1.0]
    fit = style_control(a, b, x, ["f1", "f2"], s, w, 5, n_rounds=40, seed=0, prior_weight=0.01)
    order = style_layout(a, b, x, s, w, 5).order
    rng = np.random.default_rng(0)
    for r in range(40):
        k = original_order(round_multiplicities(rng, len(a), None), order)
        assert np.isnan(fit.draws[r, 4]) == (k[-2:].sum() == 0)
        assert np.isfinite(fit.draws[r, :4]).all() and np.isfinite(fit.draws[r, 5:]).all()


def test_a_feature_that_does_not_vary_is_named_plainly() -> None:
    import pandas as pd

    from arena.rating.style import style_features

    battles = pd.DataFrame({"len_a": [10.0, 30.0, 20.0], "len_b": [20.0, 10.0, 40.0], "header_a": [1.0, 0, 2],
                            "header_b": [0.0, 1, 0], "bold_a": [0.0, 0, 0], "bold_b": [0.0, 0, 0]})
    _, names, warnings = style_features(battles)
    assert names == ["length", "header_density"]
    assert warnings == ["style feature 'bold_density' does not vary and was left out"]


def textbook_vif(a, b, x, w, m, k):  # type: ignore[no-untyped-def]
    """1 / (1 - R^2) of weighted least squares of feature k on a dense design: the model indicators (+1 for
    model_a, -1 for model_b, model 0's column left out) and the other features, no intercept."""
    design = np.zeros((len(a), m))
    design[np.arange(len(a)), a] += 1.0
    design[np.arange(len(a)), b] -= 1.0
    design = np.column_stack([design[:, 1:], np.delete(x, k, axis=1)])
    root = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * root[:, None], x[:, k] * root, rcond=None)
    rest = x[:, k] - design @ coef
    return float((w * x[:, k] ** 2).sum() / (w * rest**2).sum())


def test_feature_variance_inflation_matches_a_dense_regression() -> None:
    from arena.rating.style import feature_vifs

    a, b, x, _, w, = styled_arrays(500, 5, 3)
    # the second feature partly follows the models' own habits, the third copies them almost exactly
    habit = np.random.default_rng(1).normal(size=5)
    x = np.column_stack([x[:, 0], 0.5 * x[:, 1] + habit[a] - habit[b],
                         habit[a] - habit[b] + 0.01 * np.random.default_rng(2).normal(size=len(a))])
    got = feature_vifs(a, b, x, w, 5)
    want = [textbook_vif(a, b, x, w, 5, k) for k in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-7)
    assert got[0] < 1.2 and got[2] > 1000  # an independent feature and a copy of who plays


def test_a_style_feature_fixed_by_the_models_is_named_and_a_varied_one_is_not() -> None:
    import pandas as pd

    from arena.rating import RatingOptions, rate_battles, validate_battles

    rng = np.random.default_rng(4)
    n, models = 400, np.array(["m0", "m1", "m2", "m3"])
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    lists = np.array([0.0, 2.0, 5.0, 9.0])  # each model writes the same number of list items every time
    battles = pd.DataFrame({"model_a": models[a], "model_b": models[b],
                            "winner": rng.choice(["model_a", "model_b", "tie"], n),
                            "len_a": rng.integers(50, 400, n).astype(float),
                            "len_b": rng.integers(50, 400, n).astype(float)})
    battles["list_a"], battles["list_b"] = lists[a] * battles["len_a"] / 100, lists[b] * battles["len_b"] / 100
    text = " ".join(rate_battles(validate_battles(battles), RatingOptions(bootstrap=0, style_control=True)).warnings)
    assert re.search(r"style feature 'list_density' is 9\d\.\d% determined by which models play", text)
    assert "'length' is" not in text  # lengths vary within each model
    battles["list_a"], battles["list_b"] = rng.integers(0, 9, n).astype(float), rng.integers(0, 9, n).astype(float)
    assert "determined by which models play" not in " ".join(
        rate_battles(validate_battles(battles), RatingOptions(bootstrap=0, style_control=True)).warnings)
