"""Benchmark-quality metrics of the arena-hard paper (Li et al., 2024), on score tables with intervals.

A score table has one row per model: `model`, `score` (a rating, win rate or mean grade: higher is
better), and `low` / `high` (the confidence interval; NaN when the table has none). The definitions:

- separability with confidence: the share of model pairs whose intervals do not overlap (intervals
  that only touch count as separated, as in arena-hard-auto's own script; a zero-width interval, such as
  a baseline's, inside another interval overlaps it);
- agreement with confidence: over the pairs the *reference* separates, +1 when the benchmark separates
  them in the same order, -1 when it separates them in the opposite order, 0 when its intervals
  overlap; the mean lies in [-1, 1]. arena-hard-auto's script scores the same cases 1 / 0 / 0.5,
  which is (1 + ours) / 2; both are reported. A reference without intervals separates every pair whose
  scores differ;
- Spearman and Kendall (tau-b) rank correlations of the scores of the models both tables hold;
- pair-rank Brier score: for each pair the reference orders strictly, the benchmark's probability that
  the first model ranks above the second, P = Phi((s_a - s_b) / sqrt(sd_a^2 + sd_b^2)) with sd from
  the interval width under a normal approximation (0 / 0.5 / 1 without intervals), against the
  reference order (1 or 0); the mean squared error, 0 best, 0.25 for a coin flip.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class QualityReport:
    """The metrics of one benchmark table, against a reference when one was given."""

    n_models: int
    n_pairs: int
    separable_pairs: int
    separability: float | None
    interval_models: int
    reference_models: int | None = None
    shared_models: list[str] = field(default_factory=list)
    agreement: float | None = None
    agreement_pairs: int = 0
    spearman: float | None = None
    kendall: float | None = None
    brier: float | None = None
    brier_pairs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def agreement_01(self) -> float | None:
        """Agreement on arena-hard-auto's script scale (1 agree, 0.5 unsure, 0 disagree)."""
        return None if self.agreement is None else (1.0 + self.agreement) / 2.0

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN-free)."""
        out = {k: v for k, v in self.__dict__.items()}
        out["agreement_01"] = self.agreement_01
        return out


def separated(a_low: float, a_high: float, b_low: float, b_high: float) -> bool:
    """True when two intervals do not overlap (touching intervals count as separated, a point inside does not)."""
    return a_high <= b_low or b_high <= a_low


def _has_interval(row: pd.Series) -> bool:
    return bool(np.isfinite(row["low"]) and np.isfinite(row["high"]))


def separability(table: pd.DataFrame) -> tuple[int, int, int]:
    """(separable pairs, pairs considered, models with an interval): pairs among models with intervals."""
    rows = [r for _, r in table.iterrows() if _has_interval(r)]
    pairs = list(combinations(rows, 2))
    sep = sum(separated(a["low"], a["high"], b["low"], b["high"]) for a, b in pairs)
    return int(sep), len(pairs), len(rows)


def _order(a: pd.Series, b: pd.Series, use_interval: bool) -> int:
    """+1 when a is confidently above b, -1 when below, 0 when not separated."""
    if use_interval and not separated(a["low"], a["high"], b["low"], b["high"]):
        return 0
    return int(np.sign(a["score"] - b["score"]))


def _interval_models(table: pd.DataFrame, models: list[str]) -> tuple[bool, set[str]]:
    """(whether the table has intervals at all, the models among `models` that lack one when it does)."""
    has = {m: _has_interval(table.loc[m]) for m in models}
    uses = any(has.values())
    return uses, ({m for m, ok in has.items() if not ok} if uses else set())


def agreement_with_confidence(bench: pd.DataFrame, ref: pd.DataFrame) -> tuple[float | None, int]:
    """Mean agreement in [-1, 1] over the pairs the reference separates, and how many pairs that is.

    A table with intervals orders a pair only through them: a model of it without an interval is left out
    (it is not confidently ordered against anyone). A table without any interval orders by score."""
    b, r = bench.set_index("model"), ref.set_index("model")
    shared = [m for m in b.index if m in r.index]
    ref_ci, ref_out = _interval_models(r, shared)
    bench_ci, bench_out = _interval_models(b, shared)
    total, n = 0, 0
    for x, y in combinations([m for m in shared if m not in ref_out | bench_out], 2):
        ref_order = _order(r.loc[x], r.loc[y], ref_ci)
        if ref_order == 0:
            continue
        n += 1
        total += ref_order * _order(b.loc[x], b.loc[y], bench_ci)
    return (total / n if n else None), n


def _sd(row: pd.Series, z_width: float) -> float:
    return float((row["high"] - row["low"]) / z_width) if _has_interval(row) else 0.0


def pair_rank_brier(bench: pd.DataFrame, ref: pd.DataFrame, percentiles: tuple[float, float] = (2.5, 97.5)
                    ) -> tuple[float | None, int]:
    """Mean squared error of the benchmark's P(a ranks above b) against the reference order, and the pairs."""
    z_width = float(stats.norm.ppf(percentiles[1] / 100) - stats.norm.ppf(percentiles[0] / 100))
    b, r = bench.set_index("model"), ref.set_index("model")
    shared = [m for m in b.index if m in r.index]
    _uses, bench_out = _interval_models(b, shared)  # a model without an interval has no probability to give
    errors = []
    for x, y in combinations([m for m in shared if m not in bench_out], 2):
        if r.loc[x, "score"] == r.loc[y, "score"]:
            continue
        truth = 1.0 if r.loc[x, "score"] > r.loc[y, "score"] else 0.0
        diff = b.loc[x, "score"] - b.loc[y, "score"]
        sd = float(np.hypot(_sd(b.loc[x], z_width), _sd(b.loc[y], z_width)))
        p = float(stats.norm.cdf(diff / sd)) if sd > 0 else (0.5 + 0.5 * float(np.sign(diff)))
        errors.append((p - truth) ** 2)
    return (float(np.mean(errors)) if errors else None), len(errors)


def correlations(bench: pd.DataFrame, ref: pd.DataFrame) -> tuple[float | None, float | None]:
    """Spearman's rho and Kendall's tau-b between the scores of the shared models (None below 3 models)."""
    merged = bench.merge(ref, on="model", suffixes=("_b", "_r"))
    if len(merged) < 3:
        return None, None
    rho = stats.spearmanr(merged["score_b"], merged["score_r"]).statistic
    tau = stats.kendalltau(merged["score_b"], merged["score_r"]).statistic
    return (None if np.isnan(rho) else float(rho)), (None if np.isnan(tau) else float(tau))


def quality(bench: pd.DataFrame, ref: pd.DataFrame | None = None,
            percentiles: tuple[float, float] = (2.5, 97.5)) -> QualityReport:
    """Every metric for one benchmark table (and a reference table when given)."""
    sep, pairs, with_ci = separability(bench)
    report = QualityReport(len(bench), pairs, sep, (sep / pairs if pairs else None), with_ci)
    if with_ci < len(bench):
        report.notes.append(f"{len(bench) - with_ci} model(s) without an interval are left out of separability")
    if ref is None:
        return report
    shared = [m for m in bench["model"] if m in set(ref["model"])]
    report.reference_models = len(ref)
    report.shared_models = shared
    missing = [m for m in bench["model"] if m not in set(ref["model"])]
    if missing:
        report.notes.append(f"not in the reference (left out of the comparison): {', '.join(missing[:10])}")
    b, r = bench.set_index("model"), ref.set_index("model")
    ref_ci, ref_out = _interval_models(r, shared)
    _bench_ci, bench_out = _interval_models(b, shared)
    if not ref_ci:
        report.notes.append("the reference has no intervals: it separates every pair whose scores differ")
    if bench_out:
        report.notes.append("without an interval in this table (left out of agreement and Brier): "
                            + ", ".join(sorted(bench_out)[:10]))
    if ref_out:
        report.notes.append("without an interval in the reference (left out of agreement): "
                            + ", ".join(sorted(ref_out)[:10]))
    report.agreement, report.agreement_pairs = agreement_with_confidence(bench, ref)
    report.spearman, report.kendall = correlations(bench, ref)
    report.brier, report.brier_pairs = pair_rank_brier(bench, ref, percentiles)
    return report
