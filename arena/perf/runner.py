"""One load test of one target: preflight, then each level (warm-up, measure, write), Ctrl-C keeps results."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from arena.perf.client import ClientSettings, StreamingClient
from arena.perf.load import LevelRun, LoadLevel, Stop, run_level, warm_up
from arena.perf.metrics import summarize
from arena.perf.preflight import preflight
from arena.perf.prompts import RequestPlan
from arena.perf.report import progress_bar
from arena.perf.results import PerfWriter
from arena.perf.target import Target

NO_USAGE_NOTE = ("the server reported no token usage in its stream (stream_options.include_usage): output "
                 "tokens are counted as streamed chunks and input tokens as prompt characters / 4")


def repeat_note(distinct: int) -> str:
    """The note of a test whose question set had fewer prompts than the test sent requests."""
    return (f"prompts repeat: the question set has {distinct} distinct prompts, fewer than the requests of "
            "this test (warm-up included), so later requests resend earlier prompts (see each level's "
            "repeated_prompts); a prefix-caching server (vLLM's default) answers a repeated prompt faster. "
            "Give a larger question set, or synthetic prompts (--input-tokens), which never repeat")


def outcome(levels: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The status of a finished test and why: 'completed', 'partial' (a level had no successful request)
    or 'failed' (no level had one)."""
    reasons = []
    for level in levels:
        if level["completed"] == 0:
            kinds = ", ".join(f"{k} {n}" for k, n in (level.get("errors") or {}).items())
            reasons.append(f"{level['label']}: no request succeeded ({level['failed']} of {level['sent']} "
                           f"failed{': ' + kinds if kinds else ''})")
    if not reasons:
        return "completed", []
    return ("failed" if len(reasons) == len(levels) else "partial"), reasons


@dataclass(frozen=True)
class PerfSettings:
    """Everything a test does besides the target: levels, when a level stops, prompts, request options."""

    levels: list[LoadLevel]
    stop: Stop
    seed: int = 0
    api: str = "chat"
    temperature: float = 0.0
    ignore_eos: bool = False
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0
    max_tokens: str = "128"
    prompts: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The settings as written to the results."""
        out = asdict(self)
        out["levels"] = [level.label for level in self.levels]
        return out

    def connection_limit(self) -> int:
        """Connections the client may open: the most any level has in flight (0 = no limit)."""
        limits = [level.in_flight_limit for level in self.levels]
        return 0 if any(x is None for x in limits) else max(int(x) for x in limits if x is not None)


def client_settings(target: Target, settings: PerfSettings) -> ClientSettings:
    """The client's view of a target and the test's request options."""
    assert target.base_url is not None
    return ClientSettings(base_url=target.base_url, model=target.model, api=settings.api,
                          temperature=settings.temperature, ignore_eos=settings.ignore_eos,
                          extra_body=target.extra_body, timeout_s=settings.timeout_s,
                          connect_timeout_s=settings.connect_timeout_s, idle_timeout_s=settings.idle_timeout_s)


async def run_target(target: Target, plan: RequestPlan, settings: PerfSettings,
                     make_writer: Callable[[], PerfWriter], show_progress: bool | None) -> PerfWriter:
    """Run every level against `target`; results are written level by level, also when interrupted."""
    limit = settings.connection_limit()
    writer: PerfWriter | None = None
    async with StreamingClient(client_settings(target, settings), target.api_key, limit or 10_000) as client:
        probe = await preflight(client, target.api_key, settings.connect_timeout_s)
        writer = make_writer()
        if not probe.reports_usage:
            writer.note(NO_USAGE_NOTE)
        if probe.warning:
            writer.note(probe.warning)
        try:
            for level in settings.levels:
                await warm_up(client, plan, settings.stop.warmup, level.in_flight_limit)
                await _measure(client, plan, level, settings, writer, show_progress)
        except asyncio.CancelledError:
            writer.finish("interrupted")
            raise
    status, reasons = outcome(writer.doc["levels"])
    writer.finish(status, reasons)
    return writer


async def _measure(client: StreamingClient, plan: RequestPlan, level: LoadLevel, settings: PerfSettings,
                   writer: PerfWriter, show_progress: bool | None) -> None:
    bar = progress_bar(level.label, settings.stop.requests, settings.stop.duration_s, show_progress)
    run = LevelRun(level, on_result=lambda _res: bar.update())
    try:
        await run_level(client, plan, run, settings.stop, settings.seed)
    finally:
        bar.close()
        writer.add_level(summarize(run), run.results, run.started)
        if run.repeated and plan.distinct is not None:
            writer.note(repeat_note(plan.distinct))
