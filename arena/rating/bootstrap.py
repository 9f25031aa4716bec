"""Bootstrap of the BT fit: multinomial resampling of the cell counts, batched warm-started refits.

Drawing a multinomial with N trials over the (pair, outcome, weight) cells with probabilities
count / N is the same as resampling the N battles with replacement, at a fraction of the cost.

Degenerate rounds are handled explicitly:
- a model with no battles in a round gets NaN in that round and the round is left out of that model's
  interval (the number of such rounds is reported);
- a round in which the maximum likelihood does not exist (some model or group only won or only lost)
  is refitted with the weak symmetric prior of `bt` (alpha virtual ties against a reference player);
  the number of such rounds is reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from arena.rating.bt import fit_lbfgs, logistic, newton_batch, on_one_blas_thread
from arena.rating.chord import chord_solve, spd_inverse
from arena.rating.newton_cg import newton_cg_refit
from arena.rating.clusters import draw_cluster_counts
from arena.rating.counts import PairCounts
from arena.rating.diagnostics import mle_exists, mle_exists_batch

_BATCH_ROUNDS = 50
_BATCH_CELLS = 2_000_000  # rounds x cells drawn at once
_REFIT_ROUNDS = 64
_REFIT_CELLS = 8_000_000  # rounds x pairs refitted at once (a few float arrays of this size)
_TOL = 2e-9  # estimated error (natural units) of a converged refit: 3.5e-7 rating points


@dataclass(frozen=True)
class BootstrapDraws:
    """Per-round strengths of a bootstrap, with the bookkeeping of degenerate rounds."""

    theta: np.ndarray  # (R, M) natural-unit strengths
    active: np.ndarray  # (R, M) model had battles in the round
    prior_rounds: np.ndarray  # (R,) round needed the prior

    @property
    def n_rounds(self) -> int:
        """Number of rounds."""
        return self.theta.shape[0]


def multinomial_by_poisson(rng: np.random.Generator, cell_count: np.ndarray, size: int) -> np.ndarray:
    """(size, C) draws of Multinomial(N, cell_count / N), N = cell_count.sum(): resampling N battles with
    replacement, at about half the cost of numpy's sequential binomials.

    Each cell gets a Poisson(cell_count) draw; given their sum S, Poisson counts are Multinomial(S, p). The
    total is then made N exactly: with S < N, N - S more battles drawn from p are added (the sum of
    independent multinomials with the same p); with S > N, S - N of the S drawn battles, chosen uniformly
    without replacement, are removed (a uniform subset of i.i.d. draws is i.i.d.). Both corrections keep
    the distribution exactly multinomial; they touch about sqrt(N) battles per round.
    """
    total = int(cell_count.sum())
    lam = cell_count.astype(float)
    cdf = np.cumsum(lam)
    draws = rng.poisson(lam, size=(size, len(lam)))
    for row, drawn in zip(draws, draws.sum(axis=1).tolist()):
        if drawn < total:
            extra = np.searchsorted(cdf, rng.random(total - drawn) * cdf[-1], side="right")
            row += np.bincount(extra, minlength=len(lam))
        elif drawn > total:
            gone = rng.choice(drawn, drawn - total, replace=False)  # positions among the drawn battles
            row -= np.bincount(np.searchsorted(np.cumsum(row), gone, side="right"), minlength=len(lam))
    return draws


def _draw(
    cell_count: np.ndarray, clusters: sp.csr_matrix | None, seed_seq: np.random.SeedSequence, size: int
) -> np.ndarray:
    """One batch of resampled cell counts (battles, or whole questions when clusters is given), own stream."""
    rng = np.random.default_rng(seed_seq)
    if clusters is not None:
        return draw_cluster_counts(clusters, rng, size)
    return multinomial_by_poisson(rng, cell_count, size)


def resample_counts(
    counts: PairCounts, n_rounds: int, seed: int, workers: int = 2, clusters: sp.csr_matrix | None = None
) -> Iterator[np.ndarray]:
    """Yield (B, C) batches of resampled cell counts, reproducible from the seed.

    Without clusters, battles are resampled (a multinomial over the cells, `multinomial_by_poisson`); with
    a (questions, cells)
    cluster matrix, questions are resampled with all their battles. Batch k is drawn from child k of
    SeedSequence(seed), so the draws do not depend on threading; numpy releases the GIL while sampling,
    so batches are drawn in worker threads while the caller refits.
    """
    width = max(len(counts.cell_count), clusters.shape[0] if clusters is not None else 0, 1)
    batch = int(max(1, min(_BATCH_ROUNDS, _BATCH_CELLS // width)))
    sizes = [min(batch, n_rounds - start) for start in range(0, n_rounds, batch)]
    seqs = np.random.SeedSequence(seed).spawn(len(sizes))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[np.ndarray]] = deque()
        for seq, size in zip(seqs, sizes):
            pending.append(pool.submit(_draw, counts.cell_count, clusters, seq, size))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def full_hessian_inverse(counts: PairCounts, theta: np.ndarray) -> np.ndarray | None:
    """Inverse of the full-data BT Hessian at theta (common shift made invertible); None if disconnected."""
    _, n = counts.pair_stats()
    pi, pj, m = counts.pair_i, counts.pair_j, counts.n_models
    p = expit(theta[pi] - theta[pj])
    h = n * p * (1.0 - p)
    off = sp.coo_matrix((np.r_[-h, -h], (np.r_[pi, pj], np.r_[pj, pi])), shape=(m, m)).toarray()
    diag = np.bincount(pi, h, m) + np.bincount(pj, h, m)
    hess = off + np.diag(diag) + diag.sum() / m / m
    return spd_inverse(hess)


def chord_refit(
    pi: np.ndarray,
    pj: np.ndarray,
    signed_t: sp.csr_matrix,
    s_t: np.ndarray,
    n_t: np.ndarray,
    theta_full: np.ndarray,
    h_inv: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit resamples (pair statistics as (P, B) columns) with Newton-chord steps reusing the full-data
    Hessian (`chord`); signed_t is the (M, P) signed incidence; returns (theta (B, M), converged (B,))."""
    cache = {"cols": s_t.shape[1], "s": s_t, "n": n_t, "first": True}
    p_full = logistic(theta_full[pi] - theta_full[pj])[:, None]

    def step(cur: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if len(cols) != cache["cols"]:  # rounds only ever leave: a new length is a new subset
            cache.update(cols=len(cols), s=s_t[:, cols], n=n_t[:, cols])
        if cache.pop("first", False):  # every round starts at the full fit: its win probabilities are known
            d = cache["n"] * p_full
        else:
            d = np.take(cur, pi, axis=0)
            d -= np.take(cur, pj, axis=0)
            logistic(d, out=d)
            d *= cache["n"]
        d -= cache["s"]
        return h_inv @ (signed_t @ d)

    theta, converged = chord_solve(step, np.tile(theta_full[:, None], (1, s_t.shape[1])), _TOL)
    return theta.T, converged


def _pair_batches(
    counts: PairCounts, n_rounds: int, seed: int, clusters: sp.csr_matrix | None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(s, n, active) of consecutive rounds, in batches sized for the refit ((B, P) pair statistics)."""
    size = int(max(1, min(_REFIT_ROUNDS, _REFIT_CELLS // max(len(counts.pair_i), 1))))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    held = 0
    for batch in resample_counts(counts, n_rounds, seed, clusters=clusters):
        s, n = counts.pair_stats(batch)
        parts.append((s, n, counts.model_battles(batch) > 0))
        held += len(batch)
        if held >= size:
            yield tuple(np.vstack(column) for column in zip(*parts))  # type: ignore[misc]
            parts, held = [], 0
    if parts:
        yield tuple(np.vstack(column) for column in zip(*parts))  # type: ignore[misc]


@dataclass(frozen=True)
class Refits:
    """What every batch of refits of one data set shares: its pairs, full fit, full-data inverse Hessian."""

    counts: PairCounts
    theta_full: np.ndarray  # (M,) natural-unit strengths of the full-data fit
    prior_weight: float
    h_inv: np.ndarray | None  # None when the full-data Hessian is singular (disconnected graph)
    full_ok: bool  # the full data have a finite maximum likelihood
    side_i: sp.csr_matrix
    side_j: sp.csr_matrix
    signed_t: sp.csr_matrix  # (M, P) signed incidence

    @classmethod
    def prepare(cls, counts: PairCounts, theta_full: np.ndarray, prior_weight: float) -> Refits:
        """The shared parts for refits of resamples of `counts` warm-started from theta_full."""
        m, pi, pj = counts.n_models, counts.pair_i, counts.pair_j
        side_i, side_j = _side(pi, m), _side(pj, m)
        return cls(
            counts, theta_full, prior_weight, full_hessian_inverse(counts, theta_full),
            mle_exists(m, pi, pj, *counts.pair_stats()), side_i, side_j, (side_i - side_j).T.tocsr(),
        )


def refit_batch(refits: Refits, s: np.ndarray, n: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refit a batch of resamples given as (B, P) pair statistics with (B, M) active models; returns
    (theta (B, M), needs_prior (B,)).

    Regular rounds (every model played, won and lost) take Newton-chord steps against the full-data
    Hessian; rounds it cannot finish and rounds needing the prior go to batched Newton-CG, then dense
    batched Newton, then L-BFGS one by one. Inactive models keep theta_full (the caller masks them).
    """
    counts, theta_full, prior_weight, h_inv = refits.counts, refits.theta_full, refits.prior_weight, refits.h_inv
    m, pi, pj = counts.n_models, counts.pair_i, counts.pair_j
    won = (s @ refits.side_i) + ((n - s) @ refits.side_j)
    lost = ((n - s) @ refits.side_i) + (s @ refits.side_j)
    one_sided = ((won <= 0) | (lost <= 0)) & active
    needs_prior = one_sided.any(axis=1) | (active.sum(axis=1) < 2)
    if not refits.full_ok:
        needs_prior |= ~mle_exists_batch(m, pi, pj, s, n)
    regular = ~needs_prior & active.all(axis=1)
    theta = np.tile(theta_full, (len(s), 1))
    ok = np.zeros(len(s), bool)
    if regular.any() and h_inv is not None:
        theta[regular], ok[regular] = chord_refit(
            pi, pj, refits.signed_t, s[regular].T, n[regular].T, theta_full, h_inv
        )
    if h_inv is not None:
        _newton_cg_rounds(counts, refits.signed_t, s, n, theta, ok, needs_prior, active, prior_weight, h_inv,
                          theta_full)
    rest = np.flatnonzero(~ok & ~needs_prior)
    if rest.size:
        theta[rest], ok[rest] = newton_batch(pi, pj, s[rest], n[rest], theta[rest], np.zeros(rest.size))
    for b in np.flatnonzero(~ok & ~needs_prior):
        needs_prior[b] = not mle_exists(m, pi, pj, s[b], n[b])
    redo = np.flatnonzero(~ok)
    if redo.size:
        alpha = np.where(needs_prior[redo], prior_weight, 0.0)
        start = np.tile(theta_full, (redo.size, 1))
        theta[redo], ok[redo] = newton_batch(pi, pj, s[redo], n[redo], start, alpha, max_iter=200)
        for b in redo[~ok[redo]]:
            theta[b] = fit_lbfgs(pi, pj, s[b], n[b], m, prior_weight if needs_prior[b] else 0.0, theta[b])
    return theta, needs_prior


@on_one_blas_thread
def bootstrap_bt(
    counts: PairCounts,
    theta_full: np.ndarray,
    n_rounds: int,
    seed: int,
    prior_weight: float,
    clusters: sp.csr_matrix | None = None,
) -> BootstrapDraws:
    """Refit BT on n_rounds resamples (of battles, or of question clusters), warm-started from the full fit."""
    refits = Refits.prepare(counts, theta_full, prior_weight)
    thetas, actives, priors = [], [], []
    for s, n, active in _pair_batches(counts, n_rounds, seed, clusters):
        theta, needs_prior = refit_batch(refits, s, n, active)
        thetas.append(theta)
        actives.append(active)
        priors.append(needs_prior)
    if not thetas:
        m = counts.n_models
        empty = np.zeros((0, m))
        return BootstrapDraws(empty, empty.astype(bool), np.zeros(0, bool))
    return BootstrapDraws(np.vstack(thetas), np.vstack(actives), np.concatenate(priors))


def _newton_cg_rounds(
    counts: PairCounts,
    signed_t: sp.csr_matrix,
    s: np.ndarray,
    n: np.ndarray,
    theta: np.ndarray,
    ok: np.ndarray,
    needs_prior: np.ndarray,
    active: np.ndarray,
    prior_weight: float,
    h_inv: np.ndarray,
    theta_full: np.ndarray,
) -> None:
    """Refit, in place, the unfinished rounds in which every model played by batched Newton-CG from the
    full fit; a round without prior that does not converge is checked for a finite maximum and retried
    with the prior when it has none."""
    pi, pj, m = counts.pair_i, counts.pair_j, counts.n_models
    rows = np.flatnonzero(~ok & active.all(axis=1))
    for _ in range(2):
        if not rows.size:
            return
        alpha = np.where(needs_prior[rows], prior_weight, 0.0)
        start = np.tile(theta_full[:, None], (1, rows.size))
        theta[rows], ok[rows] = newton_cg_refit(pi, pj, signed_t, s[rows].T, n[rows].T, start, alpha, h_inv, _TOL)
        failed = rows[~ok[rows] & ~needs_prior[rows]]
        rows = np.array([b for b in failed if not mle_exists(m, pi, pj, s[b], n[b])], dtype=np.int64)
        needs_prior[rows] = True


def _side(index: np.ndarray, n_models: int) -> sp.csr_matrix:
    """Sparse (P, M) indicator of one side of each pair."""
    return sp.csr_matrix((np.ones(len(index)), (np.arange(len(index)), index)), shape=(len(index), n_models))


def percentile_interval(draws: np.ndarray, percentiles: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-column percentile bounds ignoring NaN rounds (NaN when a column has no finite round)."""
    low, high = np.full(draws.shape[1], np.nan), np.full(draws.shape[1], np.nan)
    finite = np.isfinite(draws)
    for k in range(draws.shape[1]):
        column = draws[finite[:, k], k]
        if column.size:
            low[k], high[k] = np.percentile(column, percentiles)
    return low, high
