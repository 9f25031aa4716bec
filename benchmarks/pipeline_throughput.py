"""How fast are `arena run`'s answer and judge stages? Requests/s and client CPU per request at concurrency 128
against a fast local OpenAI-compatible server, beside bare client loops, in one run.

    python benchmarks/pipeline_throughput.py [--requests 2000] [--concurrency 128] [--rows all]

Rows, each client in its own process, one after the other, against one server process:
  1. a bare loop over one `openai` AsyncOpenAI client, `concurrency` streamed requests in flight;
  2. the same loop split over 8 AsyncOpenAI clients of concurrency/8 connections each;
  3. a raw asyncio client (keep-alive sockets, prebuilt request, reply read to its end, nothing parsed);
  4. Arena's answer stage (`run_pipeline`: two `backend: openai` candidates answer requests/2 questions
     each, generation.concurrency 128, shared by both as they use one endpoint);
  5. Arena's judge stage (same run: a pairwise LLM judge, judge.concurrency 128, judges each question in
     both orders: `requests` judgments). Rows 4 and 5 come from one process and one run.
Every request streams with `stream_options.include_usage`. The server is the raw-asyncio one of
benchmarks/perf_overhead.py (single thread, HTTP/1.1 keep-alive, 50 ms service time, one prebuilt 22-word
streamed reply, an event per word, numbered per request and ending in a verdict so the judge parses it).
Client CPU is the client process's own CPU time (user + system, resource.getrusage) over the measured part
only; the server's CPU is never counted. The machine is shared with other jobs: the load average is printed
beside the figures, and req/s moves with it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf_overhead
from perf_overhead import MODEL, FastServer, cpu_s, raw_client

REPLY = ("#000000 The first answer is clearer and covers the question more completely than the second one does. "
         "My final verdict is [[A>B]]")
ROWS = {"openai1": "bare loop, 1 openai client", "openai8": "bare loop, 8 openai clients",
        "raw": "raw asyncio client", "answers": "arena answer stage", "judge": "arena judge stage"}


# ------------------------------------------------------------------ the server
def sse_reply(text: str) -> bytes:
    """A whole streamed chat reply (chunked HTTP/1.1): one content event per word, finish, usage, [DONE]."""
    base = {"id": "b", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    words = text.split(" ")
    events = [{**base, "choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w},
                                    "finish_reason": None}]} for i, w in enumerate(words)]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": len(words),
                                                    "total_tokens": 40 + len(words)}})
    lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked


class NumberedServer(FastServer):
    """perf_overhead's server, each reply numbered (`#000001`, ...): every answer differs, so no two judge
    prompts are the same and the judge cache cannot fold the two orders of a pair into one request."""

    count = 0

    def _answer(self) -> None:
        if not self.transport.is_closing():
            NumberedServer.count = (NumberedServer.count + 1) % 1_000_000
            self.transport.write(self.reply.replace(b"#000000", b"#%06d" % NumberedServer.count, 1))


def serve(port: int) -> None:
    """Run the fast server (perf_overhead's, numbered replies ending in a verdict) until killed."""
    perf_overhead.serve(port, 0, NumberedServer, sse_reply(REPLY))


# ------------------------------------------------------------------ bare openai loops
async def openai_loop(url: str, n: int, concurrency: int, clients: int) -> dict[str, Any]:
    """`concurrency` workers over `clients` AsyncOpenAI clients (round robin), each streamed reply read whole."""
    import httpx
    import openai

    per = max(1, concurrency // clients)
    pool = [openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0,
                               http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=per,
                                                                                 max_keepalive_connections=per)))
            for _ in range(clients)]
    messages = [{"role": "user", "content": "Say something about rain."}]
    left = [n + concurrency]  # the first `concurrency` replies warm the connections up
    done = [0]
    marks: dict[str, float] = {}

    async def worker(i: int) -> None:
        client = pool[i % clients]
        while left[0] > 0:
            left[0] -= 1
            stream = await client.chat.completions.create(model=MODEL, messages=messages, max_tokens=64,
                                                          stream=True, stream_options={"include_usage": True})
            parts = []
            async for chunk in stream:
                parts.extend(c.delta.content for c in chunk.choices if c.delta and c.delta.content)
            done[0] += 1
            if done[0] == concurrency:
                marks["cpu"], marks["t"] = cpu_s(), time.perf_counter()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    cpu, wall = cpu_s() - marks["cpu"], time.perf_counter() - marks["t"]
    for c in pool:
        await c.close()
    return {"requests": n, "failed": 0, "wall_s": wall, "cpu_s": cpu}


# ------------------------------------------------------------------ Arena's stages
def arena_stages(url: str, n: int, concurrency: int) -> dict[str, Any]:
    """One `run_pipeline`: two candidates answer n/2 questions each (the answer stage, n requests), then a
    pairwise judge judges each question in both orders (the judge stage, n requests). Each stage is timed
    (wall and this process's CPU) around its own function; rating is left out of both."""
    import yaml

    from arena import pipeline
    from arena.config import load_config

    measured: dict[str, dict[str, float]] = {}

    def timed(name: str, fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
        def run(ctx: Any) -> dict[str, Any]:
            cpu0, t0 = cpu_s(), time.perf_counter()
            try:
                return fn(ctx)
            finally:
                measured[name] = {"cpu_s": cpu_s() - cpu0, "wall_s": time.perf_counter() - t0}
        return run

    pipeline.answers_stage = timed("answers", pipeline.answers_stage)
    pipeline.judge_stage = timed("judge", pipeline.judge_stage)
    with tempfile.TemporaryDirectory() as tmp:
        qfile = Path(tmp, "questions.jsonl")
        qfile.write_text("".join(json.dumps({"question_id": f"q{i}", "category": "writing",
                                             "turns": [f"Question {i}: say something about rain."]}) + "\n"
                                 for i in range(n // 2)))
        cands = [{"name": name, "backend": "openai", "model": MODEL, "base_url": url} for name in ("a", "b")]
        cfg = {"workspace": str(Path(tmp, "ws")), "questions": {"path": str(qfile)}, "candidates": cands,
               "generation": {"concurrency": concurrency, "max_tokens": 64, "temperature": 0.0},
               "judge": {"mode": "pairwise", "model": MODEL, "base_url": url, "concurrency": concurrency,
                         "max_tokens": 64},
               "rating": {"bootstrap": 0}}
        Path(tmp, "cfg.yaml").write_text(yaml.safe_dump(cfg))
        ctx = pipeline.run_pipeline(load_config(Path(tmp, "cfg.yaml")), show_progress=False, log=lambda s: None)
        answers = [json.loads(line) for name in ("a", "b")
                   for line in (ctx.workspace.answers_dir / f"{name}.jsonl").read_text().splitlines()]
        judgments = [json.loads(line) for line in (ctx.run.path / "judgments.jsonl").read_text().splitlines()]
        errors = ctx.run.info.get("errors", [])
    answer_requests = sum(sum(r["attempts"]) for r in answers)
    judge_requests = sum(1 + (j.get("followup_raw") is not None) for j in judgments)
    return {"answers": {"requests": answer_requests, "failed": n - len(answers), **measured["answers"]},
            "judge": {"requests": judge_requests, "failed": sum(j["status"] != "ok" for j in judgments)
                      + n - len(judgments), **measured["judge"]},
            "errors": [e["message"] for e in errors[:3]]}


def run_client(kind: str, url: str, n: int, concurrency: int) -> None:
    """Run one client kind and print its figures as one JSON line."""
    if kind == "raw":
        r = asyncio.run(raw_client(url, n, concurrency))
        out: dict[str, Any] = {"raw": {"requests": r["ok"], "failed": r["failed"], "wall_s": r["wall_s"],
                                       "cpu_s": r["cpu_s"]}}
    elif kind.startswith("openai"):
        out = {kind: asyncio.run(openai_loop(url, n, concurrency, int(kind[len("openai"):])))}
    else:
        out = arena_stages(url, n, concurrency)
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------ the driver
def spawn(*args: str) -> subprocess.Popen[str]:
    """This script again, in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env)


def machine() -> str:
    """Platform, cores and load average."""
    load = os.getloadavg()
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    """Start the server, run each client in turn, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per row (default 2000)")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--rows", default="all", help="comma list of openai1,openai8,raw,arena (default all)")
    args = parser.parse_args()
    from arena.backends.vllm_server import find_free_port

    kinds = ["openai1", "openai8", "raw", "arena"] if args.rows == "all" else args.rows.split(",")
    port = find_free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = spawn("serve", str(port))
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    print(f"machine before: {machine()}")
    results: dict[str, dict[str, Any]] = {}
    try:
        for kind in kinds:
            proc = spawn("client", kind, url, str(args.requests), str(args.concurrency))
            out, _ = proc.communicate()
            results.update(json.loads(out.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait()
    print(f"machine after:  {machine()}")
    print(f"server: raw asyncio in its own process, 50 ms service time, a {len(REPLY.split())}-word streamed reply "
          f"with usage; concurrency {args.concurrency}, {args.requests} measured requests per row")
    print(f"{'client':<34} {'requests':>8} {'failed':>6} {'wall s':>7} {'req/s':>7} {'CPU ms/req':>10}")
    for key, label in ROWS.items():
        r = results.get(key)
        if r is None:
            continue
        print(f"{label:<34} {r['requests']:>8} {r['failed']:>6} {r['wall_s']:>7.2f} "
              f"{r['requests'] / r['wall_s']:>7.0f} {r['cpu_s'] / max(1, r['requests']) * 1000:>10.2f}")
    for e in results.get("errors", []):
        print(f"run error: {e}")
    print("(arena rows: the whole stage function - requests, records, caches, run files - timed as one; the bare "
          "loops and the raw client exclude their warm-up replies)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        run_client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
