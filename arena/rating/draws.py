"""Resampling N battles with replacement over their cells: a multinomial drawn from Poisson counts.

Each cell gets a Poisson count with mean proportional to its battles; given their sum S, independent
Poisson counts with means proportional to p are Multinomial(S, p), so the total is then made N exactly:
with S < N, N - S more battles are drawn from p and added (a sum of independent multinomials with the same
p); with S > N, S - N of the S drawn battles, chosen uniformly without replacement, are removed (a uniform
subset of i.i.d. draws is i.i.d.). Both keep the distribution exactly Multinomial(N, p). The Poisson means
are scaled down by 3 standard deviations of S, so that the cheap correction (adding) is almost always the
one taken.

Poisson counts of the common small means come from lookup tables: 12 random bits pick a bin of the unit
interval; a bin inside one step of the Poisson distribution function gives the count at once (inverse
distribution function sampling), and the few bins that straddle a step are refined with a full-precision
uniform inside the bin. This is 20-50x faster than numpy's per-variate Poisson on means of 1-10.
"""

from __future__ import annotations

import numpy as np
from scipy.special import pdtr

_BITS = 12  # bins per table: 4096 (small tables stay in the core's cache)
_BINS = 1 << _BITS
_STRADDLE = -1  # table entry of a bin that straddles a step of the distribution function
_MAX_TABLES = 256  # distinct means with a table (16 KB each)
_MAX_TABLED_MEAN = 4096.0  # larger means: numpy's Poisson (their tables would need > 16 bits of counts)
_MARGIN_SD = 3.0  # Poisson means are scaled so that their sum falls short of N by this many SDs


def _table(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin -> count or _STRADDLE, the distribution function F[k] = P(X <= k) up to F == 1 in float64)."""
    top = int(mean + 40.0 * np.sqrt(mean) + 40)
    cdf = pdtr(np.arange(top + 1), mean)  # P(X <= k), X ~ Poisson(mean)
    cdf = cdf[: int(np.searchsorted(cdf, 1.0)) + 1]  # F reaches 1.0 exactly in float64
    cdf[-1] = 1.0
    edges = np.arange(_BINS + 1) / _BINS
    low = np.searchsorted(cdf, edges[:-1], side="right")  # count of a uniform at the bin's left edge
    high = np.searchsorted(cdf, edges[1:], side="left")  # count just below the bin's right edge
    table = np.where(low == high, low, _STRADDLE).astype(np.int32)
    return table, cdf


class CellSampler:
    """Draws (size, C) multinomial resamples of the battles counted in cell_count (integers >= 0)."""

    def __init__(self, cell_count: np.ndarray) -> None:
        lam = np.asarray(cell_count, np.int64)
        if (lam < 0).any():
            raise ValueError("cell counts must be >= 0")
        self.n_cells = len(lam)
        self.total = int(lam.sum())
        self.cdf = np.cumsum(lam, dtype=np.float64)  # adding battles: the cell of a uniform * total
        # guide[g]: the cell of the battle at g / len(guide) of the total; the cell of a uniform lies a few
        # cells after its guide entry (a vectorised search with O(1) steps instead of a binary search)
        steps = np.arange(len(lam)) * (self.total / max(len(lam), 1))
        self.guide = np.searchsorted(self.cdf, steps, side="right")
        self.scale = max(0.0, 1.0 - _MARGIN_SD / np.sqrt(self.total)) if self.total > 0 else 1.0
        values, inverse, frequency = np.unique(lam, return_inverse=True, return_counts=True)
        tabled = np.zeros(len(values), bool)
        small = np.flatnonzero(values * self.scale <= _MAX_TABLED_MEAN)
        tabled[small[np.argsort(-frequency[small], kind="stable")[:_MAX_TABLES]]] = True
        ids = np.cumsum(tabled) - 1
        built = [_table(float(v) * self.scale) for v in values[tabled]]
        self.tables = np.concatenate([t for t, _ in built]) if built else np.zeros(0, np.int32)
        cdfs = [c for _, c in built]
        self.cdf_all = np.concatenate(cdfs) if cdfs else np.zeros(0)  # every table's distribution function
        self.cdf_len = np.array([len(c) for c in cdfs], np.int64)
        self.cdf_start = np.cumsum(self.cdf_len) - self.cdf_len
        cell_tabled = tabled[inverse]
        self.tabled_cells = np.flatnonzero(cell_tabled)
        self.table_id = ids[inverse][cell_tabled].astype(np.uint32)
        self.base = self.table_id << np.uint32(_BITS)  # index of the cell's table in self.tables
        self.other_cells = np.flatnonzero(~cell_tabled)
        self.all_tabled = len(self.other_cells) == 0
        self.other_means = lam[self.other_cells] * self.scale

    def draw(self, rng: np.random.Generator, size: int, out: np.ndarray | None = None) -> np.ndarray:
        """(size, C) counts (int64, or into `out`), each row Multinomial(total, cell_count / total)."""
        out = np.zeros((size, self.n_cells), np.int64) if out is None else out[:size]
        index = np.empty(len(self.tabled_cells), np.uint32)
        for row in out:
            if len(self.tabled_cells):
                bins = rng.integers(0, _BINS, len(self.tabled_cells), dtype=np.uint16)
                np.add(self.base, bins, out=index)
                direct = self.all_tabled and row.dtype == self.tables.dtype  # draw straight into the row
                got = np.take(self.tables, index, out=row) if direct else self.tables[index]
                straddle = np.flatnonzero(got == _STRADDLE)  # 1 cell in ~250 (means 1-10): refine in the bin
                if straddle.size:
                    u = (bins[straddle] + rng.random(straddle.size)) / _BINS
                    got[straddle] = self._search(self.table_id[straddle], u)
                if not direct:
                    row[self.tabled_cells] = got
            if len(self.other_cells):
                row[self.other_cells] = rng.poisson(self.other_means)
            self._correct(rng, row)
        return out

    def _search(self, table: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Counts k with F(k - 1) <= u < F(k) in each value's own table's distribution function F (a binary
        search run for all values at once)."""
        low = self.cdf_start[table]
        high = low + self.cdf_len[table]
        base = low.copy()
        while True:
            todo = np.flatnonzero(low < high)
            if not todo.size:
                return low - base
            mid = (low[todo] + high[todo]) // 2
            right = self.cdf_all[mid] <= u[todo]
            low[todo] = np.where(right, mid + 1, low[todo])
            high[todo] = np.where(right, high[todo], mid)

    def _cells_of(self, x: np.ndarray) -> np.ndarray:
        """The cell holding each battle position x in [0, total) (cells in order, cdf = running totals)."""
        g = (x * (len(self.guide) / self.total)).astype(np.int64) - 1  # one entry back: safe from rounding
        cell = self.guide[np.clip(g, 0, len(self.guide) - 1)]
        todo = np.flatnonzero(self.cdf[cell] <= x)
        while todo.size:
            cell[todo] += 1
            todo = todo[self.cdf[cell[todo]] <= x[todo]]
        return cell

    def _correct(self, rng: np.random.Generator, row: np.ndarray) -> None:
        """Make the row's total exactly N (module docstring)."""
        drawn = int(row.sum())
        if drawn < self.total:
            np.add.at(row, self._cells_of(rng.random(self.total - drawn) * self.total), 1)
        elif drawn > self.total:
            gone = np.sort(rng.choice(drawn, drawn - self.total, replace=False))  # among the drawn battles
            np.subtract.at(row, np.searchsorted(np.cumsum(row), gone, side="right"), 1)


def multinomial_by_poisson(rng: np.random.Generator, cell_count: np.ndarray, size: int) -> np.ndarray:
    """(size, C) draws of Multinomial(N, cell_count / N), N = cell_count.sum(): resampling N battles with
    replacement (`CellSampler`; build one sampler to draw many batches)."""
    return CellSampler(cell_count).draw(rng, size)
