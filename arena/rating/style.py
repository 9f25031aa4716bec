"""Style control: a contextual Bradley-Terry with normalised style differences as extra features.

z = theta_a - theta_b + x . beta, where x holds normalised differences between the two
answers: length (a - b) / (a + b) in tokens, and markdown densities (headers, lists, bold per token)
compared the same way, each scaled to unit root mean square (not centred, so swapping the sides of
a battle flips x). The reported ratings are theta with the style terms held out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit

from arena.errors import ArenaError
from arena.rating.bt import minimize_lbfgs, on_one_blas_thread, tie_prior
from arena.rating.diagnostics import mle_exists
from arena.rating.style_refit import PairSorted, chord_refit_style, design, hessian_inverse, sort_by_pair

MARKDOWN = ("header", "list", "bold")
_DIVERGED = 15.0  # natural log-odds units (~2600 rating points): the maximum likelihood ran off to infinity
_RESCUE_PRIOR = 0.01
_BATCH_ROUNDS = 50
_BATCH_CELLS = 4_000_000  # battles x rounds refitted together (memory: a few arrays of this many floats)


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
    for name in np.array(names)[~keep]:
        warnings.append(f"style feature {name!r} does not vary and was left out")
    raw, names = raw[:, keep], [n for n, k in zip(names, keep) if k]
    return raw / scale[keep], names, warnings


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
    params = minimize_lbfgs(lambda p: _loss_grad(p, a, b, x, s, w, n_models, alpha), x0, float(w.sum())).copy()
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
    """Fit the contextual BT and bootstrap it by resampling battles (seeded, warm-started refits).

    With `clusters` (a cluster code per battle), whole clusters (questions) are resampled instead.

    Fits whose plain BT part has no finite maximum use the weak symmetric prior of `bt` (plus a ridge of
    the same weight on the style coefficients); a fit whose parameters still run off (separation through
    the style features) is redone with that prior; models absent from a round get NaN in that round.
    """
    alpha = prior_weight if needs_prior(a, b, s, w, n_models) else 0.0
    params = fit_style(a, b, x, s, w, n_models, alpha)
    rng = np.random.default_rng(seed)
    n = len(a)
    draws = np.empty((n_rounds, len(params)))
    h_inv = hessian_inverse(design(a, b, x, n_models), params, w, n_models) if alpha == 0 else None
    sd = sort_by_pair(a, b, x, s, n_models)
    w_sorted = w[sd.order]
    batch = int(max(1, min(_BATCH_ROUNDS, _BATCH_CELLS // max(n, 1))))
    for start in range(0, n_rounds, batch):
        # the same stream as one round at a time: round r's multiplicities do not depend on the batching
        ks = np.vstack([_multiplicities(rng, n, clusters) for _ in range(min(batch, n_rounds - start))])
        done = np.zeros(len(ks), bool)
        if h_inv is not None:
            weights = np.take(ks, sd.order, axis=1) * w_sorted  # (B, N) in sd's order
            regular = np.flatnonzero(_regular_rounds(sd, weights, n_models))
            if regular.size:
                got, converged = chord_refit_style(sd, weights[regular], params, h_inv, n_models)
                converged &= np.max(np.abs(got), axis=1) <= _DIVERGED
                draws[start + regular[converged]] = got[converged]
                done[regular[converged]] = True
        for row in np.flatnonzero(~done):
            draws[start + row] = _refit_round(a, b, x, s, w, ks[row], n_models, prior_weight, params)
    return StyleFit(params[:n_models], params[n_models:], features, draws)


def _regular_rounds(sd: PairSorted, weights: np.ndarray, n_models: int) -> np.ndarray:
    """(B,) rounds in which every model played and scored and conceded something (no prior in sight);
    weights are (B, N) in sd's order."""
    scored = np.add.reduceat(weights * sd.s, sd.starts, axis=1)  # (B, P) by directed pair
    conceded = np.add.reduceat(weights, sd.starts, axis=1) - scored
    rows = np.arange(len(sd.starts))
    side_a = sp.csr_matrix((np.ones(len(rows)), (rows, sd.pair_a)), shape=(len(rows), n_models))
    side_b = sp.csr_matrix((np.ones(len(rows)), (rows, sd.pair_b)), shape=(len(rows), n_models))
    won = scored @ side_a + conceded @ side_b
    lost = conceded @ side_a + scored @ side_b
    return ((won > 0) & (lost > 0)).all(axis=1)


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
    """One round refitted on its own by L-BFGS (prior when needed; absent models NaN)."""
    used = k > 0
    present = np.zeros(n_models, bool)
    present[a[used]] = present[b[used]] = True
    wk = w[used] * k[used]
    alpha = prior_weight if needs_prior(a[used], b[used], s[used], wk, n_models) else 0.0
    out = fit_style(a[used], b[used], x[used], s[used], wk, n_models, alpha, start)
    out[:n_models][~present] = np.nan
    return out


def _multiplicities(rng: np.random.Generator, n: int, clusters: np.ndarray | None) -> np.ndarray:
    """How often each of the n battles is drawn in one round (whole clusters at a time when given)."""
    if clusters is None:
        return np.bincount(rng.integers(0, n, n), minlength=n)
    n_clusters = int(clusters.max()) + 1
    return np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)[clusters]
