"""Refits of many bootstrap rounds at once: Newton-chord steps against one full-data Hessian.

A resample's likelihood differs from the full data's only in its counts, so its Hessian at the solution
is close to the full-data Hessian H0: the chord map x -> x - H0^-1 g(x) contracts towards the resample's
maximum-likelihood point at the rate of the relative difference between the two Hessians (measured:
0.03-0.2, so a digit or more per gradient pass). Rounds are the columns of x; there is no per-round
factorisation, and a round costs a few gradient passes. (Anderson acceleration was tried: one pass fewer
in nine, not worth its state.)

Most of that difference is on the diagonal (a model's battles in a round vary more than one pair's share
of them matters), so the step uses S H0^-1 S with S = sqrt(diag H0 / diag H_round), which matches the
round's diagonal exactly at no extra factorisation (`scaled_step`; 1000 models, 3 battles per pair:
contraction 0.06 -> 0.03, six gradient passes -> four). The round's diagonal at the full fit is linear in its counts,
and at the first iterate it is extrapolated with the full data's third derivatives (one matrix product).

`DenseRefits` computes gradient passes on dense model x model matrices when most pairs met: with
strengths pi = exp(theta), model i's expected score is pi_i * sum_j n_ij / (pi_i + pi_j), so a pass over the
upper triangle of a round's pair totals is one outer sum, one division and a row and a column sum (no
exponential per pair, no gathers or scatters), in blocks that stay in cache.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sl

_RCOND = 1e-12  # smallest reciprocal condition number of H0 accepted


def spd_inverse(hess: np.ndarray) -> np.ndarray | None:
    """Inverse of a symmetric positive definite matrix via Cholesky; None if singular or ill-conditioned."""
    try:
        factor = sl.cho_factor(hess, lower=False)
    except np.linalg.LinAlgError:
        return None
    rcond = sl.lapack.dpocon(factor[0], np.abs(hess).sum(axis=0).max())[0]  # uses the upper factor
    if not np.isfinite(rcond) or rcond < _RCOND:
        return None
    return sl.cho_solve(factor, np.eye(hess.shape[0]))


def chord_solve(
    step: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x0: np.ndarray,
    tol: float,
    max_iter: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve the rounds (columns of x0) with step(x_cols, cols) = H0^-1 grad at x for rounds `cols`.

    Returns (x, converged): a round has converged when its remaining error, estimated from its last step
    and its measured contraction rate r as step * r / (1 - r), is below tol in every coordinate; rounds
    whose steps stop shrinking (no finite maximum, or a Hessian too far from H0) are reported as not
    converged.
    """
    x = np.array(x0, float, copy=True)
    n_rounds = x.shape[1]
    todo = np.arange(n_rounds)
    converged = np.zeros(n_rounds, bool)
    last = np.full(n_rounds, np.inf)
    for _ in range(max_iter):
        delta = step(x[:, todo], todo)
        x[:, todo] -= delta
        size = np.max(np.abs(delta), axis=0)
        rate = np.where(np.isfinite(last[todo]), size / last[todo], 1.0)  # measured contraction (none yet: 1)
        estimate = size * np.clip(rate, 0.02, 0.7) / (1.0 - np.clip(rate, 0.02, 0.7))
        done = (size < tol) | ((rate < 0.7) & (estimate < tol))
        converged[todo[done]] = True
        keep = ~done & (size <= 0.7 * last[todo])
        last[todo] = size
        todo = todo[keep]
        if len(todo) == 0:
            break
    return x, converged


def scaled_step(h_inv: np.ndarray, scale: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """S H0^-1 S grad for (M, B) columns (S = diag(scale) per column), with each column's mean removed (a
    common shift of the strengths changes no likelihood)."""
    step = scale * (h_inv @ (scale * grad))
    step -= step.mean(axis=0)
    return step


def diagonal_scale(diag_full: np.ndarray, diag_round: np.ndarray) -> np.ndarray:
    """sqrt(diag H0 / diag H_round) per model and round ((M,) and (M, B)); rounds' diagonals at or below zero
    (cannot happen for rounds in which every model played) fall back to no scaling."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt(diag_full[:, None] / diag_round)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


class DenseRefits:
    """Chord refits of rounds held as dense (M, M) matrices of pair totals: N[i, j] = weighted battles of the
    pair i < j (zero below the diagonal), with the models' weighted scores beside them (module docstring)."""

    def __init__(
        self, pi: np.ndarray, pj: np.ndarray, n_models: int, theta_full: np.ndarray, n_full: np.ndarray,
        h_inv: np.ndarray, pin: float,
    ) -> None:
        m = n_models
        self.m, self.h_inv, self.theta_full, self.pin = m, h_inv, theta_full, pin
        self.flat = pi * m + pj  # pairs are oriented i < j
        p = 1.0 / (1.0 + np.exp(theta_full[pj] - theta_full[pi]))
        h = p * (1.0 - p)
        self.p_full = self._upper(p)  # P(i beats j) at the full fit, i < j
        self.h_full = self._upper(h)
        slope = self._upper(n_full * h * (1.0 - 2.0 * p))  # d/d(theta_i - theta_j) of n_ij p (1 - p)
        self.third = slope - slope.T
        self.third_rows = self.third.sum(axis=1)
        self.diag_full = np.bincount(pi, n_full * h, m) + np.bincount(pj, n_full * h, m) + pin
        self.chunk = max(1, _PASS_CELLS // (m * m))  # rounds per vectorised pass
        self.block = max(1, _BLOCK_CELLS // m)  # rows per block of a large round
        self.work = np.empty((self.chunk, m, m))

    def _upper(self, values: np.ndarray) -> np.ndarray:
        """(M, M) matrix with the pairs' values above the diagonal, zero elsewhere."""
        out = np.zeros(self.m * self.m)
        out[self.flat] = values
        return out.reshape(self.m, self.m)

    def totals(self, n: np.ndarray) -> np.ndarray:
        """(B, M, M) pair totals of rounds given as (B, P) pair statistics."""
        out = np.zeros((len(n), self.m * self.m))
        out[:, self.flat] = n
        return out.reshape(len(n), self.m, self.m)

    def refit(
        self, totals: np.ndarray, won: np.ndarray, tol: float, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Refit rounds given as (M, M) pair totals (totals[rows], default all) and (B, M) weighted scores
        (every model played); returns (theta (B, M), converged (B,))."""
        m, rounds = self.m, len(won)
        index = np.arange(rounds) if rows is None else np.asarray(rows)
        won_t = np.ascontiguousarray(won.T)  # (M, B)
        diag0 = np.empty((m, rounds))  # the rounds' Hessian diagonals at the full fit (+ pin)
        scale = np.ones((m, rounds))
        calls = [0]

        def step(cur: np.ndarray, cols: np.ndarray) -> np.ndarray:
            calls[0] += 1
            if calls[0] == 1:  # every round starts at the full fit: score and curvature are linear in N
                grad = np.empty_like(cur)
                q = self.work[0]
                for k, b in enumerate(cols):
                    n = totals[index[b]]
                    np.multiply(n, self.p_full, out=q)
                    grad[:, k] = q.sum(axis=1) - q.sum(axis=0) + n.sum(axis=0) - won_t[:, b]
                    np.multiply(n, self.h_full, out=q)
                    diag0[:, b] = q.sum(axis=1) + q.sum(axis=0) + self.pin
                scale[:, cols] = diagonal_scale(self.diag_full, diag0[:, cols])
                return scaled_step(self.h_inv, scale[:, cols], grad)
            if calls[0] == 2:  # extrapolate the diagonal to the first iterate
                delta = cur - self.theta_full[:, None]
                diag = diag0[:, cols] + self.third_rows[:, None] * delta - self.third @ delta
                scale[:, cols] = diagonal_scale(self.diag_full, diag)
            grad = self.expected(totals, index[cols], cur) - won_t[:, cols]
            return scaled_step(self.h_inv, scale[:, cols], grad)

        start = np.tile(self.theta_full[:, None], (1, rounds))
        theta, converged = chord_solve(step, start, tol)
        return theta.T, converged

    def expected(self, totals: np.ndarray, cols: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """(M, k) expected scores pi_i sum_j N_ij / (pi_i + pi_j) (N symmetric) of rounds totals[cols] at
        strengths cur: one outer sum, one division and two sums over each round's upper-triangular totals,
        several small rounds at once or a large round in blocks of rows (the work stays in cache)."""
        out = np.empty_like(cur)
        m = self.m
        for start in range(0, len(cols), self.chunk):
            rows = cols[start:start + self.chunk]
            x = cur[:, start:start + len(rows)].T
            strength = np.exp(x - x.max(axis=1, keepdims=True))  # (k, M)
            if len(rows) > 1 or self.block >= m:
                work = self.work[: len(rows)]
                np.add(strength[:, :, None], strength[:, None, :], out=work)
                np.divide(totals[rows], work, out=work)
                out[:, start:start + len(rows)] = (strength * (work.sum(axis=2) + work.sum(axis=1))).T
                continue
            pi, n = strength[0], totals[rows[0]]
            acc = np.zeros(m)
            for top in range(0, m, self.block):  # rows top.. of the upper triangle start at column top
                bottom = min(top + self.block, m)
                work = self.work[0, : bottom - top, : m - top]
                np.add(pi[top:bottom, None], pi[None, top:], out=work)
                np.divide(n[top:bottom, top:], work, out=work)
                acc[top:bottom] += work.sum(axis=1)
                acc[top:] += work.sum(axis=0)
            out[:, start] = pi * acc
        return out


_PASS_CELLS = 250_000  # rounds x M^2 per vectorised dense pass (2 MB: stays in cache)
_BLOCK_CELLS = 100_000  # rows x M per block of a large round's pass
