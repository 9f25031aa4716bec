"""Log-likelihood scoring throughput against a local /v1/completions server, beside a bare async client.

    python benchmarks/loglik_throughput.py [--items 500] [--options 4] [--concurrency 32] [--delay 0.005]

The server is the tests' fake OpenAI-compatible server with a scripted echo+logprobs reply (each request
sleeps --delay seconds, like a model's forward pass). Arena's path (CompletionsLogprobs through the bench's
request limiter and scorer) and a bare httpx client sending the same requests at the same concurrency run
in the same process against the same server; both rates are printed with their ratio (issue 11 asks for
at least 90%).
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import re
import sys
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from openai_server import FakeOpenAI

from arena.backends.completions_logprobs import CompletionsLogprobs
from arena.bench.loaders import BenchItem
from arena.bench.loglik import TARGET_DELIMITER, mc_context, score_item
from arena.bench.logprob_run import Limited


def echo_reply(delay: float):
    """A scripted /v1/completions reply: every whitespace-led word is a token with logprob -1."""
    def reply(body: dict) -> dict:
        time.sleep(delay)
        words = [m.group() for m in re.finditer(r"\s*\S+", body["prompt"])]
        offsets, pos = [], 0
        for w in words:
            offsets.append(pos)
            pos += len(w)
        return {"choices": [{"index": 0, "logprobs": {"tokens": words + ["x"], "text_offset": offsets + [pos],
                                                       "token_logprobs": [None] + [-1.0] * len(words)}}],
                "usage": {"prompt_tokens": len(words), "completion_tokens": 1}}
    return reply


def make_items(n: int, k: int) -> list[BenchItem]:
    """n multiple-choice items with k options each."""
    return [BenchItem(f"q{i}", f"Question number {i} about topic {i % 7}?", "A",
                      [("ABCDEFGHIJ"[j], f"option {j} of item {i}") for j in range(k)]) for i in range(n)]


async def arena_path(url: str, items: list[BenchItem], conc: int) -> float:
    """Seconds for Arena's log-likelihood path to score every item."""
    model = CompletionsLogprobs(name="bench", model="fake", base_url=url, api_key="EMPTY", concurrency=conc)
    limited = Limited(model, [])
    start = time.perf_counter()
    await asyncio.gather(*(score_item(limited, it) for it in items))
    elapsed = time.perf_counter() - start
    await model.aclose()
    return elapsed


async def bare_path(url: str, items: list[BenchItem], conc: int) -> float:
    """Seconds for a bare httpx client to send the same echo requests at the same concurrency."""
    sem = asyncio.Semaphore(conc)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=conc * 2)) as client:
        async def one(prompt: str) -> None:
            async with sem:
                r = await client.post(f"{url}/completions", json={"model": "fake", "prompt": prompt, "echo": True,
                                                                  "logprobs": 1, "max_tokens": 1})
                r.json()

        prompts = [mc_context(it) + TARGET_DELIMITER + text for it in items for _, text in it.choices]
        start = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        return time.perf_counter() - start


def main() -> None:
    """Run both paths twice (alternating) and print requests/s side by side."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--options", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.005)
    args = ap.parse_args()
    items = make_items(args.items, args.options)
    n_requests = args.items * args.options
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"{len(__import__('os').sched_getaffinity(0))} cores")
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog of 5 resets connections at concurrency 32
    with FakeOpenAI() as srv:
        srv.completions = echo_reply(args.delay)
        best = {"arena": float("inf"), "bare": float("inf")}
        for _ in range(2):
            best["bare"] = min(best["bare"], asyncio.run(bare_path(srv.base_url, items, args.concurrency)))
            best["arena"] = min(best["arena"], asyncio.run(arena_path(srv.base_url, items, args.concurrency)))
    rates = {k: n_requests / v for k, v in best.items()}
    print(f"{n_requests} echo requests, concurrency {args.concurrency}, server delay {args.delay * 1000:.0f} ms")
    print(f"  bare httpx client   {rates['bare']:8.1f} requests/s")
    print(f"  arena loglikelihood {rates['arena']:8.1f} requests/s  ({rates['arena'] / rates['bare']:.0%} of bare)")


if __name__ == "__main__":
    main()
