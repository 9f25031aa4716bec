"""AlpacaEval 2's length-controlled GLM (`length_controlled_v1`, Dubois et al. 2024), re-implemented on scipy.

For one model against the baseline, every annotation is a row with the soft preference p in [0, 1] for the
model and three features, no intercept:
  tanh(std_delta_len), std_delta_len = (baseline chars - model chars) / its sample SD over the model's rows;
  the instruction's difficulty (a fixed per-instruction number);
  not_gamed_baseline = 1 for the model's own rows.
When the annotations of the length-gamed baselines (the baseline prompted to be verbose / concise, judged
against the baseline) are supplied, their rows are added with not_gamed_baseline = 0 and weight
lambda / (number of gamed files), lambda = 0.2 (AlpacaEval: 0.2 / 2); they pin the length and difficulty
coefficients. Without them the fit is AlpacaEval's `length_controlled_noreg` variant.
The fit is an L1-penalised soft-label logistic regression, min |beta|_1 + C * sum_i w_i * logloss_i, with
C chosen among 10 values logspaced over [1e-4, 1e4] by 5-fold cross-validation on the mean weighted log
loss (folds as sklearn's GroupKFold assigns one row per group), then refitted on all rows.
LC = mean over the model's instructions of sigmoid(beta_model + beta_difficulty * difficulty) x100, i.e. the
predicted preference at zero length difference; its standard error is the SEM of those predictions x100.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

GAMED_LAMBDA = 0.2
CS = np.logspace(-4, 4, 10)
N_SPLITS = 5
CLIP = 1e-15


@dataclass
class GLMResult:
    """One model's LC win rate and SE (x100), the chosen C and the coefficients (length, difficulty, model)."""

    lc_win_rate: float
    lc_standard_error: float
    C: float
    coef_length: float
    coef_difficulty: float
    coef_model: float
    n: int


def std_delta_len(len_baseline: np.ndarray, len_model: np.ndarray) -> np.ndarray:
    """(baseline length - model length) / its sample standard deviation (0 when it does not vary)."""
    delta = np.asarray(len_baseline, float) - np.asarray(len_model, float)
    sd = delta.std(ddof=1) if len(delta) > 1 else 0.0
    return delta / sd if sd > 0 else np.zeros_like(delta)


def _loss_grad(beta: np.ndarray, x: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted soft-label log loss (a sum) and its gradient."""
    z = x @ beta
    loss = -np.sum(w * (p * log_expit(z) + (1 - p) * log_expit(-z)))
    return float(loss), x.T @ (w * (expit(z) - p))


def _lasso_quadratic(g: np.ndarray, h: np.ndarray, beta: np.ndarray, lam: float) -> np.ndarray:
    """Step d minimising g.d + d'Hd/2 + lam * |beta + d|_1 (cyclic coordinate descent; k is tiny)."""
    d = np.zeros_like(beta)
    diag = np.diag(h) + 1e-12
    for _ in range(200):
        old = d.copy()
        for j in range(len(beta)):
            r = g[j] + h[j] @ d - diag[j] * d[j]  # gradient of the quadratic at d without d_j's own term
            z = beta[j] - r / diag[j]  # unpenalised minimiser of beta_j + d_j
            d[j] = np.sign(z) * max(abs(z) - lam / diag[j], 0.0) - beta[j]
        if np.max(np.abs(d - old)) < 1e-15:
            break
    return d


def fit_l1_logistic(x: np.ndarray, p: np.ndarray, w: np.ndarray, C: float) -> np.ndarray:
    """argmin |beta|_1 + C * weighted soft-label log loss, no intercept (liblinear's L1 problem), solved to
    machine precision by proximal Newton steps with a backtracking line search."""
    lam = 1.0 / C
    beta = np.zeros(x.shape[1])

    def total(b: np.ndarray) -> float:
        return _loss_grad(b, x, p, w)[0] + lam * float(np.abs(b).sum())

    f = total(beta)
    for _ in range(100):
        _, g = _loss_grad(beta, x, p, w)
        q = expit(x @ beta)
        h = (x * (w * q * (1 - q))[:, None]).T @ x
        d = _lasso_quadratic(g, h, beta, lam)
        if np.max(np.abs(d)) < 1e-13:
            break
        decrease = g @ d + lam * (np.abs(beta + d).sum() - np.abs(beta).sum())
        t = 1.0
        while t > 1e-10:
            new = beta + t * d
            f_new = total(new)
            if f_new <= f + 0.25 * t * decrease:
                break
            t /= 2
        if f - f_new <= 1e-16 * max(1.0, abs(f)) and t < 1:
            break
        beta, f = new, f_new
    return beta


def fold_of_rows(n: int, n_splits: int = N_SPLITS) -> np.ndarray:
    """Fold of each row as sklearn's GroupKFold puts n equal-sized groups: row g goes to fold (n-1-g) % n_splits."""
    return (n - 1 - np.arange(n)) % n_splits


def mean_log_loss(x: np.ndarray, p: np.ndarray, w: np.ndarray, beta: np.ndarray) -> float:
    """AlpacaEval's CV score (negated): mean over rows of w * soft log loss, predictions clipped at 1e-15."""
    q = np.clip(expit(x @ beta), CLIP, 1 - CLIP)
    return float(-np.mean(w * (p * np.log(q) + (1 - p) * np.log(1 - q))))


def choose_C(x: np.ndarray, p: np.ndarray, w: np.ndarray, cs: np.ndarray = CS,
             n_splits: int = N_SPLITS) -> float:
    """The C with the lowest summed fold log loss (first one on ties), as LogisticRegressionCV(refit=True)."""
    folds = fold_of_rows(len(p), n_splits)
    total = np.zeros(len(cs))
    for f in range(n_splits):
        test = folds == f
        for j, c in enumerate(cs):
            beta = fit_l1_logistic(x[~test], p[~test], w[~test], c)
            total[j] += mean_log_loss(x[test], p[test], w[test], beta)
    return float(cs[int(np.argmin(total))])


def design(len_baseline: np.ndarray, len_model: np.ndarray, difficulty: np.ndarray, model_row: bool) -> np.ndarray:
    """The three GLM columns for one file's rows: tanh(std_delta_len), difficulty, not_gamed_baseline."""
    length = np.tanh(std_delta_len(len_baseline, len_model))
    return np.column_stack([length, np.asarray(difficulty, float), np.full(len(length), float(model_row))])


def fit_lc(x_model: np.ndarray, p_model: np.ndarray, gamed: list[tuple[np.ndarray, np.ndarray]] | None = None,
           lam: float = GAMED_LAMBDA, C: float | None = None) -> GLMResult:
    """LC for one model: `x_model` rows from design(); `gamed` = [(x, p), ...] of the gamed baselines (or none)."""
    gamed = gamed or []
    xs = [g[0] for g in gamed] + [x_model]
    ps = [g[1] for g in gamed] + [p_model]
    ws = [np.full(len(g[1]), lam / len(gamed)) for g in gamed] + [np.ones(len(p_model))]
    x, p, w = np.vstack(xs), np.concatenate(ps), np.concatenate(ws)
    c = choose_C(x, p, w) if C is None else C
    beta = fit_l1_logistic(x, p, w, c)
    pred = expit(beta[2] + beta[1] * x_model[:, 1])
    se = float(pred.std(ddof=1) / np.sqrt(len(pred)) * 100) if len(pred) > 1 else float("nan")
    return GLMResult(float(pred.mean() * 100), se, c, float(beta[0]), float(beta[1]), float(beta[2]), len(p_model))
