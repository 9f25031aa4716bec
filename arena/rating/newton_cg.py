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

        diag = None if h_inv is not None else unsigned_t @ curv + own + pin
        step = _pcg(_Systems(pi, pj, signed_t, curv, own, pin, h_inv, diag), grad, forcing)
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


class _Systems:
    """The rounds' Newton systems for CG: products with each round's Hessian (through the pair list) and with
    its preconditioner (the dense full-data inverse, or the round's diagonal), over the columns still
    iterating; `keep` drops finished columns, so every product works on contiguous arrays."""

    def __init__(self, pi: np.ndarray, pj: np.ndarray, signed_t: sp.csr_matrix, curv: np.ndarray, own: np.ndarray,
                 pin: np.ndarray, h_inv: np.ndarray | None, diag: np.ndarray | None) -> None:
        self.pi, self.pj, self.signed_t, self.h_inv = pi, pj, signed_t, h_inv
        self.curv, self.own, self.pin, self.diag = curv, own, pin, diag

    def keep(self, mask: np.ndarray) -> None:
        self.curv, self.own, self.pin = self.curv[:, mask], self.own[:, mask], self.pin[mask]
        if self.diag is not None:
            self.diag = self.diag[:, mask]

    def times(self, v: np.ndarray) -> np.ndarray:
        d = np.take(v, self.pi, axis=0)
        d -= np.take(v, self.pj, axis=0)
        d *= self.curv
        return self.signed_t @ d + self.own * v + self.pin * v.sum(axis=0)

    def precond(self, r: np.ndarray) -> np.ndarray:
        return self.h_inv @ r if self.diag is None else r / self.diag


def _pcg(systems: _Systems, rhs: np.ndarray, forcing: np.ndarray) -> np.ndarray:
    """Solve H x = rhs for every column by preconditioned conjugate gradients to a relative residual of
    `forcing` (per column); a column whose system shows no curvature along a search direction (singular: the
    round's graph fell apart) gets NaN."""
    out = np.zeros_like(rhs)
    cols = np.arange(rhs.shape[1])  # the columns still iterating, in the order of the working arrays below
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = systems.precond(r)
    d = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    target = forcing ** 2 * np.maximum(np.einsum("ij,ij->j", rhs, rhs), 1e-300)
    for _ in range(_MAX_CG):
        live = np.einsum("ij,ij->j", r, r) > target
        if not live.all():
            out[:, cols[~live]] = x[:, ~live]
            x, r, d, rz, target, cols = _keep(live, x, r, d, rz, target, cols)
            systems.keep(live)
            if not len(cols):
                break
        hd = systems.times(d)
        curvature = np.einsum("ij,ij->j", d, hd)
        flat = curvature <= 0
        if flat.any():
            out[:, cols[flat]] = np.nan
            x, r, d, rz, target, cols, hd, curvature = _keep(~flat, x, r, d, rz, target, cols, hd, curvature)
            systems.keep(~flat)
            if not len(cols):
                break
        step = rz / curvature
        x += step * d
        r -= step * hd
        z = systems.precond(r)
        rz_new = np.einsum("ij,ij->j", r, z)
        d *= rz_new / rz
        d += z
        rz = rz_new
    out[:, cols] = x
    return out


def _keep(mask: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays' columns (last axis) where mask is true."""
    return [a[..., mask] for a in arrays]
