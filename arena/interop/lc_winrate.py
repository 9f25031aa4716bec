"""Length-controlled win rates of every model against the baseline (AlpacaEval 2's GLM, arena.interop.lc_glm).

Instruction difficulty comes from a published file joined by instruction text (AlpacaEval's own numbers), or,
when none is given, is fitted on the run itself (a joint regression over all models: one term per model, one
length term per model, one L2-penalised term per instruction); results from fitted difficulty are labelled
so (`fitted_difficulty`). Gamed-baseline annotations, when given, regularise every model's fit as AlpacaEval
does; without them the fit is AlpacaEval's `length_controlled_noreg` variant and every note says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from arena.interop.lc_glm import N_SPLITS, GLMResult, design, fit_lc, std_delta_len
from arena.interop.lc_inputs import GamedFile, norm_text

DIFFICULTY_PENALTY = 1.0
RIDGE = 1e-6


@dataclass
class LCReport:
    """LC per model, how it was computed and what the user should know about it."""

    results: dict[str, GLMResult]
    fitted_difficulty: bool
    gamed: bool
    notes: list[str] = field(default_factory=list)

    @property
    def glm(self) -> str:
        """AlpacaEval's name of the GLM variant used, with what it lacks spelled out."""
        return "length_controlled_v1" if self.gamed else \
            "length_controlled_noreg (no gamed-baseline annotations)"


def fitted_difficulty(frame: pd.DataFrame, penalty: float = DIFFICULTY_PENALTY) -> pd.Series:
    """Per-instruction effect from a joint fit over all models (model terms, length terms, instruction terms)."""
    models = sorted(frame["model"].unique())
    inst = sorted(frame["instruction"].unique())
    mi = frame["model"].map({m: i for i, m in enumerate(models)}).to_numpy()
    ii = frame["instruction"].map({q: i for i, q in enumerate(inst)}).to_numpy()
    n, m, k = len(frame), len(models), len(inst)
    x = np.zeros((n, 2 * m + k))
    x[np.arange(n), mi] = 1.0
    for j in range(m):
        rows = mi == j
        x[rows, m + j] = np.tanh(std_delta_len(frame["len_baseline"].to_numpy(float)[rows],
                                               frame["len_model"].to_numpy(float)[rows]))
    x[np.arange(n), 2 * m + ii] = 1.0
    pen = np.r_[np.full(2 * m, RIDGE), np.full(k, penalty)]
    p = frame["p"].to_numpy(float)

    def fun(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ beta
        loss = -np.sum(p * log_expit(z) + (1 - p) * log_expit(-z)) + 0.5 * np.sum(pen * beta**2)
        return float(loss), x.T @ (expit(z) - p) + pen * beta

    beta = minimize(fun, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                    options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-14}).x
    return pd.Series(beta[2 * m:], index=inst)


def _gamed_design(gamed: list[GamedFile], difficulty: pd.Series, notes: list[str]) -> list[tuple[np.ndarray,
                                                                                                 np.ndarray]]:
    """Design rows of each gamed-baseline file (rows without a difficulty left out, with a note)."""
    out = []
    for g in gamed:
        x = design(g.len_baseline, g.len_model, pd.Series(g.instruction).map(difficulty).to_numpy(float), False)
        keep = np.isfinite(x[:, 1])
        if (~keep).any():
            notes.append(f"lc: {g.path}: {int((~keep).sum())} of {len(keep)} gamed-baseline annotations have no "
                         "instruction difficulty and are left out of the fit")
        out.append((x[keep], g.p[keep]))
    return out


def lc_win_rates(frame: pd.DataFrame, difficulty: pd.Series | None = None, difficulty_source: str = "",
                 gamed: list[GamedFile] | None = None, C: float | None = None) -> LCReport:
    """LC per model from rows (model, instruction text, p = preference for the model in [0, 1], len_model,
    len_baseline in characters); `difficulty` by normalised instruction text (None: fitted on the run)."""
    frame = frame.dropna(subset=["p", "len_model", "len_baseline"]).copy()
    frame["instruction"] = frame["instruction"].astype(str).map(norm_text)
    gamed = gamed or []
    report = LCReport({}, difficulty is None, bool(gamed))
    if frame.empty:
        return report
    if difficulty is None:
        difficulty = fitted_difficulty(frame)
        report.notes.append("lc: instruction difficulty FITTED on this run's own models (AlpacaEval uses its "
                            "published difficulty: pass --lc-difficulty FILE); the column says so")
    gamed_rows = _gamed_design(gamed, difficulty, report.notes)
    if not gamed:
        report.notes.append("lc: no gamed-baseline annotations supplied (--lc-gamed VERBOSE --lc-gamed CONCISE): "
                            "GLM without AlpacaEval's gamed-baseline regularisation (its length_controlled_noreg); "
                            "published AlpacaEval LC values use that regularisation")
    for model, rows in frame.groupby("model", sort=True):
        x = design(rows["len_baseline"].to_numpy(float), rows["len_model"].to_numpy(float),
                   rows["instruction"].map(difficulty).to_numpy(float), True)
        keep = np.isfinite(x[:, 1])
        if (~keep).any():
            report.notes.append(
                f"lc: {model}: {int((~keep).sum())} of {len(keep)} instructions have no difficulty in "
                f"{difficulty_source or 'the difficulty file'}; they are left out of its LC fit and average "
                "(its raw win rate still counts them)")
        if keep.sum() < N_SPLITS:
            report.notes.append(f"lc: {model}: only {int(keep.sum())} annotations with a difficulty; the GLM's "
                                f"{N_SPLITS}-fold cross-validation needs {N_SPLITS} or more: no LC")
            continue
        report.results[str(model)] = fit_lc(x[keep], rows["p"].to_numpy(float)[keep], gamed_rows, C=C)
    return report
