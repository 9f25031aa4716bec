"""`arena import`, `arena leaderboard` and `arena export` (register() plugs them into the arena CLI)."""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from arena.errors import ArenaError
from arena.interop import alpacaeval, arenahard, chatbot_arena, evalscope, mtbench
from arena.interop.common import FORMATS, Bundle
from arena.interop.lc_board import LCOptions
from arena.interop.leaderboard import CONVENTIONS, Board, run_boards
from arena.interop.writer import new_run_dir, write_run
from arena.workspace_lock import workspace_lock
from arena.rating import RatingOptions

READERS: dict[str, Callable[..., Bundle]] = {
    "mt-bench": mtbench.read_files, "arena-hard": arenahard.read_files, "alpaca-eval": alpacaeval.read_files,
    "evalscope": evalscope.read_files, "chatbot-arena": chatbot_arena.read_files,
}
EXPORT_FORMATS = ("chatbot-arena", "mt-bench", "alpaca-eval")


def register(subparsers: Any) -> None:
    """Add the `import`, `leaderboard` and `export` subcommands to an argparse subparsers object."""
    imp = subparsers.add_parser("import", help="import answers/judgments/battles of another tool as a run",
                                description="Create a run folder from FastChat MT-bench, arena-hard-auto, "
                                "AlpacaEval, evalscope or Chatbot Arena files (files or folders).")
    imp.add_argument("format", choices=FORMATS, metavar="FORMAT", help=" | ".join(FORMATS))
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to import")
    imp.add_argument("-o", "--output", type=Path, metavar="RUN_DIR",
                     help="run folder to create (default WORKSPACE/runs/<time>-import-<format>)")
    imp.add_argument("--workspace", type=Path, default=Path("arena-workspace"), help="workspace (default ./arena-workspace)")
    imp.add_argument("--baseline", metavar="MODEL", help="baseline model (arena-hard v0.1 default gpt-4-0314; "
                     "alpaca-eval: the reference generator)")
    imp.add_argument("--judge", metavar="NAME", help="import only this judge's judgments (needed when the files "
                     "hold several judges: the tools rank one judge at a time); also the judge name where the "
                     "files do not record one (alpaca-eval)")
    imp.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for leaderboard.json (default 1000)")
    imp.add_argument("--seed", type=int, default=0)
    imp.add_argument("--no-wait", action="store_true",
                     help="stop at once (exit 75) when another run holds the workspace")
    imp.set_defaults(func=cmd_import)

    lb = subparsers.add_parser("leaderboard", help="print a run's leaderboard in its source tool's convention")
    lb.add_argument("run", type=Path, metavar="RUN_DIR")
    lb.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table")
    lb.add_argument("--convention", choices=CONVENTIONS, default="auto",
                    help="force a convention (default: the tool the run came from; BT for native runs)")
    lb.add_argument("--bootstrap", type=int, default=None,
                    help="bootstrap rounds (default: 100 for arena-hard scores, as arena-hard; 1000 for Bradley-Terry)")
    lb.add_argument("--seed", type=int, default=0)
    lb.add_argument("--arena-hard-version", choices=("v0.1", "v2.0"), default="v0.1",
                    help="arena-hard score conventions: v0.1 = win rate on all games, 95%% interval (default); "
                    "v2.0 = mean of the bootstrap win rates, 90%% interval (arena-hard-auto v2.0's show_result)")
    lb.add_argument("--style-control", action="store_true", help="add the arena-hard score controlled for "
                    "length and markdown, with the features and fit of --arena-hard-version")
    lb.add_argument("--category", metavar="C", help="one category's battles and grades only (arena-hard v2.0 "
                    "runs with a baseline per category: that category's board)")
    lb.add_argument("--lc-difficulty", type=Path, metavar="FILE", help="published instruction difficulty for the "
                    "length-controlled win rate (CSV: instruction,instruction_difficulty; joined by text)")
    lb.add_argument("--lc-gamed", type=Path, action="append", default=[], metavar="FILE", help="annotations of a "
                    "length-gamed baseline (give the verbose and the concise one) to regularise the LC GLM")
    lb.set_defaults(func=cmd_leaderboard)

    exp = subparsers.add_parser("export", help="write a run's battles and answers in another tool's format")
    exp.add_argument("run", type=Path, metavar="RUN_DIR")
    exp.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    exp.add_argument("-o", "--output", type=Path, metavar="DIR", help="output folder (default RUN_DIR/export-<format>)")
    exp.set_defaults(func=cmd_export)


def cmd_import(args: argparse.Namespace) -> int:
    """Run `arena import`: read the files, write the run folder, print a summary."""
    RatingOptions(bootstrap=args.bootstrap, seed=args.seed)  # bad --bootstrap / --seed stop before any work
    bundle = Bundle(tool=args.format, paths=[str(p) for p in args.paths])
    READERS[args.format](args.paths, bundle, baseline=args.baseline, judge=args.judge)
    if not (bundle.answers or bundle.judgments or bundle.battles or bundle.questions):
        names = ", ".join(str(p) for p in args.paths)
        raise ArenaError(f"{names}: nothing to import: no questions, answers, judgments or battles in the files")
    out = Path(args.output).resolve() if args.output else None
    shared = out is None or out.parent.name == "runs"  # the run writes into a workspace's answer cache
    with workspace_lock(out.parent.parent if out else args.workspace, wait=not args.no_wait) if shared \
            else contextlib.nullcontext() as lock:
        run = new_run_dir(args.output, args.workspace, args.format)
        if lock:
            lock.set_run(run.run_id)
        info = write_run(bundle, run, sys.argv, bootstrap=args.bootstrap, seed=args.seed)
    for f in bundle.files:
        failed = ", ".join(f"{n} {why}" for why, n in f.failed.items())
        print(f"{f.path}: {f.role}: {f.read} read, {f.ok} used" + (f"; not used: {failed}" if failed else ""))
    for note in bundle.notes:
        print(f"note: {note}")
    rating = info.get("stages", {}).get("rating") or {}
    for warning in rating.get("warnings", []):
        print(f"warning: {warning}")
    if rating.get("skipped"):
        print(f"note: no leaderboard: {rating['skipped']}")
    print(f"{len(bundle.questions)} questions, {sum(map(len, bundle.answers.values()))} answers, "
          f"{len(bundle.judgments)} judgments, {len(bundle.battles)} battles, {len(bundle.scores)} scores")
    print(f"run folder: {run.path}")
    return 0


def _fmt(value: Any) -> str:
    """A cell for text/markdown output."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def render(boards: list[Board], fmt: str) -> str:
    """Boards as table, csv, json or markdown text."""
    if fmt == "json":
        payload = [{"title": b.title, "convention": b.convention, "notes": b.notes,
                    "table": json.loads(b.table.to_json(orient="records"))} for b in boards]
        return json.dumps(payload, indent=2) + "\n"
    parts = []
    for b in boards:
        first = [n for n in b.notes if n.startswith("DRY RUN")]  # random verdicts: said before the numbers
        rest = [n for n in b.notes if n not in first]
        if fmt == "csv":
            for n in first:  # CSV stays plain CSV: the warning goes to the terminal
                print(f"note: {b.title}: {n}", file=sys.stderr)
            parts.append((f"# {b.title}\n" if len(boards) > 1 else "") + b.table.to_csv(index=False))
        elif fmt == "markdown":
            head = "".join(f"**{n}**\n\n" for n in first)
            notes = "".join(f"\n_{n}_\n" for n in rest)
            parts.append(f"### {b.title}\n\n{head}{_markdown(b.table)}\n{notes}")
        else:
            body = b.table.to_string(index=False, float_format=lambda v: f"{v:.2f}")
            parts.append(f"== {b.title}\n" + "".join(f"  note: {n}\n" for n in first) + f"{body}\n"
                         + "".join(f"  note: {n}\n" for n in rest))
    return "\n".join(parts)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Run `arena leaderboard`."""
    RatingOptions(bootstrap=args.bootstrap or 0, seed=args.seed)  # bounds --bootstrap and --seed
    lc = LCOptions(args.lc_difficulty, tuple(args.lc_gamed))
    sys.stdout.write(render(run_boards(args.run, args.convention, args.bootstrap, args.seed,
                                       arena_hard_version=args.arena_hard_version, lc=lc,
                                       style_control=args.style_control, category=args.category), args.format))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Run `arena export`."""
    from arena.interop.export import export_run

    out = args.output or (args.run / f"export-{args.format}")
    written = export_run(args.run, args.format, out)
    for path, n in written.items():
        print(f"{path}: {n} records")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m arena.interop.cli import|leaderboard|export ...`."""
    from arena.cli import run_standalone

    return run_standalone(register, argv)


if __name__ == "__main__":
    sys.exit(main())
