"""`arena bench` and `arena bench import lm-eval` (register() plugs them into the arena CLI)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena.errors import ArenaError
from arena.redaction import redact

IMPORT_FORMATS = ("lm-eval", "evalscope")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `bench` subcommand (with its `import` subcommand) to an argparse subparsers object."""
    bench = subparsers.add_parser(
        "bench", help="objective benchmarks (math, multiple choice, exact match) for the candidates",
        description="Run the config's bench tasks through its candidates (answers cached like arena answers, "
        "temperature 0) and write WORKSPACE/bench/<model>.json; or import another harness's results.")
    bench.add_argument("-c", "--config", type=Path, help="YAML run config with a 'bench:' section")
    bench.add_argument("--tasks", help="comma-separated task names (default: all tasks of the config)")
    bench.add_argument("--limit", type=int, default=None, help="use only the first N items of each task")
    bench.add_argument("--out", type=Path, default=None, help="workspace folder (overrides 'workspace' in the config)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.add_argument("--no-wait", action="store_true",
                       help="stop at once (exit 75) when another run holds the workspace")
    bench.set_defaults(func=cmd_bench)
    sub = bench.add_subparsers(dest="bench_command", metavar="import", required=False)
    imp = sub.add_parser("import", help="import another harness's results into WORKSPACE/bench/<model>.json",
                         description="Import lm-evaluation-harness results JSON (a file, or a folder searched for "
                         "results*.json) or evalscope report JSON (a file, or a folder such as outputs/) as "
                         "objective scores.")
    imp.add_argument("format", choices=IMPORT_FORMATS, metavar="FORMAT", help=" | ".join(IMPORT_FORMATS))
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="results files or folders")
    imp.add_argument("--model", help="model name to file the scores under (default: from the results file)")
    imp.add_argument("--metric", help="metric to import, e.g. acc_norm or exact_match,flexible-extract "
                     "(default: acc, then exact_match strict-match, flexible-extract)")
    imp.add_argument("--tasks", help="comma-separated task names to import (default: top-level tasks and groups)")
    imp.add_argument("--all-subtasks", action="store_true", help="also import the subtasks of groups (e.g. mmlu_*)")
    imp.add_argument("--out", type=Path, default=Path("arena-workspace"), help="workspace (default ./arena-workspace)")
    imp.set_defaults(func=cmd_import)
    return bench


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_bench(args: argparse.Namespace) -> int:
    """`arena bench -c CONFIG`: answer, score and write the objective scores of every candidate."""
    from arena.bench.configfile import load_bench_config
    from arena.bench.runner import run_bench, score_table, workspace_override

    if args.config is None:
        raise ArenaError("arena bench needs -c CONFIG (a run config with a 'bench:' section)",
                         hint="arena bench -c configs/cfg_bench.yaml, or: arena bench import lm-eval PATH")
    if args.limit is not None and args.limit < 1:
        raise ArenaError("--limit must be at least 1")
    cfg, bench = load_bench_config(args.config)
    cfg = workspace_override(cfg, args.out)
    progress = False if args.no_progress else None
    outcome = run_bench(cfg, bench, task_names=_names(args.tasks), limit=args.limit, command=sys.argv,
                        show_progress=progress, wait=not args.no_wait)
    print(score_table(outcome))
    errors = outcome.run.info.get("errors", [])
    if errors:
        print(f"\n{len(errors)} error(s) recorded in {outcome.run.path / 'run.json'}; "
              f"first: {redact(errors[0]['message'])}")
    print(f"\nscores: {Path(cfg.workspace) / 'bench'}   run folder: {outcome.run.path}")
    refresh_leaderboard(Path(cfg.workspace), wait=not args.no_wait)
    from arena.cli import exit_code

    return exit_code(outcome.run.info)  # the run's status (arena.run_status): failed 1, partial 3


def refresh_leaderboard(workspace: Path, wait: bool = True) -> None:
    """Put the new objective scores into the workspace's latest leaderboard.{json,csv} (its ratings unchanged)."""
    from arena.board_columns import latest_board, refresh_board
    from arena.workspace_lock import workspace_lock

    with workspace_lock(workspace, wait=wait):
        board = latest_board(workspace)
        if board is not None and refresh_board(board, workspace):
            print(f"leaderboard {board / 'leaderboard.json'} (and .csv): objective columns refreshed")


def cmd_import(args: argparse.Namespace) -> int:
    """`arena bench import FORMAT PATH...`: file another harness's scores under WORKSPACE/bench/."""
    from arena.bench.evalscope_import import read_evalscope
    from arena.bench.lmeval import read_lm_eval
    from arena.bench.results import write_bench

    readers: dict[str, Callable[..., list[dict[str, Any]]]] = {"lm-eval": read_lm_eval, "evalscope": read_evalscope}
    results = readers[args.format](args.paths, model=args.model, metric=args.metric, tasks=_names(args.tasks),
                                   all_subtasks=args.all_subtasks)
    for res in results:
        path = write_bench(args.out, res)
        shown = ", ".join(f"{t}={v:.4f}" for t, v in sorted(res["scores"].items()))
        print(f"{res['model']}: {len(res['scores'])} task(s) -> {path}\n  {shown}")
    if results:
        refresh_leaderboard(args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `bench` on its own: `python -m arena.bench.cli -c CONFIG` or `... import lm-eval PATH`."""
    parser = argparse.ArgumentParser(prog="arena")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except ArenaError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished work is saved; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
