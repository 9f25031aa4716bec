"""The battle resampling draw (Poisson counts corrected to the exact total) is a multinomial: checked
against the exact multinomial probabilities and against numpy's own multinomial."""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats

from arena.rating.draws import _BINS, CellSampler, multinomial_by_poisson


def exact_pmf(counts: np.ndarray) -> dict[tuple[int, ...], float]:
    """Multinomial(N, counts / N) probabilities of every outcome, by the textbook formula."""
    n, p = int(counts.sum()), counts / counts.sum()
    out = {}
    for x in itertools.product(range(n + 1), repeat=len(counts)):
        if sum(x) == n:
            coef = math.factorial(n) / math.prod(math.factorial(k) for k in x)
            out[x] = coef * math.prod(q**k for q, k in zip(p, x))
    return out


def test_draws_follow_the_exact_multinomial() -> None:
    counts = np.array([1, 2, 3])
    pmf = exact_pmf(counts)
    draws = multinomial_by_poisson(np.random.default_rng(0), counts, 30_000)
    assert (draws.sum(axis=1) == 6).all() and (draws >= 0).all()
    seen: dict[tuple[int, ...], int] = {}
    for row in map(tuple, draws.tolist()):
        seen[row] = seen.get(row, 0) + 1
    assert set(seen) <= set(pmf)
    observed = np.array([seen.get(x, 0) for x in pmf])
    expected = np.array(list(pmf.values())) * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_moments_match_numpy_multinomial_on_many_cells() -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 60, 400)
    ours = multinomial_by_poisson(np.random.default_rng(2), counts, 4000)
    ref = np.random.default_rng(3).multinomial(counts.sum(), counts / counts.sum(), size=4000)
    assert (ours.sum(axis=1) == counts.sum()).all()
    p = counts / counts.sum()
    # mean N p and variance N p (1 - p) per cell; covariance -N p_i p_j (summed over a block of cells)
    np.testing.assert_allclose(ours.mean(axis=0).sum(), counts.sum())
    np.testing.assert_allclose(ours.var(axis=0).sum(), (counts.sum() * p * (1 - p)).sum(), rtol=0.03)
    np.testing.assert_allclose(ours.var(axis=0).sum(), ref.var(axis=0).sum(), rtol=0.05)
    block = ours[:, :200].sum(axis=1)  # a sum of cells is binomial: variance N q (1 - q)
    q = p[:200].sum()
    np.testing.assert_allclose(np.var(block), counts.sum() * q * (1 - q), rtol=0.1)


def test_same_seed_same_draws() -> None:
    counts = np.array([5, 1, 9, 30])
    a = multinomial_by_poisson(np.random.default_rng(7), counts, 50)
    b = multinomial_by_poisson(np.random.default_rng(7), counts, 50)
    np.testing.assert_array_equal(a, b)


def test_zero_cells_and_large_means_outside_the_tables() -> None:
    counts = np.array([0, 3, 9000, 0, 1, 6000])  # large means are drawn by numpy's Poisson, zeros never drawn
    draws = multinomial_by_poisson(np.random.default_rng(11), counts, 3000)
    assert (draws.sum(axis=1) == counts.sum()).all()
    assert (draws[:, counts == 0] == 0).all()
    p = counts / counts.sum()
    assert (np.abs(draws.mean(axis=0) - counts) <= 4 * np.sqrt(counts.sum() * p * (1 - p) / 3000)).all()
    big = counts > 100
    np.testing.assert_allclose(draws.var(axis=0)[big], (counts.sum() * p * (1 - p))[big], rtol=0.1)


def test_table_poisson_counts_follow_the_poisson_distribution() -> None:
    """The lookup-table Poisson draw (before the correction to N) per cell, against the exact Poisson pmf."""
    counts = np.array([1, 2, 7, 45, 45, 300] * 20)
    sampler = CellSampler(counts)
    rng = np.random.default_rng(5)
    row, index = np.zeros(len(counts), np.int32), np.empty(len(sampler.tabled_cells), np.intp)
    drawn = []
    for _ in range(4000):
        sampler._poisson(rng, row, index)
        drawn.append(row.copy())
    drawn = np.array(drawn)
    for value in np.unique(counts):
        mean = value * sampler.scale
        sample = drawn[:, counts == value].ravel()
        edges = np.unique(stats.poisson.ppf(np.linspace(0.02, 0.98, 12), mean))  # bins of similar mass
        observed = np.histogram(sample, np.r_[-0.5, edges + 0.5, np.inf])[0]
        cdf = stats.poisson.cdf(np.r_[edges, np.inf], mean)
        expected = np.diff(np.r_[0.0, cdf]) * len(sample)
        assert stats.chisquare(observed, expected).pvalue > 1e-4, value


def test_straddling_bins_give_the_inverse_distribution_function_count() -> None:
    """A uniform inside a bin that straddles one or more steps maps to the count of exact inversion."""
    sampler = CellSampler(np.array([3, 45, 600]))
    assert sampler.cut_multi.any() and (~sampler.cut_multi).any()  # both kinds of bins are exercised
    for t in range(len(sampler.cdf_len)):
        local = sampler.tables[t * _BINS:(t + 1) * _BINS]
        bins = np.flatnonzero(local < 0).astype(np.uint16)
        cut = -1 - local[bins].astype(np.int64)
        got = sampler._refine(np.random.default_rng(t), bins, cut)
        u = (bins + np.random.default_rng(t).random(len(bins))) / _BINS
        cdf = sampler.cdf_all[sampler.cdf_start[t]:sampler.cdf_start[t] + sampler.cdf_len[t]]
        np.testing.assert_array_equal(got, np.searchsorted(cdf, u, side="right"))
