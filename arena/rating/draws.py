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
uniform inside the bin: one comparison with the step's height for a bin that holds one step, a search of
the distribution function for the rare bin that holds several. This is 20-50x faster than numpy's
per-variate Poisson on means of 1-10. The 12-bit bins are cut from the generator's raw 64-bit output
(four per word), about 4x cheaper than `Generator.integers`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import pdtr

_BITS = 12  # bins per table: 4096 (small tables stay in the core's cache)
_BINS = 1 << _BITS
_MAX_TABLES = 256  # distinct means with a table (16 KB each)
_MAX_TABLED_MEAN = 4096.0  # larger means: numpy's Poisson (their tables would need > 16 bits of counts)
_MARGIN_SD = 3.0  # Poisson means are scaled so that their sum falls short of N by this many SDs


def _table(mean: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bin -> count, or -1 - k for the k-th bin that straddles a step; the distribution function
    F[k] = P(X <= k) up to F == 1 in float64; the count at the left edge of each straddling bin; whether it
    holds more than one step)."""
    top = int(mean + 40.0 * np.sqrt(mean) + 40)
    cdf = pdtr(np.arange(top + 1), mean)  # P(X <= k), X ~ Poisson(mean)
    cdf = cdf[: int(np.searchsorted(cdf, 1.0)) + 1]  # F reaches 1.0 exactly in float64
    cdf[-1] = 1.0
    edges = np.arange(_BINS + 1) / _BINS
    low = np.searchsorted(cdf, edges[:-1], side="right")  # count of a uniform at the bin's left edge
    high = np.searchsorted(cdf, edges[1:], side="left")  # count just below the bin's right edge
    straddle = low != high
    table = np.where(straddle, -1 - np.cumsum(straddle) + 1, low).astype(np.int32)
    return table, cdf, low[straddle], high[straddle] > low[straddle] + 1


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
        cdfs = [b[1] for b in built]
        self.cdf_all = np.concatenate(cdfs) if cdfs else np.zeros(0)  # every table's distribution function
        self.cdf_len = np.array([len(c) for c in cdfs], np.int64)
        self.cdf_start = np.cumsum(self.cdf_len) - self.cdf_len
        # straddling bins numbered across all tables: the count at the bin's left edge, the step's height
        # F(count) in the table's own distribution function, the table, and whether the bin holds more steps
        straddles = np.array([len(b[2]) for b in built], np.int64)
        first = np.cumsum(straddles) - straddles
        self.tables = (np.concatenate([np.where(t < 0, t - k, t) for (t, *_), k in zip(built, first)])
                       if built else np.zeros(0, np.int32)).astype(np.int32)
        self.cut_low = np.concatenate([b[2] for b in built]).astype(np.int64) if built else np.zeros(0, np.int64)
        self.cut_table = np.repeat(np.arange(len(built)), straddles)
        self.cut_height = self.cdf_all[self.cdf_start[self.cut_table] + self.cut_low]
        self.cut_multi = np.concatenate([b[3] for b in built]) if built else np.zeros(0, bool)
        cell_tabled = tabled[inverse]
        self.tabled_cells = np.flatnonzero(cell_tabled)
        self.table_id = ids[inverse][cell_tabled].astype(np.intp)
        self.base = self.table_id << _BITS  # index of the cell's table in self.tables
        self.other_cells = np.flatnonzero(~cell_tabled)
        self.all_tabled = len(self.other_cells) == 0
        self.other_means = lam[self.other_cells] * self.scale

    def draw(self, rng: np.random.Generator, size: int, out: np.ndarray | None = None) -> np.ndarray:
        """(size, C) counts (int64, or into `out`), each row Multinomial(total, cell_count / total)."""
        out = np.zeros((size, self.n_cells), np.int64) if out is None else out[:size]
        index = np.empty(len(self.tabled_cells), np.intp)  # take() converts any other index type first
        for row in out:
            self._poisson(rng, row, index)
            self._correct(rng, row)
        return out

    def _poisson(self, rng: np.random.Generator, row: np.ndarray, index: np.ndarray) -> None:
        """Independent Poisson counts (mean: cell count x scale) into row; index: an intp work buffer."""
        if len(self.tabled_cells):
            bins = self._bins(rng, len(self.tabled_cells))
            np.add(self.base, bins, out=index)
            direct = self.all_tabled and row.dtype == self.tables.dtype  # draw straight into the row
            # mode="clip" (every index is in range by construction): with `out`, the default "raise" gathers into a
            # temporary and copies it over (2-3x the time of the gather itself on 1M cells)
            got = np.take(self.tables, index, out=row, mode="clip") if direct else self.tables[index]
            straddle = np.flatnonzero(got < 0)  # 1 cell in ~250 (means 1-10): refine in the bin
            if straddle.size:
                got[straddle] = self._refine(rng, bins[straddle], -1 - got[straddle])
            if not direct:
                row[self.tabled_cells] = got
        if len(self.other_cells):
            row[self.other_cells] = rng.poisson(self.other_means)

    @staticmethod
    def _bins(rng: np.random.Generator, n: int) -> np.ndarray:
        """n uniform bins (uint16 below _BINS): 16-bit slices of the generator's raw 64-bit words, masked."""
        words = rng.bit_generator.random_raw((n + 3) // 4)
        bins = words.view(np.uint16)[:n]
        return np.bitwise_and(bins, np.uint16(_BINS - 1), out=bins)

    def _refine(self, rng: np.random.Generator, bins: np.ndarray, cut: np.ndarray) -> np.ndarray:
        """Counts of uniforms drawn inside the given straddling bins (`cut`: their numbers across tables)."""
        u = (bins + rng.random(len(bins))) / _BINS
        counts = self.cut_low[cut] + (u >= self.cut_height[cut])
        multi = np.flatnonzero(self.cut_multi[cut])
        if multi.size:
            counts[multi] = self._search(self.cut_table[cut[multi]], u[multi])
        return counts

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
            np.add.at(row, self._cells_of(rng.random(self.total - drawn) * self.total), row.dtype.type(1))
        elif drawn > self.total:
            gone = np.sort(rng.choice(drawn, drawn - self.total, replace=False))  # among the drawn battles
            np.subtract.at(row, np.searchsorted(np.cumsum(row), gone, side="right"), row.dtype.type(1))


def multinomial_by_poisson(rng: np.random.Generator, cell_count: np.ndarray, size: int) -> np.ndarray:
    """(size, C) draws of Multinomial(N, cell_count / N), N = cell_count.sum(): resampling N battles with
    replacement (`CellSampler`; build one sampler to draw many batches)."""
    return CellSampler(cell_count).draw(rng, size)
