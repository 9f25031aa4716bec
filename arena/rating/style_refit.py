"""Batched bootstrap refits of the style-controlled BT: Newton-chord steps against the full-data Hessian.

A resample's likelihood differs from the full data's only in its battle multiplicities, so its Hessian
at the solution is close to the full-data Hessian H0. Each round is refitted by chord steps
params <- params - H0^-1 g(params), several rounds at once as columns of a (battles x rounds) weight
matrix: no per-round factorisation and no per-round optimiser, only a few gradient passes per round.
The common shift of the strengths (the likelihood's null direction) is made invertible by a rank-one
term, which changes the step but not the fixed point. Rounds that do not converge, need the weak prior
or lack a model are left to the caller's exact per-round fit.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
from scipy.special import expit

_MAX_ITER = 40
_TOL = 1e-8  # largest step (natural log-odds units) at which a round counts as converged (error ~ rho * tol)


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
    z = xd @ params
    p = expit(z)
    curv = w * p * (1.0 - p)
    hess = (xd.T @ sp.diags(curv) @ xd).toarray()
    shift = np.zeros(hess.shape[0])
    shift[:n_models] = 1.0
    hess += np.trace(hess[:n_models, :n_models]) / n_models / n_models * np.outer(shift, shift)
    try:
        factor = sl.cho_factor(hess, lower=False)
    except np.linalg.LinAlgError:
        return None
    rcond = sl.lapack.dpocon(factor[0], np.abs(hess).sum(axis=0).max())[0]  # upper factor
    if not np.isfinite(rcond) or rcond < 1e-12:
        return None
    return sl.cho_solve(factor, np.eye(hess.shape[0]))


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
    converged (B,)), strengths centred; rounds whose steps stop shrinking are reported as not converged."""
    n_rounds = weights.shape[1]
    params = np.tile(params_full[:, None], (1, n_rounds))
    ws = weights * s[:, None]
    todo = np.arange(n_rounds)
    converged = np.zeros(n_rounds, bool)
    last = np.full(n_rounds, np.inf)
    w_sub, ws_sub = weights, ws
    for _ in range(_MAX_ITER):
        cur = params[:, todo]
        z = xd @ cur
        expit(z, out=z)
        z *= w_sub
        z -= ws_sub
        step = h_inv @ (xd_t @ z)
        params[:, todo] = cur - step
        size = np.max(np.abs(step), axis=0)
        done = size < _TOL
        keep = ~done & (size <= 0.7 * last[todo])
        converged[todo[done]] = True
        last[todo] = size
        if not keep.all():
            todo, w_sub, ws_sub = todo[keep], w_sub[:, keep], ws_sub[:, keep]
        if len(todo) == 0:
            break
    params[:n_models] -= params[:n_models].mean(axis=0)
    return params.T, converged
