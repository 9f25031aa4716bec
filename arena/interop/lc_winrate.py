"""Length-controlled win rate in the manner of AlpacaEval 2.

For each model, a logistic regression of the (soft) preference for the model over the baseline on
  model term + tanh(length difference / its standard deviation) + instruction difficulty,
then the win rate predicted with the length difference set to zero, averaged over the instructions.
Lengths are in characters. AlpacaEval ships a precomputed instruction difficulty; here it is fitted on
the run itself: a joint regression over all models (one term per model and one per instruction, the
instruction terms L2-penalised). As in AlpacaEval, rows of the baseline against itself (preference 0.5,
no model term, no length difference) with weight `baseline_weight` regularise the fit towards the baseline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit

DIFFICULTY_PENALTY = 1.0
RIDGE = 1e-6
BASELINE_WEIGHT = 0.2


@dataclass
class LCResult:
    """One model's length-controlled win rate (x100) with the fitted coefficients."""

    model: str
    lc_win_rate: float
    win_rate: float
    n: int
    coef_model: float
    coef_length: float
    coef_difficulty: float


def _fit_logistic(x: np.ndarray, p: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Weighted soft-label logistic regression with a per-coefficient L2 penalty (exact gradients)."""

    def fun(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ beta
        loss = -np.sum(w * (p * log_expit(z) + (1 - p) * log_expit(-z))) + 0.5 * np.sum(penalty * beta**2)
        grad = x.T @ (w * (expit(z) - p)) + penalty * beta
        return float(loss), grad

    res = minimize(fun, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-14})
    return res.x


def _length_feature(delta: np.ndarray) -> np.ndarray:
    """tanh of the length difference divided by its standard deviation (0 when it does not vary)."""
    std = delta.std(ddof=1) if len(delta) > 1 else 0.0
    return np.tanh(delta / std) if std > 0 else np.zeros_like(delta)


def instruction_difficulty(frame: pd.DataFrame, penalty: float = DIFFICULTY_PENALTY) -> pd.Series:
    """Per-instruction effect from a joint fit over all models (model terms, length, instruction terms)."""
    models = sorted(frame["model"].unique())
    inst = sorted(frame["instruction"].unique())
    mi = frame["model"].map({m: i for i, m in enumerate(models)}).to_numpy()
    ii = frame["instruction"].map({q: i for i, q in enumerate(inst)}).to_numpy()
    n, m, k = len(frame), len(models), len(inst)
    x = np.zeros((n, 2 * m + k))
    x[np.arange(n), mi] = 1.0
    for j, model in enumerate(models):
        rows = mi == j
        x[rows, m + j] = _length_feature(frame["delta"].to_numpy(float)[rows])
    x[np.arange(n), 2 * m + ii] = 1.0
    pen = np.r_[np.full(2 * m, RIDGE), np.full(k, penalty)]
    beta = _fit_logistic(x, frame["p"].to_numpy(float), frame["w"].to_numpy(float), pen)
    return pd.Series(beta[2 * m:], index=inst)


def lc_win_rates(frame: pd.DataFrame, baseline_weight: float = BASELINE_WEIGHT,
                 difficulty_penalty: float = DIFFICULTY_PENALTY) -> dict[str, LCResult]:
    """LC win rate per model from rows (model, instruction, p = preference for the model in [0, 1], delta
    = model length - baseline length in characters, optional w = row weight)."""
    frame = frame.dropna(subset=["p", "delta"]).copy()
    if "w" not in frame:
        frame["w"] = 1.0
    if frame.empty:
        return {}
    difficulty = instruction_difficulty(frame, difficulty_penalty)
    out: dict[str, LCResult] = {}
    for model, rows in frame.groupby("model", sort=True):
        d = rows["instruction"].map(difficulty).to_numpy(float)
        length = _length_feature(rows["delta"].to_numpy(float))
        x = np.column_stack([np.ones(len(rows)), length, d])
        p, w = rows["p"].to_numpy(float), rows["w"].to_numpy(float)
        if baseline_weight > 0:
            uniq = np.unique(d)
            x = np.vstack([x, np.column_stack([np.zeros(len(uniq)), np.zeros(len(uniq)), uniq])])
            p = np.r_[p, np.full(len(uniq), 0.5)]
            w = np.r_[w, np.full(len(uniq), baseline_weight)]
        beta = _fit_logistic(x, p, w, np.full(3, RIDGE))
        lc = float(np.mean(expit(beta[0] + beta[2] * d)) * 100)
        raw = float(np.average(rows["p"], weights=rows["w"]) * 100)
        out[str(model)] = LCResult(str(model), lc, raw, len(rows), *map(float, beta))
    return out
