"""Bootstrap of the BT fit: multinomial resampling of the cell counts, batched warm-started refits.

Drawing a multinomial with N trials over the (pair, outcome, weight) cells with probabilities
count / N is the same as resampling the N battles with replacement, at a fraction of the cost
(`draws.CellSampler`). Worker threads draw batches of rounds and sum them into what the refits need (per
pair totals, dense (M, M) pair-total matrices when most pairs met, per-model scores) in reused buffers,
while the caller refits the previous batch (`chord`).

Degenerate rounds are handled explicitly:
- a model with no battles in a round gets NaN in that round and the round is left out of that model's
  interval (the number of such rounds is reported);
- a round in which the maximum likelihood does not exist (some model or group only won or only lost)
  is refitted with the weak symmetric prior of `bt` (alpha virtual ties against a reference player);
  the number of such rounds is reported.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from arena.rating.bt import fit_lbfgs, logistic, newton_batch, on_one_blas_thread
from arena.rating.chord import DenseRefits, chord_solve, spd_inverse
from arena.rating.clusters import draw_cluster_counts
from arena.rating.counts import PairCounts
from arena.rating.diagnostics import mle_exists, mle_exists_batch
from arena.rating.draws import CellSampler
from arena.rating.newton_cg import newton_cg_refit
from arena.rating.progress import rounds_done

_BATCH_ROUNDS = 50
_BATCH_CELLS = 8_000_000  # rounds x cells drawn at once
_TOL = 3e-9  # estimated error (natural units) of a converged refit: 5.2e-7 rating points
_DENSE_MODELS = 1200  # dense (M, M) gradient passes up to this many models (11.5 MB per round) ...
_DENSE_SHARE = 0.25  # ... when at least this share of all pairs met (a pass costs M^2, not P, elements); below it
# Newton-CG is preconditioned by each round's Hessian diagonal instead of the dense full-data inverse
_DENSE_CELLS = 8_000_000  # rounds x M^2 held as dense pair totals at once
_PACK = float(2**26)  # packs a pair's battles and doubled score in one float64 (both below 2^26)


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


def _draw(
    sampler: CellSampler | None,
    clusters: sp.csr_matrix | None,
    seed_seq: np.random.SeedSequence,
    size: int,
    finish: Callable[[np.ndarray], Any] | None,
) -> Any:
    """One batch of resampled cell counts (battles, or whole questions when clusters is given), own stream;
    passed through `finish` (in the worker thread) when given."""
    rng = np.random.default_rng(seed_seq)
    if clusters is not None:
        drawn = draw_cluster_counts(clusters, rng, size)
    else:
        assert sampler is not None
        drawn = sampler.draw(rng, size, finish.lend(size) if isinstance(finish, _Batches) else None)
    return drawn if finish is None else finish(drawn)


def _draw_batches(
    counts: PairCounts,
    n_rounds: int,
    seed: int,
    workers: int,
    clusters: sp.csr_matrix | None,
    finish: Callable[[np.ndarray], Any] | None,
) -> Iterator[Any]:
    """Batches of resampled cell counts (see resample_counts), each passed through `finish` in the worker."""
    width = max(len(counts.cell_count), clusters.shape[0] if clusters is not None else 0, 1)
    batch = int(max(1, min(_BATCH_ROUNDS, _BATCH_CELLS // width)))
    sizes = [min(batch, n_rounds - start) for start in range(0, n_rounds, batch)]
    seqs = np.random.SeedSequence(seed).spawn(len(sizes))
    sampler = CellSampler(counts.cell_count) if clusters is None and n_rounds > 0 else None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[Any]] = deque()
        for seq, size in zip(seqs, sizes):
            pending.append(pool.submit(_draw, sampler, clusters, seq, size, finish))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def resample_counts(
    counts: PairCounts, n_rounds: int, seed: int, workers: int = 2, clusters: sp.csr_matrix | None = None
) -> Iterator[np.ndarray]:
    """Yield (B, C) batches of resampled cell counts, reproducible from the seed.

    Without clusters, battles are resampled (a multinomial over the cells, `draws.CellSampler`); with
    a (questions, cells) cluster matrix, questions are resampled with all their battles. Batch k is drawn
    from child k of SeedSequence(seed), so the draws do not depend on threading; numpy releases the GIL
    while sampling, so batches are drawn in worker threads while the caller refits.
    """
    yield from _draw_batches(counts, n_rounds, seed, workers, clusters, None)


def full_hessian_inverse(counts: PairCounts, theta: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Inverse of the full-data BT Hessian at theta with the common shift made invertible by adding `pin` to
    every entry; (None, pin) if disconnected."""
    _, n = counts.pair_stats()
    pi, pj, m = counts.pair_i, counts.pair_j, counts.n_models
    p = expit(theta[pi] - theta[pj])
    h = n * p * (1.0 - p)
    off = sp.coo_matrix((np.r_[-h, -h], (np.r_[pi, pj], np.r_[pj, pi])), shape=(m, m)).toarray()
    diag = np.bincount(pi, h, m) + np.bincount(pj, h, m)
    pin = float(diag.sum() / m / m)
    return spd_inverse(off + np.diag(diag) + pin), pin


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
    dense: DenseRefits | None  # gradient passes on dense matrices (most pairs met), else on the pair list
    most_met: bool  # at least _DENSE_SHARE of all pairs met
    cell_flat: np.ndarray | None  # cells' positions in a dense (M, M) matrix of pair totals (i < j)

    @classmethod
    def prepare(cls, counts: PairCounts, theta_full: np.ndarray, prior_weight: float) -> Refits:
        """The shared parts for refits of resamples of `counts` warm-started from theta_full."""
        m, pi, pj = counts.n_models, counts.pair_i, counts.pair_j
        side_i, side_j = _side(pi, m), _side(pj, m)
        h_inv, pin = full_hessian_inverse(counts, theta_full)
        s_full, n_full = counts.pair_stats()
        dense, cell_flat = None, None
        most_met = len(pi) >= _DENSE_SHARE * m * (m - 1) / 2
        if h_inv is not None and m <= _DENSE_MODELS and most_met:
            dense = DenseRefits(pi, pj, m, theta_full, n_full, h_inv, pin)
            if (counts.cell_weight > 0).all():  # then a model with battles has weight: active = weight > 0
                cell_flat = dense.flat[counts.cell_pair]
        return cls(
            counts, theta_full, prior_weight, h_inv, mle_exists(m, pi, pj, s_full, n_full), side_i, side_j,
            (side_i - side_j).T.tocsr(), dense, most_met, cell_flat,
        )


@dataclass(frozen=True)
class RoundBatch:
    """A batch of resampled rounds as the refits need them (made in the drawing thread)."""

    drawn: np.ndarray  # (B, C) cell counts
    won: np.ndarray  # (B, M) weighted score of each model
    lost: np.ndarray  # (B, M) weighted battles minus score
    active: np.ndarray  # (B, M) model had battles in the round
    totals: np.ndarray | None  # (B, M, M) dense pair totals (`DenseRefits`), when used
    release: Callable[[], None]  # hands the batch's buffers back for later batches


class _Batches:
    """Makes RoundBatches from drawn cell counts in the drawing threads, drawing into and summing into a few
    reused buffers (fresh arrays of this size cost more in memory traffic than the sums themselves)."""

    def __init__(self, refits: Refits, buffers: int) -> None:
        self.refits = refits
        self.free: queue.SimpleQueue[tuple[np.ndarray, ...] | None] = queue.SimpleQueue()
        for _ in range(buffers):
            self.free.put(None)  # allocated on first use
        self.held = threading.local()
        counts = refits.counts
        self.points = counts.cell_weight * counts.cell_score
        # battles of unit weight with scores in halves: a pair's battles and doubled score summed together
        # as battles + _PACK * 2 * score, exactly (float64 integers below 2^53), in one pass over the cells
        halves = counts.cell_score * 2.0
        self.packed = None
        unit = (counts.cell_weight == 1.0).all()
        if unit and (halves == np.round(halves)).all() and counts.n_battles < _PACK:
            self.packed = 1.0 + _PACK * halves

    def lend(self, size: int) -> np.ndarray:
        """A (size, C) int32 buffer to draw into (with its totals, kept for `__call__` in this thread)."""
        held = self.free.get()
        counts, dense = self.refits.counts, self.refits.dense
        if held is None or len(held[0]) < size:
            m = counts.n_models
            dense_totals = dense is not None and self.refits.cell_flat is not None
            held = (np.zeros((size, len(counts.cell_count)), np.int32),
                    np.zeros((size, m, m)) if dense_totals else None,
                    np.empty(len(counts.cell_count)), np.zeros((m, m)))
        self.held.buffers = held
        return held[0]

    def __call__(self, drawn: np.ndarray) -> RoundBatch:
        """The RoundBatch of a (B, C) batch of drawn cell counts."""
        refits, counts = self.refits, self.refits.counts
        held = getattr(self.held, "buffers", None)
        self.held.buffers = None
        release = (lambda: self.free.put(held)) if held is not None else (lambda: None)
        if refits.cell_flat is None or held is None:
            s, n = counts.pair_stats(drawn)
            won, lost = _tallies(refits, s, n)  # a model plays in a round when its battles there have weight
            return RoundBatch(drawn, won, lost, (won + lost) > 0, None, release)
        _, totals, cells, upper = held
        totals = totals[: len(drawn)]
        n_pairs, m = len(counts.pair_i), counts.n_models
        flat = refits.dense.flat  # type: ignore[union-attr]
        won, total = np.empty((len(drawn), m)), np.empty((len(drawn), m))
        for out, score, battles, row in zip(totals, won, total, drawn):
            if self.packed is not None:
                both = np.bincount(counts.cell_pair, np.multiply(row, self.packed, out=cells), n_pairs)
                points = np.floor(both * (1.0 / _PACK))  # doubled scores
                n = both - points * _PACK
                points *= 0.5
            else:
                n = np.bincount(counts.cell_pair, np.multiply(row, counts.cell_weight, out=cells), n_pairs)
                points = np.bincount(counts.cell_pair, np.multiply(row, self.points, out=cells), n_pairs)
            out.reshape(-1)[flat] = n  # the other entries stay 0
            upper.reshape(-1)[flat] = points  # i's score against j > i
            np.sum(out, axis=0, out=battles)  # j's battles against i < j
            score[:] = upper.sum(axis=1) - upper.sum(axis=0) + battles
            battles += out.sum(axis=1)
        return RoundBatch(drawn, won, total - won, total > 0, totals, release)


def _tallies(refits: Refits, s: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(won, lost) per model of (B, P) pair statistics: weighted score and weighted battles minus score."""
    other = n - s
    won = (refits.side_i.T @ s.T + refits.side_j.T @ other.T).T
    lost = (refits.side_i.T @ other.T + refits.side_j.T @ s.T).T
    return np.asarray(won), np.asarray(lost)


def refit_batch(refits: Refits, s: np.ndarray, n: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refit a batch of resamples given as (B, P) pair statistics with (B, M) active models; returns
    (theta (B, M), needs_prior (B,)).

    Regular rounds (every model played, won and lost) take Newton-chord steps against the full-data
    Hessian; rounds it cannot finish and rounds needing the prior go to batched Newton-CG, then dense
    batched Newton, then L-BFGS one by one. Inactive models keep theta_full (the caller masks them).
    """
    won, lost = _tallies(refits, s, n)
    return _refit(refits, won, lost, active, lambda rows: (s[rows], n[rows]), None)


def _refit(
    refits: Refits,
    won: np.ndarray,
    lost: np.ndarray,
    active: np.ndarray,
    pair_stats: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    dense_totals: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """refit_batch on per-model tallies; pair statistics of rounds are asked for (pair_stats(rows)) only where
    needed; dense_totals are the rounds' dense pair totals when already made."""
    counts, theta_full, h_inv = refits.counts, refits.theta_full, refits.h_inv
    m, pi, pj = counts.n_models, counts.pair_i, counts.pair_j
    rounds = len(won)
    one_sided = ((won <= 0) | (lost <= 0)) & active
    needs_prior = one_sided.any(axis=1) | (active.sum(axis=1) < 2)
    if not refits.full_ok:
        needs_prior |= ~mle_exists_batch(m, pi, pj, *pair_stats(np.arange(rounds)))
    regular = ~needs_prior & active.all(axis=1)
    theta = np.tile(theta_full, (rounds, 1))
    ok = np.zeros(rounds, bool)
    if regular.any() and refits.dense is not None:
        rows = np.flatnonzero(regular)
        size = max(1, _DENSE_CELLS // (m * m))
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            if dense_totals is None:
                totals = refits.dense.totals(pair_stats(part)[1])
                theta[part], ok[part] = refits.dense.refit(totals, won[part], _TOL)
            else:
                theta[part], ok[part] = refits.dense.refit(dense_totals, won[part], _TOL, part)
    elif regular.any() and h_inv is not None:
        rows = np.flatnonzero(regular)
        s_reg, n_reg = pair_stats(rows)
        theta[rows], ok[rows] = chord_refit(pi, pj, refits.signed_t, s_reg.T, n_reg.T, theta_full, h_inv)
    todo = np.flatnonzero(~ok)
    if todo.size:
        s, n = pair_stats(todo)
        sub_theta, sub_ok, sub_prior = theta[todo], ok[todo], needs_prior[todo]
        _fallback(refits, s, n, active[todo], sub_theta, sub_ok, sub_prior)
        theta[todo], needs_prior[todo] = sub_theta, sub_prior
    return theta, needs_prior


def _fallback(
    refits: Refits, s: np.ndarray, n: np.ndarray, active: np.ndarray, theta: np.ndarray, ok: np.ndarray,
    needs_prior: np.ndarray,
) -> None:
    """Refit, in place, rounds the chord did not finish: batched Newton-CG, then dense batched Newton, then
    L-BFGS one by one."""
    counts, theta_full, prior_weight, h_inv = refits.counts, refits.theta_full, refits.prior_weight, refits.h_inv
    m, pi, pj = counts.n_models, counts.pair_i, counts.pair_j
    if refits.full_ok:  # (else every round was checked) a round the chord could not finish may be one where a
        # whole group of models only won or only lost, which no single model's tally shows: no finite maximum,
        # and Newton-CG would stop where the logistic saturates (ratings thousands of points apart)
        check = np.flatnonzero(~needs_prior)
        if check.size:
            needs_prior[check] = ~mle_exists_batch(m, pi, pj, s[check], n[check])
    _newton_cg_rounds(counts, refits.signed_t, s, n, theta, ok, needs_prior, active, prior_weight,
                      h_inv if refits.most_met else None, theta_full)
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


@on_one_blas_thread
def bootstrap_bt(
    counts: PairCounts,
    theta_full: np.ndarray,
    n_rounds: int,
    seed: int,
    prior_weight: float,
    clusters: sp.csr_matrix | None = None,
    workers: int | None = None,
) -> BootstrapDraws:
    """Refit BT on n_rounds resamples (of battles, or of question clusters), warm-started from the full fit,
    with `workers` drawing threads (default `draw_workers()`; the draws do not depend on it)."""
    refits = Refits.prepare(counts, theta_full, prior_weight)
    thetas, actives, priors = [], [], []
    workers = draw_workers() if workers is None else workers
    for batch in _draw_batches(counts, n_rounds, seed, workers, clusters, _Batches(refits, workers + 2)):
        def pair_stats(rows: np.ndarray, drawn: np.ndarray = batch.drawn) -> tuple[np.ndarray, np.ndarray]:
            return counts.pair_stats(drawn[rows])

        theta, needs_prior = _refit(refits, batch.won, batch.lost, batch.active, pair_stats, batch.totals)
        batch.release()
        rounds_done(len(theta))
        thetas.append(theta)
        actives.append(batch.active)
        priors.append(needs_prior)
    if not thetas:
        m = counts.n_models
        empty = np.zeros((0, m))
        return BootstrapDraws(empty, empty.astype(bool), np.zeros(0, bool))
    return BootstrapDraws(np.vstack(thetas), np.vstack(actives), np.concatenate(priors))


def draw_workers() -> int:
    """Drawing threads beside the refitting caller: two while a core beyond the caller's is idle (1-minute
    load average), else one. Two drawing threads and the caller oversubscribe a busy two-core machine:
    1.5M battles, 1000 models, 200 rounds at load 4.5-4.9: 6.1 s of CPU (5.7-6.4) with two, 5.6 (5.2-6.2)
    with one, wall lower with one in three of three back-to-back pairs; on an idle machine the second
    thread takes a share of the drawing off the critical path."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 2 if cpus - os.getloadavg()[0] >= 1.5 else 1


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
    h_inv: np.ndarray | None,
    theta_full: np.ndarray,
) -> None:
    """Refit, in place, the unfinished rounds by batched Newton-CG from the full fit (preconditioned by h_inv,
    or by each round's Hessian diagonal when None; models that did not play keep the full fit's value and
    are masked by the caller); a round without prior that does not converge is checked for a finite maximum
    and retried with the prior when it has none."""
    pi, pj, m = counts.pair_i, counts.pair_j, counts.n_models
    rows = np.flatnonzero(~ok)
    for _ in range(2):
        if not rows.size:
            return
        alpha = np.where(needs_prior[rows], prior_weight, 0.0)
        start = np.tile(theta_full[:, None], (1, rows.size))
        theta[rows], ok[rows] = newton_cg_refit(pi, pj, signed_t, s[rows].T, n[rows].T, start, alpha, h_inv, _TOL,
                                                active[rows].T)
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
