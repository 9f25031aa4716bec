"""The figures of one load level, named and defined as vLLM's `bench serve` and evalscope's `perf` do.

- e2e latency: send to last byte; TTFT: send to the first streamed content chunk;
- TPOT: (e2e - TTFT) / (output tokens - 1), per request with more than one output token;
- ITL: the gap between two consecutive content chunks, over all chunks of all requests;
- throughputs: completed requests, output tokens and input + output tokens per second of the level's span
  (first measured send to last reply);
- a request counts as completed when its stream ends with a finish_reason after at least one content chunk;
  one without content is an `empty` error (nothing to time; often a stream format Arena does not read);
- token counts from the server's usage report; without one, output = streamed content chunks (servers
  like vLLM send one token a chunk) and input = prompt characters / 4, and the level says "estimated".
Percentiles are numpy's (linear interpolation, as vLLM reports them).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from arena.perf.client import ERROR_KINDS, RequestResult
from arena.perf.load import LevelRun

PERCENTILES = (50, 90, 99)
DISTRIBUTIONS = ("e2e_latency_s", "ttft_s", "tpot_s", "itl_s", "input_tokens", "output_tokens")


def distribution(values: list[float]) -> dict[str, float | None]:
    """mean, p50, p90 and p99 of `values` (all None when there are none)."""
    if not values:
        return {"mean": None, **{f"p{p}": None for p in PERCENTILES}, "n": 0}
    arr = np.asarray(values, dtype=float)
    pcts = np.percentile(arr, PERCENTILES)
    return {"mean": float(arr.mean()), **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pcts)},
            "n": int(arr.size)}


def token_counts(res: RequestResult) -> tuple[int, int, bool]:
    """(input tokens, output tokens, True when both came from the server's usage report)."""
    from_usage = res.prompt_tokens is not None and res.output_tokens is not None
    inp = res.prompt_tokens if res.prompt_tokens is not None else max(1, round(res.prompt_chars / 4))
    out = res.output_tokens if res.output_tokens is not None else res.chunks
    return int(inp), int(out), from_usage


def tokens_source(usage_count: int, completed: int) -> str:
    """'usage' (all from the server), 'estimated' (none), 'mixed: k of n estimated', or 'none' when no
    request succeeded (nothing was counted)."""
    if completed == 0:
        return "none"
    if usage_count == completed:
        return "usage"
    if usage_count == 0:
        return "estimated"
    return f"mixed: {completed - usage_count} of {completed} estimated"


def summarize(run: LevelRun) -> dict[str, Any]:
    """All figures of one level as a JSON-ready dict."""
    ok = [r for r in run.results if r.ok]
    failed = [r for r in run.results if not r.ok]
    inputs: list[float] = []
    outputs: list[float] = []
    tpot: list[float] = []
    itl: list[float] = []
    usage_count = 0
    for r in ok:
        inp, out, from_usage = token_counts(r)
        usage_count += from_usage
        inputs.append(inp)
        outputs.append(out)
        if out > 1 and r.ttft is not None:
            tpot.append((r.latency - r.ttft) / (out - 1))
        itl.extend(r.itl)
    span = run.duration
    per_s = (lambda x: x / span) if span > 0 else (lambda x: None)
    kinds = Counter(r.error or "unknown" for r in failed)
    examples: dict[str, str] = {}
    for r in failed:
        examples.setdefault(r.error or "unknown", r.detail)
    level = run.level
    return {
        "label": level.label, "concurrency": level.concurrency, "rate": level.rate,
        "max_concurrency": level.max_concurrency,
        "sent": max(run.sent, len(run.results)), "completed": len(ok), "failed": len(failed),
        "in_flight_at_stop": max(0, run.sent - len(run.results)), "interrupted": run.interrupted,
        "repeated_prompts": run.repeated,
        "errors": {k: kinds[k] for k in (*ERROR_KINDS, "unknown") if kinds.get(k)},
        "error_examples": examples,
        "duration_s": span,
        "request_throughput": per_s(len(ok)),
        "output_throughput": per_s(sum(outputs)),
        "total_token_throughput": per_s(sum(inputs) + sum(outputs)),
        "total_input_tokens": int(sum(inputs)), "total_output_tokens": int(sum(outputs)),
        "tokens_source": tokens_source(usage_count, len(ok)),
        "e2e_latency_s": distribution([r.latency for r in ok]),
        "ttft_s": distribution([r.ttft for r in ok if r.ttft is not None]),
        "tpot_s": distribution(tpot),
        "itl_s": distribution(itl),
        "input_tokens": distribution(inputs),
        "output_tokens": distribution(outputs),
    }


def flat_row(level: dict[str, Any]) -> dict[str, Any]:
    """One CSV row of a level: counts, throughputs and every distribution's mean/p50/p90/p99."""
    row = {k: level.get(k) for k in ("label", "concurrency", "rate", "max_concurrency", "sent", "completed",
                                     "failed", "interrupted", "repeated_prompts", "duration_s",
                                     "request_throughput", "output_throughput", "total_token_throughput",
                                     "tokens_source")}
    for kind in ERROR_KINDS:
        row[f"errors_{kind}"] = (level.get("errors") or {}).get(kind, 0)
    for name in DISTRIBUTIONS:
        dist = level.get(name) or {}
        for stat in ("mean", *(f"p{p}" for p in PERCENTILES)):
            row[f"{name}_{stat}"] = dist.get(stat)
    return row
