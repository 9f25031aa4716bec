"""`arena rate`: rate a battles file from the command line (register() plugs it into the arena CLI)."""

from __future__ import annotations

import argparse
import glob
import importlib
import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from arena.errors import NOTHING_WRITTEN, ArenaError
from arena.rating.clusters import BOOTSTRAP_BY
from arena.rating.io import chatbot_arena_run, rating_source
from arena.rating.options import METHODS, RatingOptions, parse_anchor
from arena.rating.progress import rounds_bar
from arena.rating.summary import ENGINES, battles_for_rating

_FIT_MODULES = ("arena.rating.leaderboard", "arena.rating.report", "arena.rating.head_to_head")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `rate` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "rate",
        help="fit Bradley-Terry / Elo ratings from a battles file",
        description="Fit ratings with bootstrap intervals from battles "
        "(JSONL, JSON or CSV, optionally .gz, Parquet, or a run folder). With -o FILE, the head-to-head "
        "table (battles, points, weight per model pair and category) goes to FILE's stem + _head_to_head.csv.",
    )
    parser.add_argument(
        "battles", type=Path, metavar="BATTLES",
        help="battles file, run folder, or a quoted glob / folder of Parquet files (e.g. 'logs/*.parquet')",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N", help="bootstrap rounds (default 1000)"
    )
    parser.add_argument(
        "--bootstrap-by",
        choices=BOOTSTRAP_BY,
        default="battle",
        help="resample battles (default) or questions with all their battles (arena-hard's intervals)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    norm = parser.add_mutually_exclusive_group()
    norm.add_argument("--anchor", metavar="MODEL=RATING", help="fix a model at a rating")
    norm.add_argument("--baseline", metavar="MODEL", help="also report predicted win rate vs MODEL x 100")
    parser.add_argument("--method", choices=METHODS, default="bt", help="bt (default) or online elo")
    parser.add_argument("--style-control", action="store_true", help="control for length and markdown style")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--category", metavar="C", help="rate only battles of this category")
    which.add_argument(
        "--all-categories", action="store_true",
        help="overall and every category from one read (CSV: a category column, empty = overall; "
        "JSON: 'categories'; table: one per category)",
    )
    parser.add_argument(
        "--percentiles",
        type=float,
        nargs=2,
        default=(2.5, 97.5),
        metavar=("LOW", "HIGH"),
        help="interval percentiles (default 2.5 97.5)",
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default=None,
                        help="output format (default: from -o FILE's .csv / .json suffix, else table)")
    parser.add_argument(
        "--engine", choices=ENGINES, default="auto",
        help="aggregation of a Parquet glob/folder: duckdb (out of core, extra 'scale'), pyarrow chunks, "
        "or auto (duckdb when installed)",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--no-progress", action="store_true",
                        help="no running count of bootstrap rounds (shown on a terminal only, BT and style control)")
    parser.set_defaults(func=run_rate, interrupted_note=NOTHING_WRITTEN)
    return parser


def options_from_args(args: argparse.Namespace) -> RatingOptions:
    """Build RatingOptions from parsed `rate` arguments."""
    return RatingOptions(
        bootstrap=args.bootstrap,
        seed=args.seed,
        bootstrap_by=args.bootstrap_by,
        anchor=parse_anchor(args.anchor) if args.anchor else None,
        baseline=args.baseline,
        method=args.method,
        style_control=args.style_control,
        percentiles=tuple(args.percentiles),
    )


def _import_quietly(names: tuple[str, ...]) -> None:
    """Import modules ahead of use; a failure is left for the importing code to raise in the main thread."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the main thread's own import raises it again, with its traceback
            return


SUFFIX_FORMATS = {".json": "json", ".csv": "csv"}


def output_format(chosen: str | None, output: Path | None) -> str:
    """The output format: --format, else the -o file's suffix (.json, .csv), else the table; a --format that
    contradicts the file's suffix is an error (a table in leaderboard.json is read by nothing)."""
    implied = SUFFIX_FORMATS.get(output.suffix.lower()) if output is not None else None
    if chosen is not None and implied is not None and chosen != implied:
        raise ArenaError(f"--format {chosen} does not match -o {output} (a {implied} file name)",
                         hint=f"drop --format (the suffix decides) or name the file for {chosen}")
    return chosen or implied or "table"


def input_files(source: str | Path) -> set[Path]:
    """The files `arena rate` reads as battles for SOURCE: a file; a run folder's battles.jsonl(.gz) and,
    for a Chatbot Arena import, battles.anonymous.jsonl (not its other files: a leaderboard written there
    earlier); a folder or glob of Parquet files."""
    from arena.errors import DataError
    from arena.rating.duck import parquet_files
    from arena.rating.io import ANONYMOUS_FILENAME, BATTLES_FILENAME

    path = Path(source)
    try:
        parquet = parquet_files(source)
    except DataError:  # a glob rating refuses: it is refused there, with this message
        parquet = None
    if parquet is not None:
        return {p.resolve() for p in parquet}
    if path.is_dir():
        names = (BATTLES_FILENAME, BATTLES_FILENAME + ".gz", ANONYMOUS_FILENAME)
        return {(path / n).resolve() for n in names if (path / n).is_file()}
    if path.exists():
        return {path.resolve()}
    return {Path(p).resolve() for p in glob.glob(str(source))}


def _same_file(a: Path, b: Path) -> bool:
    """Whether two existing paths are one file (device and inode: hard and symbolic links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def overwritten_input(output: Path, source: str | Path) -> Path | None:
    """The file `arena rate -o OUTPUT` would write (OUTPUT or its head-to-head table beside it) that is one of
    the battles files read for SOURCE, under the same name or another one (a hard link), else None."""
    from arena.rating.head_to_head import beside

    inputs = input_files(source)
    for target in (output, beside(output)):
        if target.resolve() in inputs or (target.exists() and any(_same_file(target, p) for p in inputs)):
            return target
    return None


def run_rate(args: argparse.Namespace) -> int:
    """Run `arena rate`; warnings go to stderr, the leaderboard to stdout or -o FILE; returns the exit code."""
    options = options_from_args(args)
    if args.output is not None and args.output.is_dir():
        raise ArenaError(f"{args.output}: -o names a folder", hint="pass a file path, e.g. -o leaderboard.json")
    args.format = output_format(args.format, args.output)
    hit = overwritten_input(args.output, args.battles) if args.output is not None else None
    if hit is not None:
        what = "-o names" if hit == args.output else f"the head-to-head table beside -o {args.output} is"
        raise ArenaError(f"{hit}: {what} the battles file being rated; it would be overwritten",
                         hint="write the leaderboard to another file, e.g. -o leaderboard.json")
    source, note = rating_source(args.battles)  # a Chatbot Arena import run: its anonymous battles
    if note:
        print(f"note: {note}", file=sys.stderr)
    from arena.rating.duck import left_out

    if skipped := left_out(source):  # a folder of Parquet files: its other files are not battles
        print(f"note: {skipped}", file=sys.stderr)
    # the fitting modules (scipy.optimize, scipy.special: ~0.3 s) import beside the read, which spends
    # most of its time in pyarrow's parser without the GIL; an import error surfaces at the imports below
    preload = threading.Thread(target=_import_quietly, args=(_FIT_MODULES,), daemon=True)
    preload.start()
    battles = battles_for_rating(source, options, args.engine)
    preload.join()
    from arena.rating.head_to_head import beside, head_to_head_table, write_head_to_head
    from arena.rating.leaderboard import rate_battles
    from arena.rating.report import format_table, result_to_dict

    categories: dict = {}
    quiet = getattr(args, "no_progress", False) or not options.bootstrap
    with rounds_bar(False if quiet else None):
        if getattr(args, "all_categories", False):
            from arena.rating.leaderboard import rate_all

            result, categories, notes = rate_all(battles, options)
            warnings = list(result.warnings) + notes
            warnings += [f"[{name}] {w}" for name, r in categories.items() for w in r.warnings]
        else:
            result = rate_battles(battles, options, category=args.category)
            warnings = list(result.warnings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if options.anchor is None and options.baseline is None and chatbot_arena_run(args.battles):
        from arena.interop.chatbot_arena import ANCHOR_MODEL, ANCHOR_RATING

        if ANCHOR_MODEL in set(result.table["model"]):  # the run's board is on Chatbot Arena's scale
            print(f"note: ratings are centred on mean {options.init:g}; the run's leaderboard anchors {ANCHOR_MODEL} "
                  f"at {ANCHOR_RATING:g}: add --anchor {ANCHOR_MODEL}={ANCHOR_RATING:g} for its numbers", file=sys.stderr)
    from arena.board_columns import extras_table, run_extras, with_extra_columns

    extras = run_extras(args.battles, [str(m) for m in result.table["model"]])  # a run folder: serving, bench
    if args.format == "csv":
        text = with_extra_columns(result.table.to_csv(index=False), extras)
        if categories:
            import pandas as pd

            rows = [pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str).assign(category="")]
            rows += [r.table.astype(str).assign(category=name) for name, r in categories.items()]
            frame = pd.concat(rows, ignore_index=True).fillna("")
            text = frame[["category", *(c for c in frame.columns if c != "category")]].to_csv(index=False)
    elif args.format == "json":
        payload = result_to_dict(result)
        payload["options"] = options.to_dict()
        payload.update(extras)
        if getattr(args, "all_categories", False):
            payload["categories"] = {name: result_to_dict(r) for name, r in categories.items()}
        text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    else:
        text = format_table(result, options.percentiles) + "\n"
        if extra := extras_table({"table": result_to_dict(result)["table"], **extras}):
            text += extra + "\n"
        for name, r in categories.items():
            text += f"\ncategory {name}:\n" + format_table(r, options.percentiles) + "\n"
    if args.output:
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text, encoding="utf-8")
            write_head_to_head(head_to_head_table(battles), beside(args.output))
        except OSError as exc:
            raise ArenaError(f"{args.output}: cannot write the leaderboard ({exc.strerror})",
                             hint="-o takes a file path (an existing file is replaced)") from None
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m arena.rating.cli rate BATTLES ...`."""
    from arena.cli import run_standalone

    return run_standalone(register, argv)


if __name__ == "__main__":
    sys.exit(main())
