"""Batched bootstrap refits of the style-controlled BT on the per-battle design (`chord` does the steps).

Rounds are rows of a (rounds x battles) weight matrix (weight times multiplicity), battles sorted by model
pair; each chord step is a gather of per-pair strength differences, two dense products with the (N, F)
style features, per-pair sums, and one product with H0^-1: no per-round optimiser. The common
shift of the strengths (the likelihood's null direction) is made invertible by a rank-one term, which
changes the step but not the fixed point. Rounds that do not converge, need the weak prior or lack a
model are left to the caller's exact per-round fit.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class PairSorted:
    """Battles sorted by directed model pair (a, b), so that a refit pass works on contiguous blocks: the
    strength part of every logit is one value per pair, and the strengths' gradient is a sum per pair."""

    order: np.ndarray  # (N,) original index of each sorted battle
    starts: np.ndarray  # (P,) first sorted position of each directed pair
    battle_pair: np.ndarray  # (N,) directed pair of each sorted battle
    pair_a: np.ndarray  # (P,) model on side a
    pair_b: np.ndarray  # (P,) model on side b
    signed_t: sp.csr_matrix  # (M, P): +1 at side a, -1 at side b
    x: np.ndarray  # (N, F) features, sorted
    x_t: np.ndarray  # (F, N) the same, C order
    s: np.ndarray  # (N,) scores, sorted


def sort_by_pair(a: np.ndarray, b: np.ndarray, x: np.ndarray, s: np.ndarray, n_models: int) -> PairSorted:
    """The battles' sorted layout for `chord_refit_style`."""
    key = a.astype(np.int64) * n_models + b
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    battle_pair = np.cumsum(np.r_[False, sorted_key[1:] != sorted_key[:-1]])
    pair_key = sorted_key[starts]
    pair_a, pair_b = pair_key // n_models, pair_key % n_models
    n_pairs = len(starts)
    cols = np.r_[np.arange(n_pairs), np.arange(n_pairs)]
    signed_t = sp.csr_matrix(
        (np.r_[np.ones(n_pairs), -np.ones(n_pairs)], (np.r_[pair_a, pair_b], cols)), shape=(n_models, n_pairs)
    )
    xs = np.ascontiguousarray(x[order])
    return PairSorted(order, starts, battle_pair, pair_a, pair_b, signed_t, xs, np.ascontiguousarray(xs.T), s[order])


def chord_refit_style(
    sd: PairSorted, weights: np.ndarray, params_full: np.ndarray, h_inv: np.ndarray, n_models: int
) -> tuple[np.ndarray, np.ndarray]:
    """Refit rounds given as (B, N) battle weights (w times multiplicity, in sd's sorted order); returns
    (params (B, M + F), converged (B,)), strengths centred.

    A pass per round: the strength part of the logits is gathered from one value per pair, the style part
    is a (B, F) x (F, N) product, and the gradient is a (B, N) x (N, F) product plus per-pair sums."""
    cache = {"cols": weights.shape[0], "w": weights, "ws": weights * sd.s, "first": True}
    theta_full, beta_full = params_full[:n_models], params_full[n_models:]
    p_full = logistic((theta_full[sd.pair_a] - theta_full[sd.pair_b])[sd.battle_pair] + sd.x @ beta_full)

    def step(cur: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if len(cols) != cache["cols"]:  # rounds only ever leave: a new length is a new subset
            cache.update(cols=len(cols), w=weights[cols], ws=weights[cols] * sd.s)
        if cache.pop("first", False):  # every round starts at the full fit: its win probabilities are known
            z = cache["w"] * p_full
        else:
            theta, beta = cur[:n_models], cur[n_models:]
            d_pair = (np.take(theta, sd.pair_a, axis=0) - np.take(theta, sd.pair_b, axis=0)).T  # (B, P)
            z = np.take(np.ascontiguousarray(d_pair), sd.battle_pair, axis=1)
            z += beta.T @ sd.x_t
            logistic(z, out=z)
            z *= cache["w"]
        z -= cache["ws"]
        grad_style = (z @ sd.x).T  # (F, B)
        grad_pair = np.add.reduceat(z, sd.starts, axis=1)  # (B, P)
        return h_inv @ np.vstack([sd.signed_t @ grad_pair.T, grad_style])

    params, converged = chord_solve(step, np.tile(params_full[:, None], (1, weights.shape[0])), _TOL)
    params[:n_models] -= params[:n_models].mean(axis=0)
    return params.T, converged
