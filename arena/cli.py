"""The `arena` command line: `arena run`, `arena rate`, and the subcommands later stages add."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from arena import __version__
from arena.errors import ArenaError
from arena.redaction import redact


def cmd_run(args: argparse.Namespace) -> int:
    """`arena run`: answers (and, when configured, judgments and ratings) for one config."""
    from arena.config import load_config
    from arena.pipeline import run_pipeline, summary_table, workspace_path
    from arena.report import judge_report, rating_report, workspace_budget_spent

    cfg = load_config(args.config)
    if args.limit is not None:
        if args.limit < 1:
            raise ArenaError("--limit must be at least 1")
        cfg.questions.limit = args.limit
    cfg = workspace_path(cfg, args.out)
    progress = False if args.no_progress else None
    ctx = run_pipeline(cfg, dry_run=args.dry_run, command=sys.argv, show_progress=progress, wait=not args.no_wait,
                       log=pipe_safe_print)
    from arena.board_columns import board_report
    from arena.perf.serving import serving_report

    try:  # the run is finished and saved: a reader that stops early (`| head`) does not change its exit code
        print(summary_table(ctx.run.info))
        print(serving_report(ctx.run.path))
        print(judge_report(ctx.run.info))
        print(rating_report(ctx.run.path))
        print(board_report(ctx.run.path))
        errors = ctx.run.info.get("errors", [])
        if errors:
            print(f"\n{len(errors)} error(s) recorded in {ctx.run.path / 'run.json'}; first: {errors[0]['message']}")
            print("raise judge.max_total_cost_usd to judge the rest (the workspace has spent it; a re-run stops at the "
                  "same place); finished work is kept" if workspace_budget_spent(ctx.run.info) else
                  "re-run the same command to retry what failed; finished work is kept")
        print(f"\nrun folder: {ctx.run.path}", flush=True)
    except BrokenPipeError:
        silence_stdout()
    return exit_code(ctx.run.info)


def pipe_safe_print(line: str) -> None:
    """print() for progress lines during a run: a reader that went away (`| head`) must not stop the run."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so nothing more (not even the flush at exit)
    fails on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def exit_code(info: dict) -> int:
    """The exit code of a finished run's status: 0 completed, 3 partial, 1 failed (the reasons on stderr)."""
    from arena.run_status import EXIT_CODES

    status = info.get("status", "failed")
    reasons = info.get("status_reasons") or []
    if status != "completed":
        print(f"\nrun {status}" + (": " + "; ".join(reasons) if reasons else ""), file=sys.stderr)
    return EXIT_CODES.get(status, 1)


def cmd_runs(args: argparse.Namespace) -> int:
    """`arena runs [WORKSPACE]`: every run of a workspace with its status (a dead process shows as killed)."""
    from arena.run_status import shown_status
    from arena.store import Workspace

    ws = Workspace(args.workspace)
    if not ws.runs_dir.is_dir():
        raise ArenaError(f"{ws.root}: no runs/ folder, so no runs", hint="name a workspace: arena runs WORKSPACE")
    print(f"{'run':<40} {'status':<24} {'started':<21} errors")
    for run in ws.runs():
        try:
            info = json.loads((run.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {"status": "unreadable"}
        info = info if isinstance(info, dict) else {"status": "unreadable"}
        errors = info.get("errors") if isinstance(info.get("errors"), list) else []
        cfg = info.get("config") if isinstance(info.get("config"), dict) else {}
        status = shown_status(info) + (" (dry run)" if cfg.get("dry_run") else "")  # random verdicts
        print(f"{run.run_id:<40} {status:<24} {info.get('started') or ''!s:<21} {len(errors)}")
        for reason in (info.get("status_reasons") or [])[:3]:
            print(f"    {reason}")
    return 0


# subcommands whose module is known: `arena rate ...` builds a parser with only that module's subcommands,
# so it does not import the other stages (scipy.stats, plotly, streamlit, openai, ...)
_DIRECT = {"rate": "arena.rating.cli"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand (or only those of module `only`, see _DIRECT)."""
    parser = argparse.ArgumentParser(prog="arena", description="LLM-as-judge arena with Bradley-Terry / Elo "
                                     "leaderboards. Start with: arena run -c configs/cfg_pairwise.yaml --dry-run")
    parser.add_argument("--version", action="version", version=f"arena {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a config: answers, then judging and rating when configured")
    run.add_argument("-c", "--config", required=True, type=Path, help="YAML run config")
    run.add_argument("--dry-run", action="store_true",
                     help="everything for real except the judge (seeded random verdicts, cost estimate)")
    run.add_argument("--out", type=Path, default=None, help="workspace folder (overrides 'workspace' in the config)")
    run.add_argument("--limit", type=int, default=None, help="use only the first N questions")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--no-wait", action="store_true",
                     help="when another run holds the workspace, stop at once (exit 75) instead of waiting")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
    run.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="list a workspace's runs with their status (completed, partial, failed, "
                          "interrupted, killed, running)")
    runs.add_argument("workspace", nargs="?", type=Path, default=Path("arena-workspace"),
                      help="workspace folder (default ./arena-workspace)")
    runs.set_defaults(func=cmd_runs)

    if only is not None:
        import importlib

        importlib.import_module(only).register(sub)
        return parser
    from arena.bench.cli import register as register_bench
    from arena.compare.cli import register as register_compare
    from arena.human.cli import register as register_human
    from arena.interop.cli import register as register_interop
    from arena.perf.cli import register as register_perf
    from arena.quality.cli import register as register_quality
    from arena.rating.cli import register as register_rate
    from viz.launch import register as register_viz

    register_rate(sub)
    register_interop(sub)
    register_bench(sub)
    register_quality(sub)
    register_human(sub)
    register_viz(sub)
    register_perf(sub)
    register_compare(sub)
    return parser


def run_standalone(register: Callable[[argparse._SubParsersAction], None], argv: list[str] | None) -> int:
    """`python -m arena.<part>.cli ...`: only that part's subcommands; an ArenaError prints `error: ...`, exit 2."""
    parser = argparse.ArgumentParser(prog="arena")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ArenaError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `arena` console script."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    direct = _DIRECT.get(words[0]) if words else None
    parser = build_parser(direct)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if direct is None:
        from arena.interrupts import install_sigterm_as_keyboard_interrupt

        install_sigterm_as_keyboard_interrupt()  # SIGTERM/SIGHUP unwind like Ctrl-C: files closed, servers down
    else:  # no event loop or server in these commands (no httpx/asyncio import): SIGTERM/SIGHUP are Ctrl-C
        for name in ("SIGTERM", "SIGHUP"):  # a SIGHUP ignored at start (nohup) stays ignored, as in vllm_server
            sig = getattr(signal, name, None)
            if sig is not None and not (name == "SIGHUP" and signal.getsignal(sig) is signal.SIG_IGN):
                signal.signal(sig, signal.default_int_handler)
    try:
        return int(args.func(args) or 0)
    except ArenaError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # e.g. 75 for a busy workspace with --no-wait
    except KeyboardInterrupt:
        note = getattr(args, "interrupted_note", "finished work is saved; run the same command again to continue")
        try:
            print(f"\ninterrupted: {note}", file=sys.stderr)
        except OSError:  # SIGHUP: the terminal is gone (EIO); the run is saved and its servers stopped anyway
            pass
        return 130
    except BrokenPipeError:  # `arena ... | head`: the reader has what it wanted; exit as a program killed by SIGPIPE
        silence_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {redact(str(exc))}\n"
              "  (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
