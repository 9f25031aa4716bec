"""Log-likelihood scoring throughput against a local /v1/completions server, beside two bare async clients.

    python benchmarks/loglik_throughput.py [--items 500] [--options 4] [--concurrency 32] [--delay 0.005]
                                           [--rounds 9] [--httpx-rounds 2]

The server runs in its own process: perf_overhead.py's raw-asyncio server (one thread, HTTP/1.1 keep-alive)
answering POST /v1/completions with an echo+logprobs reply built from the request's prompt (every
whitespace-led word a token of log-probability -1, with its text offset; one generated token), sent --delay
seconds after the request arrived (loop.call_later: a model's forward pass, with unlimited parallelism).
Three clients send the same requests (one per option of each multiple-choice item, the prompts Arena builds,
--concurrency in flight) to that one server, in this process:
  - a bare httpx.AsyncClient (client.post + r.json(), an asyncio.Semaphore of --concurrency);
  - a bare aiohttp.ClientSession (session.post + await resp.json(), the same semaphore);
  - Arena's path: CompletionsLogprobs through `arena bench`'s task scorer (logprob_run.score_items: the
    request limiter, every option, acc and acc_norm per item).
Each client first runs one untimed warm-up round (imports, TLS context, first connections). Then the bare
aiohttp client and Arena's path run back to back in --rounds pairs, the order alternating (aiohttp first in
even pairs, Arena first in odd ones), each round after a full garbage collection: the two sides of a pair see
the same moment of a shared machine. The httpx client, ten times slower, runs --httpx-rounds rounds after them.
Per client: the median and best round's requests/s and the median round's client CPU per request (this
process's own CPU time, resource.getrusage user + system: the server's is never in it). Issue 11 asks Arena's
rate to be at least 90% of a bare async client's (the faster one, aiohttp): the ratio printed is the median
over pairs of (Arena's rate / aiohttp's rate in the same pair), with its range, beside the ratio of the median
rates and of the CPU per request. The load average is printed beside the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "benchmarks"):
    sys.path.insert(0, str(extra))

import perf_overhead
from perf_overhead import FastServer, cpu_s

WORD = re.compile(r"\s*\S+")
HEADERS = {"Authorization": "Bearer EMPTY"}


# ------------------------------------------------------------------ the server
def echo_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A scripted /v1/completions reply: every whitespace-led word of the prompt is a token of logprob -1
    (the first has none, as a real echo), with its text offset; one generated token 'x' after them."""
    words = WORD.findall(body["prompt"])
    offsets, pos = [], 0
    for w in words:
        offsets.append(pos)
        pos += len(w)
    return {"choices": [{"index": 0, "text": "x", "finish_reason": "length",
                         "logprobs": {"tokens": words + ["x"], "text_offset": offsets + [pos],
                                      "token_logprobs": [None] + [-1.0] * len(words)}}],
            "usage": {"prompt_tokens": len(words), "completion_tokens": 1}}


class EchoServer(FastServer):
    """perf_overhead's raw-asyncio server answering each POST with `echo_completion` of its body, `delay_s`
    after it arrived."""

    delay_s = 0.005

    def handle(self, loop: asyncio.AbstractEventLoop, head: bytes, body: bytes) -> None:
        data = json.dumps(echo_completion(json.loads(body))).encode()
        reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(data), data))
        loop.call_later(self.delay_s, self._send, reply)

    def _send(self, reply: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(reply)


@contextmanager
def echo_server(delay: float) -> Iterator[str]:
    """The echo server in its own process while in `with`; yields its /v1 base URL."""
    from arena.backends.vllm_server import find_free_port

    port = find_free_port()
    proc = subprocess.Popen([sys.executable, __file__, "serve", str(port), str(delay)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the echo server did not start"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait()


# ------------------------------------------------------------------ the clients
def make_items(n: int, k: int) -> list:
    """n multiple-choice items with k options each."""
    from arena.bench.loaders import BenchItem

    return [BenchItem(f"q{i}", f"Question number {i} about topic {i % 7}?", "A",
                      [("ABCDEFGHIJ"[j], f"option {j} of item {i}") for j in range(k)]) for i in range(n)]


def request_bodies(items: list) -> list[dict[str, Any]]:
    """The echo requests Arena's path sends for these items: one per option, its context + continuation."""
    from arena.bench.loglik import option_pairs

    return [{"model": "fake", "prompt": ctx + cont, "echo": True, "logprobs": 1, "max_tokens": 1,
             "temperature": 0.0} for it in items for ctx, cont in option_pairs(it)]


async def timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(wall s, this process's CPU s) of awaiting run()."""
    cpu0, t0 = cpu_s(), time.perf_counter()
    await run()
    return time.perf_counter() - t0, cpu_s() - cpu0


async def bare_httpx(url: str, items: list, conc: int) -> tuple[float, float]:
    """A bare httpx client sending the same echo requests at the same concurrency."""
    import httpx

    sem = asyncio.Semaphore(conc)
    bodies = request_bodies(items)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc), headers=HEADERS) as client:
        async def one(body: dict[str, Any]) -> None:
            async with sem:
                r = await client.post(f"{url}/completions", json=body)
                r.raise_for_status()
                r.json()

        return await timed(lambda: asyncio.gather(*(one(b) for b in bodies)))


async def bare_aiohttp(url: str, items: list, conc: int) -> tuple[float, float]:
    """A bare aiohttp session sending the same echo requests at the same concurrency."""
    import aiohttp

    sem = asyncio.Semaphore(conc)
    bodies = request_bodies(items)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc), headers=HEADERS) as session:
        async def one(body: dict[str, Any]) -> None:
            async with sem, session.post(f"{url}/completions", json=body) as resp:
                resp.raise_for_status()
                await resp.json()

        return await timed(lambda: asyncio.gather(*(one(b) for b in bodies)))


def choice_task(items: list) -> Any:
    """The items as a loaded multiple-choice task scored by option log-likelihood (what `arena bench` scores)."""
    from arena.bench.config import BenchTask
    from arena.bench.items import LoadResult
    from arena.bench.tasks import LoadedTask

    task = BenchTask(name="bench", kind="choice", path=Path("bench.jsonl"), method="loglikelihood")
    return LoadedTask(task=task, kind="choice", format="arc", data=LoadResult(items=items))


async def arena_path(url: str, items: list, conc: int) -> tuple[float, float]:
    """Arena's log-likelihood path: CompletionsLogprobs through `arena bench`'s own task scorer (score_items:
    the request limiter, every option, acc and acc_norm per item), every item."""
    from arena.backends.completions_logprobs import CompletionsLogprobs
    from arena.bench.logprob_run import score_items

    model = CompletionsLogprobs(name="bench", model="fake", base_url=url, api_key="EMPTY", concurrency=conc)
    task = choice_task(items)

    async def run() -> None:
        scored, errors = await score_items(model, task, None)
        assert not errors and all(s is not None for s in scored), errors[:1]

    try:
        return await timed(run)
    finally:
        await model.aclose()


CLIENTS: dict[str, tuple[str, Callable[[str, list, int], Awaitable[tuple[float, float]]]]] = {
    "httpx": ("bare httpx client", bare_httpx),
    "aiohttp": ("bare aiohttp client", bare_aiohttp),
    "arena": ("arena loglikelihood path", arena_path),
}


def compare(url: str, items: list, conc: int, rounds: int,
            httpx_rounds: int = 2) -> dict[str, list[tuple[float, float]]]:
    """(wall s, client CPU s) of every client in every timed round: one untimed warm-up round each; `rounds`
    back-to-back pairs of the bare aiohttp client and Arena's path (order alternating); then `httpx_rounds`
    of the slow httpx client. A full garbage collection before each round, outside its timing."""
    def one(key: str) -> tuple[float, float]:
        gc.collect()
        return asyncio.run(CLIENTS[key][1](url, items, conc))

    for key in CLIENTS if httpx_rounds else ("aiohttp", "arena"):
        one(key)
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in CLIENTS}
    for r in range(rounds):
        for key in ("aiohttp", "arena") if r % 2 == 0 else ("arena", "aiohttp"):
            out[key].append(one(key))
    out["httpx"] = [one("httpx") for _ in range(httpx_rounds)]
    return out


def report(results: dict[str, list[tuple[float, float]]], requests: int) -> tuple[list[str], float]:
    """The rows (req/s of the median and the best round, client CPU microseconds per request of the median
    round) and Arena's rate as a fraction of the bare aiohttp client's: the median over back-to-back pairs
    (its range beside it), the ratio of the median rates and of the CPU per request; returns (lines, median
    paired ratio). The medians, not the best rounds: one quiet or busy moment of a shared machine makes a
    best round an outlier."""
    ran = {k: v for k, v in results.items() if v}
    median = {k: requests / statistics.median(w for w, _ in v) for k, v in ran.items()}
    best = {k: requests / min(w for w, _ in v) for k, v in ran.items()}
    cpu = {k: 1e6 * statistics.median(c for _, c in v) / requests for k, v in ran.items()}
    pairs = [bare_w / arena_w for (bare_w, _), (arena_w, _) in zip(results["aiohttp"], results["arena"])]
    ratio = statistics.median(pairs)
    lines = [f"  {'client':<28} {'rounds':>6} {'req/s (median)':>15} {'req/s (best)':>13} {'client CPU us/req':>18}"]
    for key, (label, _) in CLIENTS.items():
        if key in ran:
            lines.append(f"  {label:<28} {len(ran[key]):6d} {median[key]:15.0f} {best[key]:13.0f} {cpu[key]:18.1f}")
    lines.append(f"  arena = {ratio:.1%} of the bare aiohttp client's rate (median of {len(pairs)} back-to-back "
                 f"pairs, range {min(pairs):.0%}-{max(pairs):.0%}); ratio of median rates "
                 f"{median['arena'] / median['aiohttp']:.1%}; CPU per request: aiohttp / arena = "
                 f"{cpu['aiohttp'] / cpu['arena']:.1%}; target >= 90%: {'met' if ratio >= 0.9 else 'MISSED'}")
    lines.append("  per pair: " + ", ".join(f"{r:.0%}" for r in pairs))
    if "httpx" in median and median["httpx"] > median["aiohttp"]:
        lines.append("  (the bare httpx client was faster than aiohttp in this run: compare with it too)")
    return lines, ratio


def server_line(requests: int, conc: int, delay: float) -> str:
    """What the server and the load were."""
    return (f"{requests:,} echo requests a round, concurrency {conc}; server: raw asyncio in its own process, "
            f"{delay * 1000:g} ms per request (call_later), echo+logprobs reply built from each prompt")


def main() -> None:
    """Start the server, run the three clients in alternating rounds, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--options", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.005)
    ap.add_argument("--rounds", type=int, default=9, help="back-to-back pairs of bare aiohttp and Arena rounds")
    ap.add_argument("--httpx-rounds", type=int, default=2, help="rounds of the (slow) bare httpx client; 0 skips it")
    args = ap.parse_args()
    items = make_items(args.items, args.options)
    load0 = os.getloadavg()
    with echo_server(args.delay) as url:
        results = compare(url, items, args.concurrency, args.rounds, args.httpx_rounds)
    load1 = os.getloadavg()
    print(f"machine: {platform.machine()} python {platform.python_version()}, {len(os.sched_getaffinity(0))} "
          f"usable cores; load average (1 min) before/after {load0[0]:.2f}/{load1[0]:.2f} (a shared machine)")
    print(server_line(args.items * args.options, args.concurrency, args.delay))
    print("\n".join(report(results, args.items * args.options)[0]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        EchoServer.delay_s = float(sys.argv[3])
        perf_overhead.serve(int(sys.argv[2]), 0, EchoServer, b"")
    else:
        main()
