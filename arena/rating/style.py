"""Style control: a contextual Bradley-Terry with normalised style differences as extra features.

z = theta_a - theta_b + x . beta, where x holds normalised differences between the two
answers: length (a - b) / (a + b) in tokens, and markdown densities (headers, lists, bold per token)
compared the same way, each scaled to unit root mean square (not centred, so swapping the sides of
a battle flips x). The reported ratings are theta with the style terms held out.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from arena.errors import ArenaError
from arena.rating.bt import minimize_lbfgs, on_one_blas_thread, tie_prior
from arena.rating.diagnostics import mle_exists
from arena.rating.progress import rounds_done
from arena.rating.style_refit import (
    _DENSE_MODELS,
    draw_battles,
    draw_clusters,
    full_inverse,
    gradient_hessian,
    newton_fit,
    refit_rounds,
    style_layout,
)

MARKDOWN = ("header", "list", "bold")
_DIVERGED = 15.0  # natural log-odds units (~2600 rating points): the maximum likelihood ran off to infinity
_RESCUE_PRIOR = 0.01
_BATCH_ROUNDS = 64
_BATCH_CELLS = 32_000_000  # battles x rounds refitted together (their multiplicities: one byte each)
_WORKERS = 2  # batches refitted at once in threads (numpy releases the GIL); the caller draws the next one


@dataclass(frozen=True)
class StyleFit:
    """Controlled strengths (natural units), style coefficients and the bootstrap draws of both."""

    theta: np.ndarray  # (M,)
    beta: np.ndarray  # (F,) log-odds per root-mean-square unit of each feature
    features: list[str]
    draws: np.ndarray  # (R, M + F)


def _normalised_difference(x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b), 0 where both are 0."""
    total = x_a + x_b
    return np.divide(x_a - x_b, total, out=np.zeros_like(total), where=total > 0)


def style_features(battles: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str]]:
    """Standardised style features (N, F), their names, and warnings about dropped features."""
    if "len_a" not in battles or battles[["len_a", "len_b"]].isna().any().any():
        missing = battles[["len_a", "len_b"]].isna().any(axis=1) if "len_a" in battles else None
        where = f" (first at line {int(battles.loc[missing, 'line'].iloc[0])})" if missing is not None else ""
        raise ArenaError(
            f"style control needs len_a and len_b on every battle{where}",
            hint="add answer lengths in tokens, or drop --style-control",
        )
    len_a, len_b = battles["len_a"].to_numpy(float), battles["len_b"].to_numpy(float)
    columns, names, warnings = [_normalised_difference(len_a, len_b)], ["length"], []
    for kind in MARKDOWN:
        cols = [f"{kind}_a", f"{kind}_b"]
        if not set(cols) <= set(battles.columns) or battles[cols].isna().all().all():
            continue
        if battles[cols].isna().any().any():
            warnings.append(f"style feature {kind!r} is missing on some battles and was left out")
            continue
        dens_a = np.divide(
            battles[cols[0]].to_numpy(float), len_a, out=np.zeros(len(battles)), where=len_a > 0
        )
        dens_b = np.divide(
            battles[cols[1]].to_numpy(float), len_b, out=np.zeros(len(battles)), where=len_b > 0
        )
        columns.append(_normalised_difference(dens_a, dens_b))
        names.append(f"{kind}_density")
    raw = np.column_stack(columns)
    # Scaled by the root mean square, not centred: a difference (a - b) must change sign with the sides.
    # Centring would add the same -mean . beta to every battle's logit, a bonus for whichever model is
    # written first (Arena's pipeline writes pairs in sorted order). With random sides the mean is ~0 and
    # this equals the usual standardisation.
    scale = np.sqrt(np.mean(raw**2, axis=0))
    keep = scale > 1e-12
    for name in (n for n, k in zip(names, keep) if not k):
        warnings.append(f"style feature {name!r} does not vary and was left out")
    raw, names = raw[:, keep], [n for n, k in zip(names, keep) if k]
    return raw / scale[keep], names, warnings


_VIF_WARN = 10.0  # a coefficient's variance inflated this much by the other columns: R^2 0.9
_VIF_MODELS = 1500  # above this many models the (M + F)^2 normal matrix is not formed (the check is skipped)


def feature_vifs(a: np.ndarray, b: np.ndarray, x: np.ndarray, w: np.ndarray, n_models: int) -> np.ndarray:
    """Variance inflation factor of each style feature column against the model identities and the others.

    Weighted least squares of a feature column on the battle's model indicators (+1 for model_a, -1 for
    model_b) and the other features, without intercept (the features are not centred): R^2 = 1 - 1 / VIF,
    VIF_f = G_ff (G^-1)_ff of the normal matrix G of [indicators, features], one model's column left out
    (the indicators only fix rating differences). NaN when there are more than `_VIF_MODELS` models.
    """
    f, m = x.shape[1], n_models
    if not f or m < 2 or m > _VIF_MODELS:
        return np.full(f, np.nan)
    g = np.zeros((m + f, m + f))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = np.bincount(lo * m + hi, w, m * m).reshape(m, m)
    g[:m, :m] = -(pair + pair.T)
    g[np.arange(m), np.arange(m)] = np.bincount(a, w, m) + np.bincount(b, w, m)
    wx = w[:, None] * x
    cross = np.stack([np.bincount(a, wx[:, k], m) - np.bincount(b, wx[:, k], m) for k in range(f)], axis=1)
    g[:m, m:], g[m:, :m] = cross, cross.T
    g[m:, m:] = x.T @ wx
    keep = np.r_[np.arange(1, m), np.arange(m, m + f)]
    reduced = g[np.ix_(keep, keep)]
    inverse = np.linalg.pinv(reduced, hermitian=True)
    diag = np.diag(reduced)[m - 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diag > 0, diag * np.diag(inverse)[m - 1:], np.inf)


def confounded_features(
    a: np.ndarray, b: np.ndarray, x: np.ndarray, w: np.ndarray, n_models: int, names: list[str]
) -> list[str]:
    """Warnings for the style features that the model identities (and the other features) nearly determine.

    A model that writes about the same lengths or markdown in every answer makes its feature differences a
    function of who plays: the fit cannot tell style from strength and the style-controlled ratings get wide
    intervals.
    """
    out = []
    for name, vif in zip(names, feature_vifs(a, b, x, w, n_models)):
        if vif >= _VIF_WARN:  # NaN (not checked) compares False
            out.append(
                f"style feature {name!r} is {1.0 - 1.0 / vif:.1%} determined by which models play (and the "
                f"other features; variance inflated {vif:,.0f}x): the models write about the same "
                f"{name.replace('_', ' ')} in every answer, so the data cannot tell their style from their "
                "strength and the style-controlled ratings have wide intervals; read the plain ratings, or rate "
                "battles whose answers vary in style within each model"
            )
    return out


def _loss_grad(
    params: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    s: np.ndarray,
    w: np.ndarray,
    n_models: int,
    alpha: float,
) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood of the contextual BT (plus the weak prior) and its gradient."""
    theta, beta = params[:n_models], params[n_models:]
    z = theta[a] - theta[b] + x @ beta
    loss = float(np.dot(w * s, np.logaddexp(0.0, -z)) + np.dot(w * (1 - s), np.logaddexp(0.0, z)))
    gz = w * (expit(z) - s)
    grad = np.concatenate([np.bincount(a, gz, n_models) - np.bincount(b, gz, n_models), x.T @ gz])
    if alpha > 0:
        prior_loss, prior_grad = tie_prior(theta, alpha)
        loss += prior_loss
        loss += 0.5 * alpha * float(beta @ beta)
        grad[:n_models] += prior_grad
        grad[n_models:] += alpha * beta
    return loss, grad


def fit_style(
    a: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    s: np.ndarray,
    w: np.ndarray,
    n_models: int,
    alpha: float = 0.0,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Fit (theta, beta) by L-BFGS with the analytic gradient; returns the concatenated parameters."""
    x0 = np.zeros(n_models + x.shape[1]) if start is None else start
    params = minimize_lbfgs(
        lambda p: _loss_grad(p, a, b, x, s, w, n_models, alpha), x0, float(w.sum())
    ).copy()
    if (
        alpha == 0
        and np.max(np.abs(params - params[:n_models].mean() * (np.arange(len(params)) < n_models)))
        > _DIVERGED
    ):
        return fit_style(a, b, x, s, w, n_models, _RESCUE_PRIOR, None)
    params[:n_models] -= params[:n_models].mean()
    return params


def needs_prior(a: np.ndarray, b: np.ndarray, s: np.ndarray, w: np.ndarray, n_models: int) -> bool:
    """True when plain BT on these battles has no finite maximum (so the weak prior is needed)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    own = np.where(a < b, s, 1.0 - s)
    keys, pair = np.unique(lo * n_models + hi, return_inverse=True)
    s_pair, n_pair = np.bincount(pair, w * own), np.bincount(pair, w)
    return not mle_exists(n_models, keys // n_models, keys % n_models, s_pair, n_pair)


@on_one_blas_thread
def style_control(
    a: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    features: list[str],
    s: np.ndarray,
    w: np.ndarray,
    n_models: int,
    n_rounds: int,
    seed: int,
    prior_weight: float,
    clusters: np.ndarray | None = None,
) -> StyleFit:
    """Fit the contextual BT and bootstrap it by resampling battles (seeded, batched Newton refits).

    With `clusters` (a cluster code per battle), whole clusters (questions) are resampled instead.
    Round r's multiplicities are `round_multiplicities` of the generator seeded with `seed` after r rounds.

    Fits whose plain BT part has no finite maximum use the weak symmetric prior of `bt` (plus a ridge of
    the same weight on the style coefficients); a fit whose parameters still run off (separation through
    the style features) is redone with that prior; models absent from a round get NaN in that round.
    """
    lay = style_layout(a, b, x, s, w, n_models)
    alpha = prior_weight if needs_prior(a, b, s, w, n_models) else 0.0
    params = newton_fit(lay, _DIVERGED) if alpha == 0 else None
    batched = params is not None  # the batched refits start from an exact unpenalised fit
    if params is None:
        params = fit_style(a, b, x, s, w, n_models, alpha)
    draws = np.empty((n_rounds, len(params)))
    if n_rounds == 0:
        return StyleFit(params[:n_models], params[n_models:], features, draws)
    n = len(a)
    rng = np.random.default_rng(seed)
    hess, p_full, h_inv = None, None, None
    if batched:
        _, hess, p_full = gradient_hessian(lay, params)
        h_inv = full_inverse(lay, hess) if n_models > _DENSE_MODELS else None
        batched = n_models <= _DENSE_MODELS or h_inv is not None
    cluster = None if clusters is None else clusters[lay.order]
    batch = int(max(1, min(_BATCH_ROUNDS, _BATCH_CELLS // max(n, 1))))

    def finish(start: int, ks: np.ndarray, refit: Future | None) -> None:
        done = np.zeros(len(ks), bool)
        if refit is not None:
            got, converged, _ = refit.result()
            done = converged & (np.max(np.abs(got), axis=1) <= _DIVERGED)
            draws[start + np.flatnonzero(done)] = got[done]
        for row in np.flatnonzero(~done):  # the round's own exact fit (prior, absent model, no convergence)
            k = np.empty(n, ks.dtype)
            k[lay.order] = ks[row]
            draws[start + row] = _refit_round(a, b, x, s, w, k, n_models, prior_weight, params)
        rounds_done(len(ks))

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        pending: deque[tuple[int, np.ndarray, Future | None]] = deque()
        for start in range(0, n_rounds, batch):
            # drawn in order in this thread: round r's multiplicities do not depend on the batching
            size = min(batch, n_rounds - start)
            if cluster is None:  # one byte per battle and round, filled in place
                ks = np.empty((size, n), np.uint8)
                for row in ks:
                    row[:] = draw_battles(rng, n)
            else:
                ks = np.vstack([round_multiplicities(rng, n, cluster) for _ in range(size)])
            refit = pool.submit(refit_rounds, lay, ks, params, hess, p_full, h_inv) if batched else None
            pending.append((start, ks, refit))
            if len(pending) > _WORKERS:
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())
    return StyleFit(params[:n_models], params[n_models:], features, draws)


def round_multiplicities(rng: np.random.Generator, n: int, cluster: np.ndarray | None) -> np.ndarray:
    """How often each of the n battles (in `style_layout`'s order) is drawn in one round; whole clusters
    at a time when `cluster` (a code per battle, in that order) is given."""
    if cluster is None:
        return draw_battles(rng, n)
    k = draw_clusters(rng, cluster, int(cluster.max()) + 1)
    return k.astype(np.uint8) if k.max() <= 255 else k


def _refit_round(
    a: np.ndarray,
    b: np.ndarray,
    x: np.ndarray,
    s: np.ndarray,
    w: np.ndarray,
    k: np.ndarray,
    n_models: int,
    prior_weight: float,
    start: np.ndarray,
) -> np.ndarray:
    """One round refitted on its own (absent models NaN): Newton on the models present, or L-BFGS with the
    prior when the round needs it (or Newton runs off)."""
    used = k > 0
    present = np.zeros(n_models, bool)
    present[a[used]] = present[b[used]] = True
    wk = w[used] * k[used]
    alpha = prior_weight if needs_prior(a[used], b[used], s[used], wk, n_models) else 0.0
    out = np.full(len(start), np.nan)
    if alpha == 0:
        code = np.cumsum(present) - 1  # models present in the round, renumbered
        lay = style_layout(code[a[used]], code[b[used]], x[used], s[used], wk, int(present.sum()))
        fit = newton_fit(lay, _DIVERGED, np.r_[start[:n_models][present], start[n_models:]])
        if fit is not None:
            out[:n_models][present], out[n_models:] = fit[: lay.n_models], fit[lay.n_models :]
            return out
    out = fit_style(a[used], b[used], x[used], s[used], wk, n_models, alpha, start)
    out[:n_models][~present] = np.nan
    return out
