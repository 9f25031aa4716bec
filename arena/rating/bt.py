"""Bradley-Terry maximum likelihood on pair statistics: L-BFGS for one fit, batched Newton for many.

Parameters are natural log-odds strengths theta; ratings are factor * theta + shift with
factor = scale / ln(base). For a pair (i, j) with weighted score S of i and total weight N:
loss = S * softplus(theta_j - theta_i) + (N - S) * softplus(theta_i - theta_j), a tie counting as half a win.

When the maximum likelihood estimate does not exist (a model or group of models never lost or never
won, or a disconnected comparison graph) the fit adds a small symmetric prior: `alpha` virtual ties of
every model against a reference player of strength 0. It keeps ratings finite and is only used when needed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit

from arena.errors import ArenaError

_HESSIAN_CELLS = 8_000_000  # newton_batch holds at most this many (rounds x M x M) Hessian entries at once


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), stable for large |x|."""
    return np.logaddexp(0.0, x)


def one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which BLAS runs a single thread. The refits' matrix products are small (models x
    models x rounds, battles x a few features): BLAS threads, spinning while they wait, cost more CPU than
    they save (measured: the 1.5M-battle bootstrap 4.1 -> 3.0 s of CPU, a style point fit on 50k battles
    1.1 -> 0.12 s), and the bootstrap's draw threads already use the other core. A no-op without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def on_one_blas_thread(fn: Callable) -> Callable:
    """Decorator: run fn inside one_blas_thread()."""

    @functools.wraps(fn)
    def inner(*args: object, **kwargs: object) -> object:
        with one_blas_thread():
            return fn(*args, **kwargs)

    return inner


def logistic(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-x)) through numpy's vectorised exp: equal to scipy's expit within 2.3e-16, and several
    times faster on the large (pairs x rounds) arrays of the bootstrap refits; exp overflows to inf for
    x < -709, which gives the correct 0."""
    with np.errstate(over="ignore"):
        out = np.negative(x, out=out)
        np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)


def bt_loss_grad(
    theta: np.ndarray, pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray, alpha: float = 0.0
) -> tuple[float, np.ndarray]:
    """Negative log-likelihood (plus prior) of BT strengths theta and its gradient."""
    d = theta[pi] - theta[pj]
    loss = float(np.dot(s, _softplus(-d)) + np.dot(n - s, _softplus(d)))
    gd = n * expit(d) - s
    m = theta.shape[0]
    grad = np.bincount(pi, gd, m) - np.bincount(pj, gd, m)
    if alpha > 0:
        prior_loss, prior_grad = tie_prior(theta, alpha)
        loss += prior_loss
        grad += prior_grad
    return loss, grad


def tie_prior(theta: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Loss and gradient of `alpha` virtual ties of every model against a reference player of strength 0."""
    loss = alpha * float(np.sum(0.5 * _softplus(-theta) + 0.5 * _softplus(theta)))
    return loss, alpha * (expit(theta) - 0.5)


def minimize_lbfgs(
    loss_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, total: float
) -> np.ndarray:
    """Minimise loss_grad / total (total = summed battle weight) with L-BFGS and the analytic gradient."""
    if total <= 0:
        raise ArenaError("all battles have weight 0: nothing to rate")

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = loss_grad(x)
        return loss / total, grad / total

    result = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20_000, "maxcor": 30, "gtol": 1e-11, "ftol": 1e-15},
    )
    return result.x


NEWTON_MAX_MODELS = 3000  # dense Hessians up to this size (72 MB); more models go to L-BFGS


@on_one_blas_thread
def fit_point(
    pi: np.ndarray,
    pj: np.ndarray,
    s: np.ndarray,
    n: np.ndarray,
    n_models: int,
    alpha: float = 0.0,
) -> np.ndarray:
    """Fit strengths by damped Newton steps with the exact (dense) Hessian of the pair counts, from zero;
    converges in a few steps where L-BFGS takes ~10 gradient passes and a polish. Runs on one BLAS thread
    (a 150 x 150 solve took 0.13 s with BLAS threads on a busy two-core machine, 3 ms on one). Falls back
    to fit_lbfgs above NEWTON_MAX_MODELS models or when Newton does not converge. Without the prior the
    strengths are centred on mean 0, as fit_lbfgs centres them."""
    if float(n.sum()) <= 0:
        raise ArenaError("all battles have weight 0: nothing to rate")
    if n_models <= NEWTON_MAX_MODELS:
        try:
            theta, ok = newton_batch(pi, pj, s[None, :], n[None, :], np.zeros((1, n_models)), np.array([alpha]),
                                     max_iter=200)
        except np.linalg.LinAlgError:
            ok = np.zeros(1, bool)
        if ok[0] and np.all(np.isfinite(theta)):
            return theta[0] if alpha > 0 else theta[0] - theta[0].mean()
    return fit_lbfgs(pi, pj, s, n, n_models, alpha)


@on_one_blas_thread
def fit_lbfgs(
    pi: np.ndarray,
    pj: np.ndarray,
    s: np.ndarray,
    n: np.ndarray,
    n_models: int,
    alpha: float = 0.0,
    theta0: np.ndarray | None = None,
) -> np.ndarray:
    """Fit strengths with scipy L-BFGS and the analytic gradient, then polish with exact Newton steps."""
    total = float(n.sum())
    x0 = np.zeros(n_models) if theta0 is None else np.asarray(theta0, float)
    x = minimize_lbfgs(lambda theta: bt_loss_grad(theta, pi, pj, s, n, alpha), x0, total)
    theta = x - x.mean()
    polished, _ = newton_batch(pi, pj, s[None, :], n[None, :], theta[None, :], np.array([alpha]), max_iter=20)
    return polished[0]


def _incidence(pi: np.ndarray, pj: np.ndarray, n_models: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Signed (+1 at i, -1 at j) and unsigned (P, M) incidence matrices of the pairs."""
    p = len(pi)
    rows, cols = np.r_[np.arange(p), np.arange(p)], np.r_[pi, pj]
    signed = sp.csr_matrix((np.r_[np.ones(p), -np.ones(p)], (rows, cols)), shape=(p, n_models))
    unsigned = sp.csr_matrix((np.ones(2 * p), (rows, cols)), shape=(p, n_models))
    return signed, unsigned


def _batch_loss(
    theta: np.ndarray, pi: np.ndarray, pj: np.ndarray, s: np.ndarray, n: np.ndarray, alpha: np.ndarray
) -> np.ndarray:
    """Per-round loss for a (B, M) batch of strengths."""
    d = theta[:, pi] - theta[:, pj]
    loss = np.einsum("bp,bp->b", s, _softplus(-d)) + np.einsum("bp,bp->b", n - s, _softplus(d))
    return loss + alpha * np.sum(0.5 * _softplus(-theta) + 0.5 * _softplus(theta), axis=1)


def newton_batch(
    pi: np.ndarray,
    pj: np.ndarray,
    s: np.ndarray,
    n: np.ndarray,
    theta0: np.ndarray,
    alpha: np.ndarray,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit B independent BT problems at once with damped Newton steps; returns (theta (B, M), converged (B,)).

    s and n are (B, P) pair statistics sharing the pairs (pi, pj); models without battles in a round keep
    their starting value (they carry no information), and the Hessian's null direction (a common shift)
    is removed by a rank-one term, which changes the step but not the fixed point.
    """
    n_rounds, n_models = np.shape(theta0)
    chunk = max(1, _HESSIAN_CELLS // (n_models * n_models))
    if n_rounds > chunk:  # (rounds, M, M) Hessians: a few at a time
        parts = [newton_batch(pi, pj, s[k:k + chunk], n[k:k + chunk], theta0[k:k + chunk], alpha[k:k + chunk],
                              max_iter, tol) for k in range(0, n_rounds, chunk)]
        return np.vstack([x for x, _ in parts]), np.concatenate([ok for _, ok in parts])
    theta = np.array(theta0, float, copy=True)
    signed, unsigned = _incidence(pi, pj, n_models)
    degree = (unsigned.T @ n.T).T
    active = degree > 0
    converged = np.zeros(n_rounds, bool)
    todo = np.arange(n_rounds)
    diag_idx = np.arange(n_models)
    for _ in range(max_iter):
        th, sb, nb, ab, act = theta[todo], s[todo], n[todo], alpha[todo], active[todo]
        p = logistic(th[:, pi] - th[:, pj])
        grad = (signed.T @ (nb * p - sb).T).T
        h = nb * p * (1.0 - p)
        hess = np.zeros((len(todo), n_models, n_models))
        hess[:, pi, pj] = -h
        hess[:, pj, pi] = -h
        diag = (unsigned.T @ h.T).T
        q = logistic(th)
        grad += ab[:, None] * (q - 0.5)
        diag += ab[:, None] * q * (1.0 - q)
        diag = np.where(act | (ab[:, None] > 0), diag, 1.0)
        hess[:, diag_idx, diag_idx] = diag
        u = act.astype(float)
        shift = diag.mean(axis=1, keepdims=True)[:, :, None] / np.maximum(u.sum(axis=1), 1)[:, None, None]
        # the rank-one pin only where the common shift is free (no prior): with a prior it would turn
        # Newton into a slow chord iteration (prior fits stopped up to 3 rating points short)
        hess += np.where(ab[:, None, None] > 0, 0.0, shift) * u[:, :, None] * u[:, None, :]
        hess[:, diag_idx, diag_idx] += 1e-9 * shift[:, :, 0] * np.maximum(u.sum(axis=1, keepdims=True), 1)
        step = np.linalg.solve(hess, -grad[:, :, None])[:, :, 0]
        step = np.where(act | (ab[:, None] > 0), step, 0.0)
        t = np.ones(len(todo))
        new_theta = th + step
        # A step with |step| <= 0.25 provably decreases the loss (the logistic curvature changes by at most
        # exp(0.5) along it), so only large steps are checked and halved.
        risky = np.flatnonzero(np.max(np.abs(step), axis=1) > 0.25)
        if risky.size:
            old = _batch_loss(th[risky], pi, pj, sb[risky], nb[risky], ab[risky])
            trial = _batch_loss(new_theta[risky], pi, pj, sb[risky], nb[risky], ab[risky])
            for _ in range(60):
                worse = trial > old + 1e-12 * np.abs(old)
                if not worse.any():
                    break
                rows = risky[worse]
                t[rows] *= 0.5
                new_theta[rows] = th[rows] + t[rows, None] * step[rows]
                trial[worse] = _batch_loss(new_theta[rows], pi, pj, sb[rows], nb[rows], ab[rows])
        theta[todo] = new_theta
        done = np.max(np.abs(t[:, None] * step), axis=1) < tol
        converged[todo[done]] = True
        todo = todo[~done]
        if len(todo) == 0:
            break
    return theta, converged


def normalise(
    theta: np.ndarray,
    models: list[str],
    factor: float,
    init: float,
    anchor: tuple[str, float] | None = None,
    baseline: str | None = None,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Convert strengths to ratings: anchor model at its rating, baseline at init, else mean init.

    Works on (M,) or (B, M); models inactive in a round (active False) become NaN and do not enter the mean.
    """
    ratings = factor * np.atleast_2d(np.asarray(theta, float))
    if active is not None:
        ratings = np.where(np.atleast_2d(active), ratings, np.nan)
    if anchor is not None or baseline is not None:
        name, value = anchor if anchor is not None else (baseline, init)
        ratings = ratings - ratings[:, [models.index(name)]] + value
    else:
        present = np.isfinite(ratings)
        count = present.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):  # a round in which no model played has no mean: NaN, silently
            mean = np.where(present, ratings, 0.0).sum(axis=1, keepdims=True) / count
        ratings = ratings - mean + init
    return ratings[0] if np.ndim(theta) == 1 else ratings


def win_probability(r_a: np.ndarray, r_b: np.ndarray, scale: float = 400.0, base: float = 10.0) -> np.ndarray:
    """P(a beats b) = 1 / (1 + base ** ((r_b - r_a) / scale))."""
    return expit((np.asarray(r_a, float) - np.asarray(r_b, float)) * np.log(base) / scale)
