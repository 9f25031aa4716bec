"""Batched Newton-CG for BT refits the chord steps cannot finish: sparse Hessian products, no dense Hessians.

Each round takes Newton steps whose linear systems are solved by conjugate gradients with the round's own
Hessian applied through the pair list (one pass over the pairs per product). The preconditioner is the
full-data inverse Hessian when most pairs met (one dense (M, M) product per iteration, few iterations), else
the round's own Hessian diagonal (Jacobi: M per iteration, so a sparse graph's whole refit costs a multiple of
its pairs, not of models squared). Used for rounds whose Hessian is far from the full-data one (sparse graphs,
few battles per pair), rounds that need the weak prior (alpha virtual ties against a reference player of
strength 0) and rounds in which some models did not play: a model without battles and without the prior gets
a unit curvature and no gradient, so it keeps its start value (the caller masks it) and the others' system is
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from arena.rating.bt import logistic

_MAX_NEWTON = 100
_MAX_CG = 200
_MAX_STEP = 3.0  # natural units: longer Newton steps are scaled down (damping far from the optimum)


def newton_cg_refit(
    pi: np.ndarray,
    pj: np.ndarray,
    signed_t: sp.csr_matrix,
    s_t: np.ndarray,
    n_t: np.ndarray,
    theta0: np.ndarray,
    alpha: np.ndarray,
    h_inv: np.ndarray | None,
    tol: float,
    played: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve rounds given as (P, B) pair statistics from (M, B) starts; returns (theta (B, M), converged (B,)).

    h_inv: the full-data inverse Hessian as preconditioner, or None for the rounds' own diagonals; played:
    (M, B) which models have battles in each round (default all). A round has converged when its Newton step
    is below tol in every coordinate (quadratic convergence: its error is then far smaller); a round still
    moving after the step limit is reported as not converged.
    """
    unsigned_t = abs(signed_t) if h_inv is None else None
    idle_all = np.zeros(theta0.shape) if played is None else (~played).astype(float)
    theta = np.array(theta0, float, copy=True)
    n_rounds = theta.shape[1]
    todo = np.arange(n_rounds)
    converged = np.zeros(n_rounds, bool)
    for _ in range(_MAX_NEWTON):
        th, s, n, a = theta[:, todo], s_t[:, todo], n_t[:, todo], alpha[todo]
        p = logistic(np.take(th, pi, axis=0) - np.take(th, pj, axis=0))
        q = logistic(th)
        grad = signed_t @ (n * p - s) + a * (q - 0.5)
        curv = n * p * (1.0 - p)
        prior_curv = a * q * (1.0 - q)
        # without prior the common shift is free: a rank-one term pins it (the gradient has no shift part)
        pin = np.where(a > 0, 0.0, 2.0 * curv.sum(axis=0) / th.shape[0] ** 2)
        # a model without battles in a round without prior: unit curvature, zero gradient (it stays put)
        own = prior_curv + idle_all[:, todo] * (a <= 0)
        # inexact Newton: solve loosely far from the optimum (a step the cap shrinks needs no precision) and to
        # the gradient's own size near it (superlinear convergence); 1e-6 relative at the finish
        forcing = np.clip(np.max(np.abs(grad), axis=0), 1e-6, 0.1)

        def hess_times(v: np.ndarray, cols: np.ndarray, curv: np.ndarray = curv, own: np.ndarray = own,
                       pin: np.ndarray = pin) -> np.ndarray:
            d = np.take(v, pi, axis=0) - np.take(v, pj, axis=0)
            return signed_t @ (curv[:, cols] * d) + own[:, cols] * v + pin[cols] * v.sum(axis=0)

        if h_inv is not None:
            step = _pcg(hess_times, grad, lambda r, cols, dense=h_inv: dense @ r, forcing)
        else:
            diag = unsigned_t @ curv + own + pin
            step = _pcg(hess_times, grad, lambda r, cols, diag=diag: r / diag[:, cols], forcing)
        size = np.max(np.abs(step), axis=0)
        broken = ~np.isfinite(size)  # a singular Hessian (the round's graph fell apart): leave it to the caller
        scale = np.minimum(1.0, _MAX_STEP / np.maximum(size, 1e-300))
        theta[:, todo] = np.where(broken, theta0[:, todo], th - np.where(broken, 0.0, step) * scale)
        done = size < tol
        converged[todo[done]] = True
        todo = todo[~done & ~broken]
        if len(todo) == 0:
            break
    return theta.T, converged


def _pcg(
    hess_times: Callable[[np.ndarray, np.ndarray], np.ndarray],
    rhs: np.ndarray,
    precond: Callable[[np.ndarray, np.ndarray], np.ndarray],
    forcing: np.ndarray,
) -> np.ndarray:
    """Solve H x = rhs for every column by preconditioned conjugate gradients to a relative residual of
    `forcing` (per column); precond(r, cols) applies the preconditioner to the residuals of columns `cols`."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = precond(r, np.arange(rhs.shape[1]))
    d = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    target = forcing ** 2 * np.maximum(np.einsum("ij,ij->j", rhs, rhs), 1e-300)
    cols = np.arange(rhs.shape[1])
    for _ in range(_MAX_CG):
        live = np.einsum("ij,ij->j", r[:, cols], r[:, cols]) > target[cols]
        cols = cols[live]
        if len(cols) == 0:
            break
        hd = hess_times(d[:, cols], cols)
        curvature = np.einsum("ij,ij->j", d[:, cols], hd)
        flat = curvature <= 0
        if flat.any():  # no curvature along a search direction: the system is singular for that round
            x[:, cols[flat]] = np.nan
            target[cols[flat]] = np.inf  # and stop iterating on it
            keep = ~flat
            cols, hd, curvature = cols[keep], hd[:, keep], curvature[keep]
            if len(cols) == 0:
                break
        step = rz[cols] / curvature
        x[:, cols] += step * d[:, cols]
        r[:, cols] -= step * hd
        z = precond(r[:, cols], cols)
        rz_new = np.einsum("ij,ij->j", r[:, cols], z)
        d[:, cols] = z + (rz_new / rz[cols]) * d[:, cols]
        rz[cols] = rz_new
    return x
