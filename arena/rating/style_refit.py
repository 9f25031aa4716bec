"""Style-controlled BT on the per-battle design: a Newton point fit and batched Newton refits of bootstrap rounds.

Battles are written with the lower model index on side a (a flipped battle has its features negated and its
score s -> 1 - s: the same likelihood) and sorted by model pair, so that the strength part of every logit
is one value per pair and the strengths' gradient and Hessian are sums over contiguous blocks.

A bootstrap round's refit is Newton's method with the round's own pair Hessian (a graph Laplacian of the
round's per-pair sums of k w p (1 - p): at the full fit, then refreshed once at the first pass with the
logistic) and the full data's strength-feature and feature-feature blocks. Those two blocks sum over
thousands of battles per entry, so a resample moves them by about 1/sqrt(battles) relative, and the
refit contracts by about that per pass (measured 0.003 on 1.5M battles, 0.01-0.03 on 200k), where one
full-data Hessian for every round (the plain BT bootstrap's chord) contracts by 0.1-0.3 here. The first
pass is at the full fit, where the win probabilities are known: its gradient and Hessian are linear in
the multiplicities, with no exp. Measured (150 models, 4 features): the first pass plus 2-3 passes with
the logistic on 1.5M battles, 4 on 200k, where the chord needed 6-7.

A pass streams over blocks of battles that fit in cache (rounds as rows, multiplicities stored as uint8).
The strengths' common shift (the likelihood's null direction) is made invertible by a rank-one term,
which changes no step (the gradient has no component along it). Rounds that do not converge, or lack a
model or a win or loss of one, are left to the caller's exact per-round fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from arena.rating.bt import logistic
from arena.rating.chord import spd_inverse

_TOL = 2e-9  # estimated error (natural units) of a converged refit: 3.5e-7 rating points
_BLOCK = 1 << 16  # rounds x battles per streamed block (512 kB of float64 per array: in the L2 cache)
_MAX_PASSES = 40
_DENSE_MODELS = 400  # above this many models, the per-round Laplacian solves cost more than they save
_DRAW_BLOCK = 1 << 16  # battles per block of the two-stage multinomial draw (uint16 indices)


@dataclass(frozen=True)
class StyleLayout:
    """Battles with the lower model on side a, sorted by pair: the layout every pass works on."""

    n_models: int
    order: np.ndarray  # (N,) original index of each sorted battle
    starts: np.ndarray  # (P,) first sorted position of each pair
    counts: np.ndarray  # (P,) battles of each pair
    battle_pair: np.ndarray  # (N,) pair of each sorted battle
    pair_a: np.ndarray  # (P,) lower model of each pair
    pair_b: np.ndarray  # (P,) higher model
    side_a_t: sp.csr_matrix  # (M, P): 1 at side a
    side_b_t: sp.csr_matrix  # (M, P): 1 at side b
    signed_t: sp.csr_matrix  # (M, P): +1 at side a, -1 at side b
    unsigned_t: sp.csr_matrix  # (M, P): 1 at both sides
    x: np.ndarray  # (N, F) features, sorted, negated where the sides were swapped
    x_t: np.ndarray  # (F, N) the same, C order
    s: np.ndarray  # (N,) score of side a, sorted
    w: np.ndarray  # (N,) battle weights, sorted
    unit_weights: bool  # every weight is 1 (the multiplicities are the weights)

    @property
    def n_battles(self) -> int:
        """Number of battles."""
        return len(self.s)

    @property
    def n_params(self) -> int:
        """Strengths plus style coefficients."""
        return self.n_models + self.x.shape[1]


def style_layout(
    a: np.ndarray, b: np.ndarray, x: np.ndarray, s: np.ndarray, w: np.ndarray, n_models: int
) -> StyleLayout:
    """The sorted layout of the battles (a, b model codes; x (N, F) features; s scores; w weights)."""
    swap = a > b
    lo, hi = np.where(swap, b, a).astype(np.int64), np.where(swap, a, b).astype(np.int64)
    key = lo * n_models + hi
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    starts = np.flatnonzero(new)
    battle_pair = np.cumsum(new) - 1
    pair_a, pair_b = sorted_key[starts] // n_models, sorted_key[starts] % n_models
    cols, ones = np.arange(len(starts)), np.ones(len(starts))
    side_a_t = sp.csr_matrix((ones, (pair_a, cols)), shape=(n_models, len(starts)))
    side_b_t = sp.csr_matrix((ones, (pair_b, cols)), shape=(n_models, len(starts)))
    sign = np.where(swap, -1.0, 1.0)[order]
    xs = np.ascontiguousarray(x[order] * sign[:, None])
    ss = np.where(swap[order], 1.0 - s[order], s[order])
    ws = np.ascontiguousarray(w[order], dtype=float)
    return StyleLayout(
        n_models,
        order,
        starts,
        np.diff(np.r_[starts, len(key)]),
        battle_pair,
        pair_a,
        pair_b,
        side_a_t,
        side_b_t,
        (side_a_t - side_b_t).tocsr(),
        (side_a_t + side_b_t).tocsr(),
        xs,
        np.ascontiguousarray(xs.T),
        ss,
        ws,
        bool(np.all(ws == 1.0)),
    )


@dataclass(frozen=True)
class FullHessian:
    """The full data's Hessian blocks at a point: pair weights, strength-feature and feature-feature blocks."""

    pair: np.ndarray  # (P,) sum of w p (1 - p) per pair
    cross: np.ndarray  # (M, F)
    features: np.ndarray  # (F, F)


def _logits(lay: StyleLayout, params: np.ndarray) -> np.ndarray:
    """(N,) logits of side a at one parameter vector."""
    theta, beta = params[: lay.n_models], params[lay.n_models :]
    return (theta[lay.pair_a] - theta[lay.pair_b])[lay.battle_pair] + lay.x @ beta


def loss(lay: StyleLayout, params: np.ndarray) -> float:
    """Weighted negative log-likelihood at params."""
    z = _logits(lay, params)
    return float(
        np.dot(lay.w * lay.s, np.logaddexp(0.0, -z)) + np.dot(lay.w * (1.0 - lay.s), np.logaddexp(0.0, z))
    )


def gradient_hessian(lay: StyleLayout, params: np.ndarray) -> tuple[np.ndarray, FullHessian, np.ndarray]:
    """Gradient (M + F,), exact Hessian blocks and win probabilities (N,) of the full data at params."""
    p = logistic(_logits(lay, params))
    c = lay.w * (p - lay.s)
    h = lay.w * p * (1.0 - p)
    grad = np.r_[lay.signed_t @ np.add.reduceat(c, lay.starts), lay.x_t @ c]
    cross_pair = np.add.reduceat(h[:, None] * lay.x, lay.starts, axis=0)  # (P, F)
    hess = FullHessian(np.add.reduceat(h, lay.starts), lay.signed_t @ cross_pair, (lay.x_t * h) @ lay.x)
    return grad, hess, p


def newton_steps(
    lay: StyleLayout, grad: np.ndarray, pair_h: np.ndarray, cross: np.ndarray, feat: np.ndarray
) -> np.ndarray:
    """(B, M + F) Newton steps H^-1 g of B rounds, H = [[L + rho 11', C], [C', D]] with L the Laplacian of
    the rounds' pair weights pair_h (B, P), C = cross (M, F) and D = feat (F, F) shared; grad is (B, M + F).
    Raises numpy's LinAlgError when a round's matrix is singular."""
    m = lay.n_models
    n_rounds = grad.shape[0]
    diag = (lay.unsigned_t @ pair_h.T).T  # (B, M)
    lap = np.zeros((n_rounds, m, m))
    lap[:, lay.pair_a, lay.pair_b] = -pair_h
    lap[:, lay.pair_b, lay.pair_a] = -pair_h
    lap += (diag.sum(axis=1) / m / m)[:, None, None]
    idx = np.arange(m)
    lap[:, idx, idx] += diag
    rhs = np.concatenate([grad[:, :m, None], np.broadcast_to(cross, (n_rounds, *cross.shape))], axis=2)
    solved = np.linalg.solve(lap, rhs)  # (B, M, 1 + F)
    schur = feat - np.einsum("mf,bmg->bfg", cross, solved[:, :, 1:])
    v = np.linalg.solve(schur, (grad[:, m:] - solved[:, :, 0] @ cross)[:, :, None])[:, :, 0]
    u = solved[:, :, 0] - np.einsum("bmf,bf->bm", solved[:, :, 1:], v)
    return np.concatenate([u, v], axis=1)


def newton_fit(
    lay: StyleLayout, diverged: float, start: np.ndarray | None = None, max_iter: int = 60
) -> np.ndarray | None:
    """Maximum-likelihood (theta centred, beta) by damped Newton with the exact Hessian, from start (zeros by
    default); None when it runs off past `diverged` (no finite maximum) or does not converge."""
    params = np.zeros(lay.n_params) if start is None else np.array(start, float)
    current = loss(lay, params)
    for _ in range(max_iter):
        grad, hess, _ = gradient_hessian(lay, params)
        try:
            step = newton_steps(lay, grad[None], hess.pair[None], hess.cross, hess.features)[0]
        except np.linalg.LinAlgError:
            return None
        size = float(np.max(np.abs(step)))
        if size < 1e-6:  # Newton's quadratic range: full steps (the loss cannot register gains this small)
            params = params - step
            if size < 1e-10:
                break
            current = loss(lay, params)
            continue
        t = 1.0
        while True:  # backtracking: the loss is convex, a short enough step along -H^-1 g lowers it
            trial = params - t * step
            value = loss(lay, trial)
            if value <= current or t < 1e-8:
                break
            t *= 0.5
        params, current = trial, value
        if np.max(np.abs(params)) > diverged:
            return None
    else:
        return None
    params[: lay.n_models] -= params[: lay.n_models].mean()
    return params


def draw_battles(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) uint8 multiplicities of one round of resampling n battles with replacement.

    Drawn in two exact stages: how many of the n draws fall in each block of 65,536 battles (a
    multinomial over the blocks), then that many uniform uint16 positions inside each block. Same
    multinomial as n uniform indices, about 3x cheaper. (A count above 255 has probability below 1e-400.)"""
    edges = np.r_[np.arange(0, n, _DRAW_BLOCK), n]
    per_block = rng.multinomial(n, np.diff(edges) / n)
    out = np.empty(n, np.uint8)
    for lo, hi, count in zip(edges[:-1], edges[1:], per_block.tolist()):
        out[lo:hi] = np.bincount(rng.integers(0, hi - lo, count, dtype=np.uint16), minlength=hi - lo)
    return out


def draw_clusters(rng: np.random.Generator, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """(n,) multiplicities of one round resampling whole clusters (cluster code per battle)."""
    picked = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
    return picked[cluster]


class _Blocks:
    """Battle ranges of at most `width` battles, with each range's local pair segments."""

    def __init__(self, lay: StyleLayout, width: int) -> None:
        n = lay.n_battles
        self.ranges = []
        for lo in range(0, n, max(width, 1)):
            hi = min(lo + width, n)
            p0, p1 = int(lay.battle_pair[lo]), int(lay.battle_pair[hi - 1]) + 1
            local = np.r_[0, lay.starts[p0 + 1 : p1] - lo]
            self.ranges.append((lo, hi, p0, p1, local, np.diff(np.r_[local, hi - lo])))


def _pass(
    lay: StyleLayout,
    k: np.ndarray,
    params: np.ndarray | None,
    at_full: tuple[np.ndarray, np.ndarray] | None,
    blocks: _Blocks,
    with_hessian: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradient (B, M + F) and pair Hessian weights (B, P) (None unless with_hessian) of B rounds with
    multiplicities k (B, N, sorted), at params (B, M + F).

    With at_full = (c, h), the per-battle p - s and p (1 - p) of the full fit, the pass is at the
    full fit (params unused), linear in k, and also returns each round's per-pair (weight, side a's score)
    as a (2, B, P) array (for `regular`)."""
    m, n_rounds, n_pairs = lay.n_models, k.shape[0], len(lay.starts)
    parts = 4 if at_full is not None else 2 if with_hessian else 1
    sums = np.zeros((parts, n_rounds, n_pairs))  # per pair: gradient, Hessian weight, played, scored
    g_feat = np.zeros((n_rounds, lay.x.shape[1]))
    if params is not None:  # logits negated, so that exp needs no extra pass
        d_pair = params[:, lay.pair_b] - params[:, lay.pair_a]  # (B, P)
        beta = -params[:, m:]
    for lo, hi, p0, p1, local, lengths in blocks.ranges:
        kw = k[:, lo:hi].astype(float)
        if not lay.unit_weights:
            kw *= lay.w[lo:hi]
        out = np.empty((parts, n_rounds, hi - lo))
        if at_full is not None:
            np.multiply(kw, at_full[0][lo:hi], out=out[0])
            np.multiply(kw, at_full[1][lo:hi], out=out[1])
            np.multiply(kw, lay.s[lo:hi], out=out[3])
            out[2] = kw
        else:
            e = np.matmul(beta, lay.x_t[:, lo:hi])
            e += np.repeat(d_pair[:, p0:p1], lengths, axis=1)
            with np.errstate(over="ignore"):
                np.exp(e, out=e)
            e += 1.0
            p = np.reciprocal(e, out=e)
            if with_hessian:
                h = np.multiply(p, p, out=out[1])
                np.subtract(p, h, out=h)
                h *= kw
            np.subtract(p, lay.s[lo:hi], out=out[0])
            out[0] *= kw
        sums[:, :, p0:p1] += np.add.reduceat(out.reshape(parts * n_rounds, -1), local, axis=1).reshape(
            parts, n_rounds, -1
        )
        g_feat += out[0] @ lay.x[lo:hi]
    grad = np.concatenate([(lay.signed_t @ sums[0].T).T, g_feat], axis=1)
    return grad, sums[1] if parts > 1 else None, sums[2:] if at_full is not None else None


def regular(lay: StyleLayout, tally: np.ndarray) -> np.ndarray:
    """(B,) rounds in which every model won and lost something, from `_pass`'s per-pair (weight, score)."""
    played, scored = tally
    conceded = played - scored
    won = (lay.side_a_t @ scored.T + lay.side_b_t @ conceded.T).T
    lost = (lay.side_a_t @ conceded.T + lay.side_b_t @ scored.T).T
    return ((won > 0) & (lost > 0)).all(axis=1)


def full_inverse(lay: StyleLayout, hess: FullHessian) -> np.ndarray | None:
    """Inverse of the full data's Hessian (common shift made invertible), None if singular."""
    m = lay.n_models
    lap = -(sp.coo_matrix((hess.pair, (lay.pair_a, lay.pair_b)), shape=(m, m)).toarray())
    lap += lap.T
    diag = lay.unsigned_t @ hess.pair
    lap[np.arange(m), np.arange(m)] += diag
    lap += diag.sum() / m / m
    return spd_inverse(np.block([[lap, hess.cross], [hess.cross.T, hess.features]]))


def refit_rounds(
    lay: StyleLayout,
    k: np.ndarray,
    params_full: np.ndarray,
    hess: FullHessian,
    p_full: np.ndarray,
    h_inv: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit B rounds given by multiplicities k (B, N, in the layout's order) from the full fit params_full
    (whose Hessian blocks are `hess` and win probabilities p_full). Returns (params (B, M + F), converged (B,),
    passes (B,)), strengths centred. With h_inv (the full Hessian's inverse), every pass steps with it
    instead of the rounds' own pair Laplacians (for many models)."""
    n_rounds = k.shape[0]
    blocks = _Blocks(lay, max(_BLOCK // max(n_rounds, 1), 1))
    at_full = (p_full - lay.s, p_full * (1.0 - p_full))
    grad, h_pair, tally = _pass(lay, k, None, at_full, blocks)
    x = np.tile(params_full, (n_rounds, 1))
    converged = np.zeros(n_rounds, bool)
    passes = np.zeros(n_rounds, int)
    todo = np.flatnonzero(regular(lay, tally))
    last = np.full(n_rounds, np.inf)
    grad, h_pair, sub = grad[todo], h_pair[todo], k[todo]  # the rounds still refitted, in order
    for it in range(_MAX_PASSES):
        if not todo.size:
            break
        if it:  # the pair Laplacian is refreshed once, at the first pass with the logistic
            grad, fresh, _ = _pass(lay, sub, x[todo], None, blocks, with_hessian=it == 1)
            h_pair = h_pair if fresh is None else fresh
        step = _steps(lay, grad, h_pair, hess, h_inv)
        x[todo] -= step
        passes[todo] += 1
        size = np.max(np.abs(step), axis=1)
        rate = np.where(np.isfinite(last[todo]), size / last[todo], 1.0)
        r = np.clip(rate, 1e-3, 0.8)
        done = (size < _TOL) | ((rate < 0.8) & (size * r / (1.0 - r) < _TOL))
        converged[todo[done]] = True
        keep = ~done & (size <= 0.8 * last[todo]) & np.isfinite(size)
        last[todo] = size
        todo = todo[keep]
        if not keep.all():
            h_pair, sub = h_pair[keep], sub[keep]
    x[:, : lay.n_models] -= x[:, : lay.n_models].mean(axis=1, keepdims=True)
    return x, converged, passes


def _steps(
    lay: StyleLayout, grad: np.ndarray, h_pair: np.ndarray, hess: FullHessian, h_inv: np.ndarray | None
) -> np.ndarray:
    """Newton steps of a set of rounds; a round whose matrix is singular gets a NaN step."""
    if h_inv is not None:
        return grad @ h_inv
    try:
        return newton_steps(lay, grad, h_pair, hess.cross, hess.features)
    except np.linalg.LinAlgError:
        out = np.full(grad.shape, np.nan)
        for row in range(grad.shape[0]):
            try:
                out[row] = newton_steps(
                    lay, grad[row : row + 1], h_pair[row : row + 1], hess.cross, hess.features
                )
            except np.linalg.LinAlgError:
                pass
        return out
