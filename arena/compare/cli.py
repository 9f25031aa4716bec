"""`arena compare RUN_OLD RUN_NEW` / `arena compare [WORKSPACE]`: which week-on-week changes are real.

Exit codes: 0 the comparison was made (whatever the verdicts); 4 a model named by --fail-on-regression is
significantly worse; 5 the runs are not comparable and --strict or --fail-on-regression asked for a
verdict; 2 bad input (one line naming the file or option).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from arena.compare.render import TERMINAL_ROWS
from arena.errors import NOTHING_WRITTEN, ArenaError

APP_URL = "http://localhost:8501/"  # `arena viz` / streamlit's default address

REGRESSION_EXIT = 4
NOT_COMPARABLE_EXIT = 5
MAX_ROUNDS = 100_000


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null, tuples lists, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_args(args: argparse.Namespace) -> None:
    """Reject options outside their range with the fix."""
    if not 0.5 <= args.level < 1.0:
        raise ArenaError(f"--level must be in [0.5, 1), got {args.level}", hint="e.g. --level 0.95")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        raise ArenaError(f"--rounds must be between 1 and {MAX_ROUNDS}, got {args.rounds}", hint="e.g. --rounds 500")
    if args.style_rounds is not None and not 0 <= args.style_rounds <= MAX_ROUNDS:
        raise ArenaError(f"--style-rounds must be between 0 and {MAX_ROUNDS}, got {args.style_rounds}",
                         hint="e.g. --style-rounds 200, or 0 for point estimates")
    if args.seed < 0:
        raise ArenaError(f"--seed must be >= 0, got {args.seed}")
    if args.rows < 0:
        raise ArenaError(f"--rows must be >= 0, got {args.rows}", hint=f"e.g. --rows {TERMINAL_ROWS}, or 0 for every model")


def _exit_code(result: dict[str, Any], args: argparse.Namespace) -> int:
    """0, or the regression / not-comparable code, with the reason on stderr."""
    gate = bool(args.fail_on_regression)
    if not result["comparable"]:
        if args.strict or gate:
            print(f"runs not comparable: {'; '.join(result['reasons'])}", file=sys.stderr)
            return NOT_COMPARABLE_EXIT
        return 0
    shared = {r["model"] for r in result["models"]}
    unrated = {e["model"] for e in result.get("unrated", [])}
    for model in args.fail_on_regression or []:
        if model in unrated:
            raise ArenaError(f"--fail-on-regression {model!r}: the new run was configured with the model but has no "
                             "battles for it (its answers or judgments failed), so it cannot pass the gate",
                             hint="see the new run's errors (arena runs), re-run it to ask again what failed")
        if model not in shared:
            raise ArenaError(f"--fail-on-regression {model!r}: the model is not rated in both runs",
                             hint="shared models: " + ", ".join(sorted(shared)[:20]))
    failed = [m for m in args.fail_on_regression or [] if m in result["worse"]]
    if failed:
        print(f"regression: {', '.join(failed)} significantly worse at the {args.level:.0%} level", file=sys.stderr)
        return REGRESSION_EXIT
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """`arena compare`: load two runs, compare them, print table or JSON, write compare.json and report.md."""
    # numpy/pandas/scipy are imported when comparing, not for `arena --help`
    from arena.compare.html import html_report
    from arena.compare.render import markdown, terminal
    from arena.compare.result import compare_runs
    from arena.compare.runs import load_run, resolve_pair
    from arena.records import write_json_atomic, write_text_atomic

    _check_args(args)
    old_path, new_path, picked = resolve_pair(list(args.paths))
    if Path(old_path).resolve() == Path(new_path).resolve():
        raise ArenaError(f"{new_path}: the same run given twice", hint="arena compare RUN_OLD RUN_NEW (two runs)")
    old, new = load_run(old_path), load_run(new_path)
    result = clean(compare_runs(old, new, level=args.level, rounds=args.rounds, seed=args.seed,
                                categories=not args.no_categories, picked=picked,
                                adjust=not args.per_model, force=args.force, app_url=args.app_url,
                                style_rounds=args.style_rounds))
    if not args.no_write:
        try:  # each file whole or not at all (atomic renames)
            write_json_atomic(new.path / "compare.json", result)
            write_text_atomic(new.path / "report.md", markdown(result))
            write_text_atomic(new.path / "report.html", html_report(result))
        except OSError as exc:
            raise ArenaError(f"{new.path}: cannot write compare.json ({exc.strerror})",
                             hint="use --no-write for a read-only run folder") from None
    if args.format == "json":
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(terminal(result, args.rows))
        if not args.no_write:
            print(f"\nwritten: {new.path / 'compare.json'}, {new.path / 'report.md'}, {new.path / 'report.html'}")
    return _exit_code(result, args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `compare` to the arena CLI."""
    p = sub.add_parser("compare", help="compare two runs: rating changes with paired intervals and verdicts "
                       "(default: the latest run of a workspace against the previous completed run of its series)")
    p.add_argument("paths", nargs="*", type=Path, metavar="RUN_OR_WORKSPACE",
                   help="RUN_OLD RUN_NEW (run folders), or one WORKSPACE (default ./arena-workspace)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the change intervals (0.95)")
    p.add_argument("--per-model", action="store_true",
                   help="each model's interval at --level alone (default: Bonferroni over the shared models, so "
                   "the chance of flagging any unchanged model is at most 1 - level)")
    p.add_argument("--rounds", type=int, default=500, help="paired bootstrap rounds (500)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    p.add_argument("--style-rounds", type=int, default=None, metavar="N",
                   help="paired bootstrap rounds of the style-controlled change (default: --rounds, at most 200; "
                   "0: point estimates only)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="terminal table or JSON on stdout")
    p.add_argument("--rows", type=int, default=TERMINAL_ROWS, metavar="N",
                   help=f"terminal table: beyond N models, only the significant changes and the top of the new "
                   f"ranking ({TERMINAL_ROWS}; 0: every model; the report files always hold every model)")
    p.add_argument("--fail-on-regression", action="append", metavar="MODEL",
                   help=f"exit {REGRESSION_EXIT} when MODEL is significantly worse (repeatable)")
    p.add_argument("--strict", action="store_true",
                   help=f"exit {NOT_COMPARABLE_EXIT} when the runs are not comparable (default: report it, exit 0)")
    p.add_argument("--force", action="store_true",
                   help="compute the changes even when the runs are not comparable (marked as such; needs shared "
                   "questions)")
    p.add_argument("--no-categories", action="store_true", help="skip the per-category comparisons")
    p.add_argument("--no-write", action="store_true",
                   help="do not write compare.json / report.md / report.html into the new run")
    p.add_argument("--app-url", default=APP_URL, metavar="URL",
                   help=f"the app (arena viz) that the report's battle links open ({APP_URL})")
    p.set_defaults(func=cmd_compare, interrupted_note=NOTHING_WRITTEN)


def main(argv: list[str] | None = None) -> int:
    """`python -m arena.compare.cli ...`."""
    from arena.cli import run_standalone

    return run_standalone(register, argv)


if __name__ == "__main__":
    sys.exit(main())
