"""`arena perf`: a serving load test of a config's candidate, a bare --url/--model, or the offline demo."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, BackendError
from arena.interrupts import run_async

DEFAULT_CONCURRENCY = "1,8,32"
DEFAULT_REQUESTS = 100
DEFAULT_INPUT_TOKENS = 256
DEFAULT_WARMUP = 4
# options a load test takes and --from-run (no load) does not: (dest, as written, default)
LOAD_OPTIONS = (
    ("config", "-c/--config", None), ("candidate", "--candidate", []), ("url", "--url", None),
    ("model", "--model", None), ("api_key_env", "--api-key-env", None), ("demo", "--demo", False),
    ("concurrency", "--concurrency", None), ("rate", "--rate", None), ("requests", "--requests", None),
    ("duration", "--duration", None), ("warmup", "--warmup", DEFAULT_WARMUP), ("seed", "--seed", 0),
    ("questions", "--questions", None), ("input_tokens", "--input-tokens", None),
    ("max_tokens", "--max-tokens", "128"), ("ignore_eos", "--ignore-eos", False), ("api", "--api", "chat"),
    ("temperature", "--temperature", 0.0), ("timeout", "--timeout", 600.0), ("out", "--out", None))


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `perf` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "perf", help="serving load test (throughput, TTFT, TPOT, ITL) of a candidate, a URL or the demo",
        description="Load-test an OpenAI-compatible endpoint with streamed requests: a concurrency sweep or "
        "Poisson arrivals at a rate; results in WORKSPACE/perf/<id>.{json,csv}.")
    t = p.add_argument_group("target (one of)")
    t.add_argument("-c", "--config", type=Path, help="run config whose candidate to test (openai, vllm, demo)")
    t.add_argument("--candidate", action="append", default=[], help="candidate name (repeat for several)")
    t.add_argument("--url", help="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    t.add_argument("--model", help="model name to request at --url")
    t.add_argument("--api-key-env", help="NAME of the environment variable holding the API key for --url")
    t.add_argument("--demo", action="store_true", help="the offline demo server (no model; tests the tool)")
    p.add_argument("--from-run", type=Path, metavar="RUN_DIR", help="no load: (re)write a run's serving figures "
                   "(runs/<run>/serving.json) from its answer records and print them")
    load = p.add_argument_group("load")
    load.add_argument("--concurrency", help=f"requests in flight, a sweep: 1,8,32 (default {DEFAULT_CONCURRENCY});"
                      " with --rate: one number, the cap on requests in flight")
    load.add_argument("--rate", help="open loop: Poisson arrivals per second, e.g. 5 or a sweep 5,10,20")
    load.add_argument("--requests", type=int, help=f"requests per level (default {DEFAULT_REQUESTS} unless "
                      "--duration is given)")
    load.add_argument("--duration", type=float, help="seconds of sending per level")
    load.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                      help=f"requests before each level, not counted (default {DEFAULT_WARMUP})")
    load.add_argument("--seed", type=int, default=0, help="seed of prompt order, sampled lengths and arrivals")
    req = p.add_argument_group("requests")
    req.add_argument("--questions", type=Path, help="question file to take prompts from (any supported format)")
    req.add_argument("--input-tokens", type=int, help="synthetic prompts of about this many tokens "
                     f"(default when no question set is given: {DEFAULT_INPUT_TOKENS})")
    req.add_argument("--max-tokens", default="128", help="output budget: 128, or LOW:HIGH sampled per request")
    req.add_argument("--ignore-eos", action="store_true", help="ask the server to write max_tokens (vLLM)")
    req.add_argument("--api", choices=("chat", "completions"), default="chat", help="endpoint (default chat)")
    req.add_argument("--temperature", type=float, default=0.0)
    req.add_argument("--timeout", type=float, default=600.0, help="seconds a request may take in all")
    p.add_argument("--out", type=Path, help="workspace folder (default: the config's, else ./arena-workspace)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-wait", action="store_true", help="stop at once (exit 75) when the workspace is in use")
    p.set_defaults(func=cmd_perf, interrupted_note="the levels finished so far are saved in the perf results; "
                   "running the command again starts a new test")
    return p


def _numbers(text: str, option: str, kind: type) -> list[Any]:
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        what = "whole numbers >= 1" if kind is int else "numbers > 0"
        raise ArenaError(f"{option} {text!r}: give {what} separated by commas, e.g. {option} "
                         f"{'1,8,32' if kind is int else '5,10'}")
    return values


def parse_levels(concurrency: str | None, rate: str | None) -> list[Any]:
    """The load levels of the options; a rate sweep with a concurrency sweep is refused."""
    from arena.perf.load import LoadLevel

    if rate is None:
        return [LoadLevel(concurrency=c) for c in _numbers(concurrency or DEFAULT_CONCURRENCY, "--concurrency", int)]
    rates = _numbers(rate, "--rate", float)
    caps = _numbers(concurrency, "--concurrency", int) if concurrency is not None else [None]
    if len(caps) > 1:
        raise ArenaError(f"--rate {rate} with --concurrency {concurrency}: with a rate, --concurrency is the "
                         "cap on requests in flight and takes one number",
                         hint="sweep either the rate (--rate 5,10,20 --concurrency 64) or the concurrency "
                              "(--concurrency 1,8,32 without --rate)")
    return [LoadLevel(rate=r, max_concurrency=caps[0]) for r in rates]


def _targets(args: argparse.Namespace) -> tuple[list[Any], Any]:
    """(targets, run config or None) from the target options; exactly one kind of target."""
    from arena.perf.target import config_targets, demo_target, url_target

    given = [name for name, on in (("-c/--config", args.config), ("--url", args.url), ("--demo", args.demo)) if on]
    if len(given) != 1:
        raise ArenaError("name one target: -c CONFIG [--candidate NAME], --url URL --model NAME, or --demo"
                         + (f" (got {' and '.join(given)})" if given else ""))
    if args.candidate and not args.config:
        raise ArenaError("--candidate needs -c CONFIG")
    if args.config:
        from arena.config import load_config

        cfg = load_config(args.config)
        return config_targets(cfg, args.candidate), cfg
    if args.url:
        return [url_target(args.url, args.model, args.api_key_env)], None
    return [demo_target()], None


def _prompts(args: argparse.Namespace, cfg: Any) -> tuple[Any, str]:
    """The prompts of the test (a question set's first turns, or endless synthetic ones) and their source."""
    from arena.perf.prompts import SyntheticPrompts, question_prompts

    if args.questions is not None and args.input_tokens is not None:
        raise ArenaError("give either --questions or --input-tokens, not both")
    if args.questions is not None:
        prompts = question_prompts(args.questions)
        return prompts, f"questions from {args.questions} ({len(prompts)} distinct prompts)"
    if args.input_tokens is None and cfg is not None:
        q = cfg.questions
        prompts = question_prompts(q.path, q.format, q.categories, q.limit)
        chosen = [f"questions.categories {', '.join(q.categories)}"] if q.categories else []
        chosen += [f"questions.limit {q.limit}"] if q.limit else []
        return prompts, (f"questions from {q.path} ({len(prompts)} distinct prompts"
                         + (f"; the config's {' and '.join(chosen)}" if chosen else "") + ")")
    tokens = DEFAULT_INPUT_TOKENS if args.input_tokens is None else args.input_tokens
    return SyntheticPrompts(tokens, args.seed), f"synthetic, about {tokens} tokens each, every one distinct"


def _repeat_warning(distinct: int, total: int | None, at_most: bool) -> str | None:
    """The warning before a test whose question set is smaller than its requests (None: no repeat ahead)."""
    if total is None or total <= distinct:
        return None
    return (f"arena perf: warning: the question set has {distinct} distinct prompts and this test sends "
            f"{'up to ' if at_most else ''}{total} requests (warm-up included): prompts repeat from request "
            f"{distinct + 1} on, and a prefix-caching server answers a repeated prompt faster; give a larger "
            "question set or --input-tokens for synthetic prompts, which never repeat")


def _refuse_load_options_with_from_run(args: argparse.Namespace) -> None:
    """--from-run sends no load: a load option beside it would be ignored, so it is refused."""
    given = [flag for dest, flag, default in LOAD_OPTIONS if getattr(args, dest, default) != default]
    if given:
        raise ArenaError(f"--from-run reads a finished run and sends no load: {', '.join(given)} cannot go "
                         "with it", hint="run `arena perf --from-run RUN_DIR` alone, or a load test without "
                                         "--from-run")


def serving_of_run(run_dir: Path, no_wait: bool) -> int:
    """`arena perf --from-run RUN_DIR`: the serving figures of a finished run, written beside its leaderboard."""
    from arena.perf.serving import serving_table, write_serving
    from arena.workspace_lock import workspace_lock

    if not (run_dir / "answers_index.json").is_file():
        raise ArenaError(f"--from-run {run_dir}: not a run folder with answers (no answers_index.json)",
                         hint="give WORKSPACE/runs/<run>, as listed by `arena runs WORKSPACE`")
    workspace = run_dir.resolve().parent.parent
    with workspace_lock(workspace, wait=not no_wait):
        doc = write_serving(run_dir, workspace)
        from arena.board_columns import refresh_board
        refresh_board(run_dir, workspace)  # the run's leaderboard files carry the serving columns too
    print(serving_table(doc) or f"{run_dir}: no answers generated by a live backend (replayed answers only)")
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    """`arena perf ...`: check every input, then load each target level by level and print the table."""
    if args.from_run is not None:
        _refuse_load_options_with_from_run(args)
        return serving_of_run(args.from_run, args.no_wait)
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise ArenaError("arena perf needs aiohttp", hint="pip install aiohttp (or reinstall Arena)") from None
    from arena.perf.load import Stop
    from arena.perf.prompts import OutputBudget, RequestPlan
    from arena.perf.runner import PerfSettings
    from arena.run_status import EXIT_CODES  # as `arena run`: 0 completed, 3 partial, 1 failed
    from arena.workspace_lock import workspace_lock

    levels = parse_levels(args.concurrency, args.rate)
    for option, value in (("--requests", args.requests), ("--duration", args.duration), ("--timeout", args.timeout)):
        if value is not None and not math.isfinite(value):
            raise ArenaError(f"{option} must be a finite number greater than 0 (got {value:g})")
        if value is not None and value <= 0:
            raise ArenaError(f"{option} must be greater than 0 (got {value:g})")
    if args.warmup < 0:
        raise ArenaError("--warmup must be 0 or more")
    budget = OutputBudget.parse(args.max_tokens)
    requests = args.requests if args.requests or args.duration else DEFAULT_REQUESTS
    targets, cfg = _targets(args)
    prompts, source = _prompts(args, cfg)
    if args.api == "completions" and any(t.kind == "demo" for t in targets):
        raise ArenaError("--api completions: the demo server has no /v1/completions (it serves chat only)",
                         hint="drop --api completions to load-test the demo")
    RequestPlan(prompts, budget, args.seed)  # an empty question set is refused before any target starts
    total = len(levels) * (args.warmup + requests) if requests else None
    settings = PerfSettings(levels=levels, stop=Stop(requests=requests, duration_s=args.duration, warmup=args.warmup),
                            seed=args.seed, api=args.api, temperature=args.temperature, ignore_eos=args.ignore_eos,
                            timeout_s=args.timeout, max_tokens=budget.label(), prompts=source)
    workspace = args.out or (cfg.workspace if cfg is not None else Path("arena-workspace"))
    progress = False if args.no_progress else None
    statuses: list[str] = []
    with workspace_lock(workspace, wait=not args.no_wait):
        for target in targets:
            plan = RequestPlan(prompts, budget, args.seed)  # each target's test starts at the first prompt
            at_most = args.duration is not None
            warning = _repeat_warning(plan.distinct, total, at_most) if plan.distinct else None
            if warning:
                print(warning, file=sys.stderr)
            try:
                statuses.append(_test_target(target, plan, settings, workspace, progress, levels, requests,
                                             args.duration))
            except BackendError as exc:  # a server that fails to launch or answer: failed (1), as arena run
                if not hasattr(exc, "exit_code"):
                    exc.exit_code = 1  # type: ignore[attr-defined]
                raise
    if all(s == "failed" for s in statuses):
        return EXIT_CODES["failed"]
    return EXIT_CODES["completed"] if all(s == "completed" for s in statuses) else EXIT_CODES["partial"]


def _test_target(target: Any, plan: Any, settings: Any, workspace: Path, progress: bool | None,
                 levels: list[Any], requests: int | None, duration: float | None) -> str:
    """Load one target (launched or served first when Arena runs it), print its table; its final status."""
    from arena.perf.report import render_table
    from arena.perf.results import PerfWriter
    from arena.perf.runner import run_target
    from arena.perf.target import opened

    with opened(target, workspace / "perf" / "logs") as up:
        written: list[PerfWriter] = []

        def make_writer() -> PerfWriter:
            written.append(PerfWriter(workspace, up.describe(), settings.describe()))
            return written[-1]

        print(f"arena perf: {up.label}; {', '.join(lv.label for lv in levels)}; "
              f"{f'{requests} requests' if requests else f'{duration:g} s'} a level", file=sys.stderr)
        try:
            run_async(run_target(up, plan, settings, make_writer, progress))
        finally:
            if written:  # also after Ctrl-C: what was measured is on screen and on disk
                print(render_table(written[0].doc, written[0].json_path.parent), flush=True)
        doc = written[0].doc
        if doc["status"] != "completed":
            reasons = "; ".join(doc.get("status_reasons", []))
            print(f"arena perf: {up.label}: test {doc['status']}: {reasons}", file=sys.stderr)
        return str(doc["status"])
