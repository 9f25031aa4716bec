"""Paired question bootstrap of rating differences between two runs.

Each round draws one multiset of the questions both runs share (multinomial multiplicities) and applies it
to BOTH runs' battles, so the noise that comes from which questions happened to be asked cancels in the
difference. Each run's resamples (from its (questions x cells) count matrix) are refitted by the rating
engine's own batch refit (`arena.rating.bootstrap.refit_batch`), exactly as a one-run question bootstrap is.

Common scale: with the same anchor (or baseline) model in both runs, that model's change is 0 by
definition; otherwise the new run is shifted so that the MEDIAN change over the shared models is 0, so one
or two models that really changed do not drag the unchanged ones with them (a mean would).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
import scipy.sparse as sp

from arena.rating.bootstrap import Refits, percentile_interval, refit_batch
from arena.rating.bt import fit_point
from arena.rating.counts import PairCounts, aggregate_indexed
from arena.rating.diagnostics import mle_exists

CHUNK = 64  # rounds drawn and refitted at once (fewer with many pairs: each round holds its pair statistics)
PAIR_CELLS = 8_000_000  # rounds x pairs per chunk (the dense fallback chunks its (rounds, M, M) Hessians itself)


@dataclass(frozen=True)
class RunCounts:
    """One run's battles on the shared questions: pair counts, (questions x cells) matrix and point fit."""

    counts: PairCounts
    matrix: sp.csr_matrix
    theta: np.ndarray  # (M,) natural-unit strengths of the full-data fit


def run_counts(battles: pd.DataFrame, questions: list[str], prior_weight: float) -> RunCounts:
    """Aggregate the battles whose question is in `questions` (in that order) and fit them once."""
    ids = battles["question_id"].astype(str)
    keep = battles[ids.isin(set(questions)).to_numpy() & (battles["model_a"] != battles["model_b"]).to_numpy()]
    keep = keep.reset_index(drop=True)
    counts, cells = aggregate_indexed(keep)
    rows = pd.Index(questions).get_indexer(keep["question_id"].astype(str))
    matrix = sp.csr_matrix((np.ones(len(keep), np.int64), (rows, cells)),
                           shape=(len(questions), len(counts.cell_count)))
    return RunCounts(counts, matrix, fit_counts(counts, counts.cell_count, prior_weight))


def fit_counts(counts: PairCounts, cell_count: np.ndarray, prior_weight: float) -> np.ndarray:
    """BT strengths of one set of cell counts (the weak prior only when the maximum likelihood is not finite)."""
    s, n = counts.pair_stats(cell_count)
    m = counts.n_models
    alpha = 0.0 if mle_exists(m, counts.pair_i, counts.pair_j, s, n) else prior_weight
    return fit_point(counts.pair_i, counts.pair_j, s, n, m, alpha)


def iter_multiplicities(n_questions: int, rounds: int, seed: int, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """(B, n_questions) question multiplicities of consecutive rounds, one seeded stream: the rows do not depend
    on `chunk` (numpy draws a multinomial batch row after row)."""
    rng = np.random.default_rng(seed)
    p = np.full(n_questions, 1.0 / n_questions)
    for start in range(0, rounds, chunk):
        yield rng.multinomial(n_questions, p, size=min(chunk, rounds - start))


def refit_rounds(run: RunCounts, picks: np.ndarray, refits: Refits) -> np.ndarray:
    """(B, M) strengths of each round's resample (NaN for a model without battles in that round); refits =
    Refits.prepare(run.counts, run.theta, prior_weight)."""
    counts = run.counts
    cell_counts = np.asarray((run.matrix.T @ picks.T).T, dtype=np.int64)
    s, n = counts.pair_stats(cell_counts)
    active = counts.model_battles(cell_counts) > 0
    theta, _ = refit_batch(refits, s, n, active)
    return np.where(active, theta, np.nan)


def centred_difference(
    theta_old: np.ndarray, theta_new: np.ndarray, old_idx: np.ndarray, new_idx: np.ndarray,
    factor: float, reference: int | None,
) -> np.ndarray:
    """Rating differences new - old of the shared models ((M,) or (B, M)), on the common scale."""
    d = factor * (np.atleast_2d(theta_new)[:, new_idx] - np.atleast_2d(theta_old)[:, old_idx])
    if reference is not None:
        shift = d[:, [reference]]
    else:
        finite = np.isfinite(d).any(axis=1)
        shift = np.full((len(d), 1), np.nan)
        shift[finite, 0] = np.nanmedian(d[finite], axis=1)
    out = d - shift
    return out[0] if np.ndim(theta_new) == 1 else out


@dataclass(frozen=True)
class PairedResult:
    """Point differences, their bootstrap draws and the fits of both runs."""

    shared: list[str]  # models in both runs (with battles on the shared questions)
    diff: np.ndarray  # (K,) point differences new - old on the common scale
    draws: np.ndarray  # (R, K) bootstrap differences (NaN where a model sat out a round)
    old: RunCounts
    new: RunCounts
    reference: str | None  # the anchor/baseline model fixing the scale, None for the median convention


def paired_bootstrap(
    old: pd.DataFrame, new: pd.DataFrame, questions: list[str], rounds: int, seed: int,
    factor: float, reference: str | None = None, prior_weight: float = 0.01,
) -> PairedResult:
    """Differences new - old for the models both runs rate, with `rounds` paired question-resampled draws."""
    run_old, run_new = run_counts(old, questions, prior_weight), run_counts(new, questions, prior_weight)
    shared = sorted(set(run_old.counts.models) & set(run_new.counts.models))
    old_idx = np.array([run_old.counts.models.index(m) for m in shared], np.int64)
    new_idx = np.array([run_new.counts.models.index(m) for m in shared], np.int64)
    ref = shared.index(reference) if reference in shared else None
    diff = centred_difference(run_old.theta, run_new.theta, old_idx, new_idx, factor, ref)
    parts = []
    widest = max(len(run_old.counts.pair_i), len(run_new.counts.pair_i), len(run_old.counts.cell_count),
                 len(run_new.counts.cell_count))
    chunk = int(max(1, min(CHUNK, PAIR_CELLS // max(widest, 1))))
    refits_old = Refits.prepare(run_old.counts, run_old.theta, prior_weight)
    refits_new = Refits.prepare(run_new.counts, run_new.theta, prior_weight)
    for picks in iter_multiplicities(len(questions), rounds, seed, chunk):
        theta_old = refit_rounds(run_old, picks, refits_old)
        theta_new = refit_rounds(run_new, picks, refits_new)
        parts.append(centred_difference(theta_old, theta_new, old_idx, new_idx, factor, ref))
    draws = np.vstack(parts) if parts else np.zeros((0, len(shared)))
    return PairedResult(shared, diff, draws, run_old, run_new, shared[ref] if ref is not None else None)


MIN_TAIL_DRAWS = 5.0  # expected draws beyond each percentile endpoint needed to use percentiles


def change_intervals(draws: np.ndarray, diff: np.ndarray, level: float,
                     usable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Two-sided intervals at `level` for the changes `diff` (K,) from their (R, K) bootstrap draws (NaN where a
    model sat out a round); returns (lows, highs, how they were made, for reports). `usable` marks the models
    that get an interval (default all): the choice below looks at their draws only.

    Percentiles of the draws while each tail holds MIN_TAIL_DRAWS expected draws; with fewer (Bonferroni over
    many models: at 95% over 1000 models each tail is 0.0025%, 0.0125 draws of 500) a percentile is one of the
    few most extreme draws, an interval too narrow for its level, so every interval of the table is then the
    normal one: the change plus or minus z times the standard deviation of its draws. Simulated tables of
    unchanged models, 500 draws, 95% for the table: some model flagged in 61% of tables with percentiles at 200
    models and 99% at 1000, 5% with normal intervals; `benchmarks/compare_coverage.py` (6 models, 300 draws,
    90%, 2.5 draws a tail): 13/100 with percentiles, 5/100 with normal intervals, coverage 0.972 -> 0.985
    against the stated 0.983.
    """
    tail = (1.0 - level) / 2.0
    finite = np.isfinite(draws).sum(axis=0)
    counted = finite if usable is None else finite[np.asarray(usable, bool)]
    counted = counted[counted > 0]
    fewest = int(counted.min()) if counted.size else len(draws)
    rounds = f"{len(draws)}" if fewest == len(draws) else f"{fewest} to {len(draws)}"
    if tail * fewest >= MIN_TAIL_DRAWS - 1e-9:
        lows, highs = percentile_interval(draws, (100.0 * tail, 100.0 * (1.0 - tail)))
        return lows, highs, f"percentiles of each model's {rounds} bootstrap draws"
    z = NormalDist().inv_cdf(1.0 - tail)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model in fewer than two rounds: no SD (NaN)
        sd = np.nanstd(draws, axis=0, ddof=1)
    return diff - z * sd, diff + z * sd, (
        f"normal: change ± {z:.2f} × the SD of each model's {rounds} bootstrap draws (each tail at "
        f"{100 * tail:.2g}% holds {tail * fewest:.2g} expected draws of {fewest}, under the {MIN_TAIL_DRAWS:g} "
        "percentiles need)")
