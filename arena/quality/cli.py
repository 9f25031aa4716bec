"""`arena quality`: can this question set and judge separate our models, and do they agree with a reference?"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from arena.quality.metrics import QualityReport, quality
from arena.quality.sources import load_table


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `quality` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "quality",
        help="benchmark-quality metrics of a run: separability, agreement with a reference, correlations, Brier",
        description="Benchmark-quality metrics as the arena-hard paper defines them. RUN is a run folder, a "
        "workspace (its latest run), a leaderboard.json/.csv or any CSV with model, score and interval columns. "
        "Give several RUNs (e.g. the same questions under two judges) to compare them against one reference.",
    )
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folder, workspace or leaderboard file")
    parser.add_argument("--reference", type=Path, metavar="FILE",
                        help="reference leaderboard (CSV or JSON: model, rating/score, optional ci_low/ci_high "
                        "or lower/upper), e.g. a human leaderboard or last quarter's trusted run")
    parser.add_argument("--category", metavar="C", help="use one category's table")
    parser.add_argument("--seed", type=int, default=0, help="seed of the question bootstrap for single-mode runs")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    parser.set_defaults(func=run_quality)
    return parser


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def format_report(name: str, source: str, report: QualityReport) -> str:
    """A human-readable block for one benchmark table."""
    lines = [f"{name}", f"  source: {source}"]
    lines.append(f"  separability with confidence  {_num(report.separability, '{:.1%}')}  "
                 f"({report.separable_pairs} of {report.n_pairs} model pairs have non-overlapping intervals)")
    if report.reference_models is not None:
        lines.append(f"  models shared with reference  {len(report.shared_models)} of {report.n_models}")
        lines.append(f"  agreement with confidence     {_num(report.agreement)}  on [-1, 1] "
                     f"(= {_num(report.agreement_01)} on arena-hard-auto's 0..1 scale; "
                     f"{report.agreement_pairs} pairs the reference separates)")
        lines.append(f"  Spearman rho                  {_num(report.spearman)}")
        lines.append(f"  Kendall tau-b                 {_num(report.kendall)}")
        lines.append(f"  pair-rank Brier score         {_num(report.brier, '{:.4f}')}  "
                     f"({report.brier_pairs} ordered pairs; 0 is best, 0.25 is a coin flip)")
    for note in report.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def run_quality(args: argparse.Namespace) -> int:
    """Run `arena quality`: print the metrics of every RUN (against --reference when given)."""
    ref = load_table(args.reference, None, args.seed).table if args.reference else None
    results = []
    for path in args.runs:
        table = load_table(path, args.category, args.seed)
        results.append((str(path), table.source, quality(table.table, ref, table.percentiles)))
    if args.format == "json":
        payload = [{"run": name, "source": source, **rep.to_dict()} for name, source, rep in results]
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return 0
    if args.reference:
        print(f"reference: {args.reference}\n")
    print("\n\n".join(format_report(name, source, rep) for name, source, rep in results))
    if ref is None:
        print("\n(give --reference FILE for agreement, rank correlations and the Brier score)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m arena.quality.cli quality RUN ...`."""
    from arena.cli import run_standalone

    return run_standalone(register, argv)


if __name__ == "__main__":
    sys.exit(main())
