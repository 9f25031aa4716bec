"""AlpacaEval's length-controlled GLM (arena.interop.lc_glm) against answers obtained other ways: a closed form,
a brute-force optimiser, the KKT conditions, hand-derived folds and (when installed) sklearn's liblinear/CV,
the library AlpacaEval itself calls."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logit

from arena.interop.lc_glm import (
    CS,
    GAMED_LAMBDA,
    choose_C,
    design,
    fit_l1_logistic,
    fit_lc,
    fold_of_rows,
    std_delta_len,
)


def _dozen(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twelve model rows: lengths, difficulties and soft preferences (hand-sized, reproducible)."""
    rng = np.random.default_rng(seed)
    len_base = rng.integers(200, 1200, 12).astype(float)
    len_model = len_base + rng.normal(150, 300, 12).round()
    difficulty = rng.normal(0, 1, 12)
    x = design(len_base, len_model, difficulty, True)
    p = expit(-0.5 - 1.2 * x[:, 0] + 0.8 * difficulty + rng.normal(0, 0.4, 12))
    return x, p, difficulty


def _objective(beta: np.ndarray, x: np.ndarray, p: np.ndarray, w: np.ndarray, c: float) -> float:
    """The textbook L1 problem: |beta|_1 + C * sum w * soft log loss."""
    q = expit(x @ beta)
    return float(np.abs(beta).sum() + c * np.sum(-w * (p * np.log(q) + (1 - p) * np.log(1 - q))))


def test_std_delta_len_is_baseline_minus_model_over_sample_sd():
    d = np.array([100.0, -50.0, 20.0]) - np.array([40.0, 10.0, 20.0])
    assert np.allclose(std_delta_len([100, -50, 20], [40, 10, 20]), d / np.sqrt(np.sum((d - d.mean()) ** 2) / 2))
    assert np.all(std_delta_len([5, 5], [5, 5]) == 0)


def test_closed_form_when_only_the_model_term_varies():
    # equal lengths and zero difficulty: sum_i w (p_i - sigmoid(b)) = 1 / C at the optimum, so
    # sigmoid(b) = mean(p) - 1 / (C n) (mean(p) > 0.5): the LC is that value x100 at every instruction
    p = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.85, 0.75, 0.9, 0.65, 0.8, 0.7, 0.99])
    x = design(np.full(12, 300.0), np.full(12, 300.0), np.zeros(12), True)
    for c in (0.5, 3.0, 100.0):
        beta = fit_l1_logistic(x, p, np.ones(12), c)
        assert beta[2] == pytest.approx(logit(p.mean() - 1 / (c * 12)), abs=1e-9)
        assert beta[0] == 0 and beta[1] == 0
        res = fit_lc(x, p, C=c)
        assert res.lc_win_rate == pytest.approx((p.mean() - 1 / (c * 12)) * 100, abs=1e-7)
        assert res.lc_standard_error == pytest.approx(0.0, abs=1e-9)
    assert np.all(fit_l1_logistic(x, p, np.ones(12), 0.01) == 0)  # 1/C beyond the largest gradient: all zero


def test_dozen_rows_match_a_brute_force_optimiser_and_kkt():
    x, p, _ = _dozen()
    w = np.r_[np.full(6, 1.0), np.full(6, 0.4)]
    for c in (0.3, 2.0, 50.0):
        beta = fit_l1_logistic(x, p, w, c)
        best = min((minimize(_objective, s, args=(x, p, w, c), method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 40000}) for s in
                    (np.zeros(3), np.ones(3), -np.ones(3), beta + 0.3)), key=lambda r: r.fun)
        assert _objective(beta, x, p, w, c) <= best.fun + 1e-9
        assert np.allclose(beta, best.x, atol=1e-4)
        grad = c * x.T @ (w * (p - expit(x @ beta)))  # KKT: = sign(beta) where nonzero, |.| <= 1 at zero
        nz = beta != 0
        assert np.allclose(grad[nz], np.sign(beta[nz]), atol=1e-7)
        assert np.all(np.abs(grad[~nz]) <= 1 + 1e-7)


def test_folds_are_groupkfold_round_robin_from_the_last_row():
    assert fold_of_rows(7).tolist() == [1, 0, 4, 3, 2, 1, 0]
    sk = pytest.importorskip("sklearn.model_selection")
    n = 23
    folds = np.empty(n, int)
    for f, (_, test) in enumerate(sk.GroupKFold(n_splits=5).split(np.zeros((2 * n, 1)), groups=np.r_[
            np.arange(n), np.arange(n)])):
        folds[np.unique(test % n)] = f
    assert folds.tolist() == fold_of_rows(n).tolist()


def test_choose_c_is_the_lowest_summed_fold_loss():
    x, p, _ = _dozen(seed=5)
    x, p = np.vstack([x, x * 0.5]), np.r_[p, 1 - p * 0.5]
    w = np.ones(len(p))
    folds = fold_of_rows(len(p))
    losses = []
    for c in CS:  # brute force, written out: fit on four folds, mean weighted log loss on the fifth
        total = 0.0
        for f in range(5):
            b = fit_l1_logistic(x[folds != f], p[folds != f], w[folds != f], c)
            q = expit(x[folds == f] @ b)
            total += -np.mean(p[folds == f] * np.log(q) + (1 - p[folds == f]) * np.log(1 - q))
        losses.append(total)
    assert choose_C(x, p, w) == CS[int(np.argmin(losses))]


def test_gamed_rows_enter_with_weight_lambda_over_files():
    x, p, d = _dozen()
    g1 = design(np.full(12, 500.0), np.linspace(300, 1500, 12), d, False), np.linspace(0.2, 0.8, 12)
    g2 = design(np.full(12, 500.0), np.linspace(100, 600, 12), d, False), np.linspace(0.6, 0.3, 12)
    res = fit_lc(x, p, [g1, g2], C=7.0)
    stacked = fit_l1_logistic(np.vstack([g1[0], g2[0], x]), np.r_[g1[1], g2[1], p],
                              np.r_[np.full(24, GAMED_LAMBDA / 2), np.ones(12)], 7.0)
    assert (res.coef_length, res.coef_difficulty, res.coef_model) == pytest.approx(tuple(stacked), abs=1e-10)
    assert g1[0][:, 2].sum() == 0  # gamed rows: not_gamed_baseline = 0


def test_lc_and_its_standard_error_from_the_coefficients():
    x, p, d = _dozen()
    res = fit_lc(x, p, C=20.0)
    pred = expit(res.coef_model + res.coef_difficulty * d)  # zero length difference
    assert res.lc_win_rate == pytest.approx(pred.mean() * 100, abs=1e-12)
    assert res.lc_standard_error == pytest.approx(pred.std(ddof=1) / np.sqrt(12) * 100, abs=1e-12)
    assert res.lc_standard_error > 0 and res.n == 12


def test_matches_sklearn_liblinear_and_cv_as_alpaca_eval_calls_them():
    lm = pytest.importorskip("sklearn.linear_model")
    from sklearn.model_selection import GroupKFold

    rng = np.random.default_rng(11)
    n = 60
    d = rng.normal(0, 1, n)
    x = design(rng.integers(300, 900, n), rng.integers(200, 1600, n), d, True)
    p = expit(-1.0 - 1.5 * x[:, 0] + 0.9 * d + rng.normal(0, 0.5, n))
    xx, yy, sw = np.vstack([x, x]), np.r_[np.ones(n), np.zeros(n)], np.r_[p, 1 - p]  # soft labels, duplicated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lm.LogisticRegression(penalty="l1", solver="liblinear", fit_intercept=False, C=3.0, tol=1e-10,
                                    max_iter=10000).fit(xx, yy, sample_weight=sw)
        soft = {tuple(r): q for r, q in zip(x, p)}

        def score(est, xs, _y, **_):  # AlpacaEval's scorer: the soft log loss against each row's preference
            q, t = est.predict_proba(xs)[:, 1], np.array([soft[tuple(r)] for r in xs])
            return float(np.mean(t * np.log(q) + (1 - t) * np.log(1 - q)))

        groups = np.r_[np.arange(n), np.arange(n)]
        splits = list(GroupKFold(5).split(xx, yy, groups))
        cv = lm.LogisticRegressionCV(Cs=10, cv=splits, penalty="l1", solver="liblinear",
                                     fit_intercept=False, scoring=score, tol=1e-10, max_iter=10000)
        cv.fit(xx, yy, sample_weight=sw)
    assert fit_l1_logistic(x, p, np.ones(n), 3.0) == pytest.approx(ref.coef_[0], abs=1e-5)
    assert choose_C(x, p, np.ones(n)) == pytest.approx(cv.C_[0])


def test_a_pure_length_advantage_is_removed():
    # preferences driven only by length (longer wins) and difficulty: raw win rate far above 50, LC back near 50
    rng = np.random.default_rng(0)
    n = 400
    d = rng.normal(0, 0.5, n)
    x = design(np.full(n, 600.0), 600 + rng.normal(300, 200, n), d, True)
    p = expit(-3.0 * x[:, 0] + 0.8 * d)
    res = fit_lc(x, p)
    assert p.mean() * 100 > 65
    assert res.lc_win_rate == pytest.approx(50, abs=3)
    assert res.coef_length == pytest.approx(-3.0, abs=0.3)
