"""`arena perf` against `vllm bench serve`: the same vLLM server, the same prompts, lengths and concurrency.

    python benchmarks/perf_vs_vllm_bench.py --vllm-python .ci-vllm-venv/bin/python [--rounds 3]
        [--concurrency 8,32] [--requests 200] [--input-tokens 128] [--output-tokens 64]

Needs pandas in the vLLM venv (vllm bench serve reads a custom prompt file with it):
    .ci-vllm-venv/bin/python -m pip install pandas
Starts one vLLM CPU server (the tiny random Qwen2 model of benchmarks/vllm_cpu_smoke.py, settings from
.ci/vllm_cpu.yaml), writes one prompt file that both tools read (vLLM's `custom` dataset and Arena's question
loader both take {"uid", "prompt"} lines), then for each concurrency runs the two tools one after the other,
alternating which goes first, `--rounds` times, and prints both side by side with the spread over rounds:
request and output-token throughput (target: within 5%), TTFT and TPOT medians (within 10%).

Matched settings: chat endpoint, streamed, usage in the stream, temperature 0, exactly K output tokens
(`ignore_eos`), C requests in flight, no rate limit, no warm-up beyond each tool's one probe request, the
prompt file's prompts each sent once (vLLM bench shuffles them, Arena shuffles them with its seed).
--url URL --model NAME --tokenizer DIR runs against a server that is already up instead.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from vllm_cpu_smoke import build_models, load_settings

from arena.backends.vllm_server import VLLMServer
from arena.perf.prompts import synthetic_prompts

# (label, vllm bench serve result key, arena perf level key path, scale of arena's figure to the label's unit,
#  agreement target as a fraction or None)
ROWS = (
    ("request throughput (req/s)", "request_throughput", ("request_throughput",), 1.0, 0.05),
    ("output throughput (tok/s)", "output_throughput", ("output_throughput",), 1.0, 0.05),
    ("total token throughput (tok/s)", "total_token_throughput", ("total_token_throughput",), 1.0, None),
    ("TTFT median (ms)", "median_ttft_ms", ("ttft_s", "p50"), 1e3, 0.10),
    ("TPOT median (ms)", "median_tpot_ms", ("tpot_s", "p50"), 1e3, 0.10),
    ("ITL median (ms)", "median_itl_ms", ("itl_s", "p50"), 1e3, None),
    ("E2E latency median (ms)", "median_e2el_ms", ("e2e_latency_s", "p50"), 1e3, None),
    ("input tokens / request", "mean_input_tokens", ("input_tokens", "mean"), 1.0, None),
    ("output tokens / request", "mean_output_tokens", ("output_tokens", "mean"), 1.0, None),
    ("client CPU s (whole command)", "cpu_s", "cpu_s", 1.0, None),
)


NOTES = """\
Same definitions in both tools: TTFT = send to the first streamed chunk, TPOT = (latency - TTFT) / (output
tokens - 1) per request, ITL = gaps between streamed chunks, throughput over the run's span, token counts from
the server's usage. Where they differ: vllm bench ends a request's latency at its last chunk with choices,
arena perf at the end of the stream (after the usage chunk and [DONE], well under 1 ms here); vllm bench
stamps every event of a socket read separately (microseconds apart), arena perf stamps them with the read's
time (0 apart): both count a burst of tokens as near-zero gaps. The client runs on the same CPUs as the
server: the last row is each whole command's CPU (most of vllm bench's is importing vLLM: its --help alone
takes about 10 CPU seconds here)."""


def write_prompts(path: Path, count: int, input_tokens: int, seed: int) -> None:
    """One prompt file for both tools: {"uid", "prompt"} lines (vLLM's custom dataset; Arena's loader)."""
    lines = [json.dumps({"uid": f"p{i:05d}", "prompt": p})
             for i, p in enumerate(synthetic_prompts(count, input_tokens, seed))]
    path.write_text("\n".join(lines) + "\n")


def run_vllm_bench(cmd: list[str], env: dict[str, str], url: str, model: str, tokenizer: Path, prompts: Path,
                   n: int, out_len: int, conc: int, out: Path, seed: int) -> dict[str, Any]:
    """`vllm bench serve` with the custom dataset; its saved result JSON (plus our mean token counts)."""
    args = [*cmd, "--backend", "openai-chat", "--base-url", url.removesuffix("/v1"),
            "--endpoint", "/v1/chat/completions", "--model", model, "--tokenizer", str(tokenizer),
            "--dataset-name", "custom", "--dataset-path", str(prompts), "--skip-chat-template",
            "--custom-output-len", str(out_len), "--num-prompts", str(n), "--ignore-eos", "--temperature", "0",
            "--max-concurrency", str(conc), "--request-rate", "inf", "--seed", str(seed), "--disable-tqdm",
            "--percentile-metrics", "ttft,tpot,itl,e2el", "--save-result", "--save-detailed",
            "--result-dir", str(out.parent),
            "--result-filename", out.name]
    res, cpu = timed_run(args, env=env)
    if res.returncode != 0 or not out.exists():
        raise SystemExit(f"vllm bench serve failed (exit {res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    doc = json.loads(out.read_text())
    doc["mean_input_tokens"] = doc["total_input_tokens"] / doc["completed"]
    doc["mean_output_tokens"] = doc["total_output_tokens"] / doc["completed"]
    doc["cpu_s"] = cpu
    return doc


def run_arena_perf(url: str, model: str, prompts: Path, n: int, out_len: int, conc: int, ws: Path,
                   seed: int) -> dict[str, Any]:
    """`arena perf --url` with the same prompts and settings; the level's figures from its results JSON."""
    args = [sys.executable, "-m", "arena.cli", "perf", "--url", url, "--model", model, "--questions", str(prompts),
            "--requests", str(n), "--max-tokens", str(out_len), "--ignore-eos", "--concurrency", str(conc),
            "--warmup", "0", "--temperature", "0", "--seed", str(seed), "--out", str(ws), "--no-progress"]
    res, cpu = timed_run(args, cwd=ROOT)
    files = sorted((ws / "perf").glob("*.json"))
    if res.returncode != 0 or not files:
        raise SystemExit(f"arena perf failed (exit {res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    return {**json.loads(files[-1].read_text())["levels"][0], "cpu_s": cpu}


def timed_run(args: list[str], **kw: Any) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a command; (its result, its CPU seconds, user + system, start-up included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(args, capture_output=True, text=True, check=False, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return res, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def figure(doc: dict[str, Any], path: tuple[str, ...] | str) -> float:
    value: Any = doc
    for key in (path,) if isinstance(path, str) else path:
        value = value[key]
    return float(value)


def spread(values: list[float]) -> str:
    """'median (min-max)' of the rounds."""
    med = statistics.median(values)
    return f"{med:9.2f} ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else f"{med:9.2f}"


def table(conc: int, vllm_runs: list[dict[str, Any]], arena_runs: list[dict[str, Any]]) -> list[str]:
    """The side-by-side rows of one concurrency level (median of the rounds, min-max in brackets)."""
    out = [f"{'concurrency ' + str(conc):32} {'vllm bench serve':>26} {'arena perf':>26} {'arena/vllm':>10}  target"]
    for label, vkey, akey, scale, band in ROWS:
        v = [figure(d, vkey) for d in vllm_runs]  # vLLM reports times in ms already
        a = [figure(d, akey) * scale for d in arena_runs]
        ratio = statistics.median(a) / statistics.median(v) if statistics.median(v) else float("nan")
        target = "" if band is None else (f"within {band:.0%}: " + ("yes" if abs(ratio - 1) <= band else "NO"))
        out.append(f"{label:32} {spread(v):>26} {spread(a):>26} {ratio:10.3f}  {target}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vllm-python", required=True, type=Path, help="python of the venv with vllm-cpu")
    ap.add_argument("--work", type=Path, default=ROOT / ".ci-vllm-work" / "perf-vs-vllm-bench")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tool per level, alternating first")
    ap.add_argument("--concurrency", default="8,32")
    ap.add_argument("--requests", type=int, default=200, help="requests per run (= prompts in the file)")
    ap.add_argument("--input-tokens", type=int, default=128, help="synthetic prompt length in words")
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--url", help="use this vLLM server (base URL .../v1, serving --model) instead of starting one")
    ap.add_argument("--model", default="tiny-qwen2", help="with --url: the served model name")
    ap.add_argument("--tokenizer", type=Path, help="with --url: the model's folder (vllm bench reads its tokenizer)")
    args = ap.parse_args()
    vllm_python = args.vllm_python.absolute()
    work = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    if subprocess.run([str(vllm_python), "-c", "import pandas"], capture_output=True, check=False).returncode:
        raise SystemExit(f"vllm bench serve reads the prompt file (its `custom` dataset) with pandas: "
                         f"{vllm_python} -m pip install pandas")
    chat, _ = build_models(vllm_python, work / "models")
    settings = load_settings(vllm_python, work / "models", work)
    cand = settings["arena"]["candidates"][0]
    prompts = work / "prompts.jsonl"
    write_prompts(prompts, args.requests, args.input_tokens, args.seed)
    env = {**os.environ, **settings["vllm_env"]}
    levels = [int(c) for c in args.concurrency.split(",")]
    results: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {c: ([], []) for c in levels}
    t0 = time.perf_counter()
    server = None
    if args.url:
        url, model, tokenizer = args.url, args.model, args.tokenizer or chat
    else:
        server = VLLMServer(model=cand["model"], served_name=cand["name"], log_path=work / "vllm-server.log",
                            command=cand["command"], model_flag=cand["model_flag"], env=cand["env"],
                            extra_args=cand["extra_args"], health_timeout=cand["health_timeout_s"])
        url, model, tokenizer = server.start(), cand["name"], chat
        print(f"vLLM server up in {time.perf_counter() - t0:.1f} s at {url}", flush=True)
    try:
        for conc in levels:
            for rnd in range(args.rounds):
                order = ("vllm", "arena") if rnd % 2 == 0 else ("arena", "vllm")
                for tool in order:
                    tag = f"c{conc}-r{rnd + 1}"
                    t1 = time.perf_counter()
                    if tool == "vllm":
                        doc = run_vllm_bench(settings["bench_command"], env, url, model, tokenizer, prompts,
                                             args.requests, args.output_tokens, conc, work / f"vllm-{tag}.json",
                                             args.seed)
                        results[conc][0].append(doc)
                    else:
                        results[conc][1].append(run_arena_perf(url, model, prompts, args.requests,
                                                               args.output_tokens, conc, work / f"arena-{tag}",
                                                               args.seed))
                    print(f"  {tag} {tool:5} done in {time.perf_counter() - t1:.1f} s", flush=True)
    finally:
        if server is not None:
            server.stop()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), load average now "
          f"{load}; server: vllm-cpu 0.32, tiny random Qwen2 (2 layers, hidden 64), bf16, --enforce-eager")
    print(f"{args.requests} requests a run, prompts of {args.input_tokens} synthetic words, {args.output_tokens} "
          f"output tokens (ignore_eos), no rate limit; median of {args.rounds} rounds (min-max), tools alternating\n")
    for conc in levels:
        print("\n".join(table(conc, *results[conc])) + "\n")
    print(NOTES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
