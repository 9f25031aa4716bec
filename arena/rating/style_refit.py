"""Batched bootstrap refits of the style-controlled BT on the per-battle design (`chord` does the steps).

Rounds are columns of a (battles x rounds) weight matrix (weight times multiplicity); each chord step is
two sparse products with the (N, M + F) design and one with H0^-1: no per-round optimiser. The common
shift of the strengths (the likelihood's null direction) is made invertible by a rank-one term, which
changes the step but not the fixed point. Rounds that do not converge, need the weak prior or lack a
model are left to the caller's exact per-round fit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from arena.rating.bt import logistic
from arena.rating.chord import chord_solve, spd_inverse

_TOL = 2e-9  # estimated error (natural units) of a converged refit: 3.5e-7 rating points


def design(a: np.ndarray, b: np.ndarray, x: np.ndarray, n_models: int) -> sp.csr_matrix:
    """Sparse (N, M + F) design of the contextual BT: +1 at model a, -1 at model b, then the features."""
    n, f = x.shape
    rows = np.r_[np.arange(n), np.arange(n), np.repeat(np.arange(n), f)]
    cols = np.r_[a, b, np.tile(n_models + np.arange(f), n)]
    vals = np.r_[np.ones(n), -np.ones(n), x.ravel()]
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n_models + f))


def hessian_inverse(
    xd: sp.csr_matrix, params: np.ndarray, w: np.ndarray, n_models: int
) -> np.ndarray | None:
    """Inverse of the full-data Hessian at params, the strengths' common shift made invertible; None if
    it is singular or ill-conditioned (disconnected graph, separable data)."""
    p = expit(xd @ params)
    hess = (xd.T @ sp.diags(w * p * (1.0 - p)) @ xd).toarray()
    shift = np.zeros(hess.shape[0])
    shift[:n_models] = 1.0
    hess += np.trace(hess[:n_models, :n_models]) / n_models / n_models * np.outer(shift, shift)
    return spd_inverse(hess)


def chord_refit_style(
    xd: sp.csr_matrix,
    xd_t: sp.csr_matrix,
    s: np.ndarray,
    weights: np.ndarray,
    params_full: np.ndarray,
    h_inv: np.ndarray,
    n_models: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit rounds given as (N, B) battle weights (w times multiplicity); returns (params (B, M + F),
    converged (B,)), strengths centred."""
    cache = {"cols": weights.shape[1], "w": weights, "ws": weights * s[:, None]}

    def step(cur: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if len(cols) != cache["cols"]:  # rounds only ever leave: a new length is a new subset
            cache.update(cols=len(cols), w=weights[:, cols], ws=weights[:, cols] * s[:, None])
        z = xd @ cur
        logistic(z, out=z)
        z *= cache["w"]
        z -= cache["ws"]
        return h_inv @ (xd_t @ z)

    params, converged = chord_solve(step, np.tile(params_full[:, None], (1, weights.shape[1])), _TOL)
    params[:n_models] -= params[:n_models].mean(axis=0)
    return params.T, converged
