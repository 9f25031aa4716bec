"""A stand-in for `vllm serve` (standard library only) used by tests/test_vllm_server.py.

Usage: fake_vllm_serve.py MODEL --host H --port P --served-model-name NAME [--tensor-parallel-size N] [...]
Unknown extra flags are accepted and logged. Behaviour switches (flag or environment variable):
  --fake-startup-delay S   / FAKE_VLLM_STARTUP_DELAY=S   sleep S seconds before listening
  --fake-crash MESSAGE     / FAKE_VLLM_CRASH=MESSAGE     print MESSAGE as an error and exit with code 3
  FAKE_VLLM_CRASH_NOISE=N      ... after N more log lines and vLLM's "See root cause above." line
  --fake-ignore-sigterm    / FAKE_VLLM_IGNORE_SIGTERM=1  ignore SIGTERM (only SIGKILL stops it)
  --fake-spawn-worker      / FAKE_VLLM_SPAWN_WORKER=1    start a child "engine worker" that logs its pid
  FAKE_VLLM_WORKER_IGNORES_SIGTERM=1                     ... and that worker ignores SIGTERM
  FAKE_VLLM_REPLY_DELAY=S      sleep S seconds before each chat reply
  FAKE_VLLM_CRASH_AFTER=N      exit with code 7 on chat request N+1 (an engine dying mid-run)
  --api-key KEY / VLLM_API_KEY=KEY  as vLLM: /v1/* answers 401 unless `Authorization: Bearer KEY` is sent
Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (canned OpenAI answer), POST /v1/completions
with echo (prompt log-probabilities: 4-character tokens, -0.1 per character; a prompt of token ids: -0.01 x
(id mod 7 + 1) per token), POST /tokenize (one id per character, BOS 1, max_model_len 34), GET /fake/info.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    """Write one log line to stdout (the server log), whole: request threads log at the same time."""
    with _LOG_LOCK:
        sys.stdout.write(f"INFO fake-vllm: {message}\n")
        sys.stdout.flush()


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse the `serve`-like command line, keeping unknown flags."""
    parser = argparse.ArgumentParser(prog="fake_vllm_serve")
    parser.add_argument("model")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--api-key", default=os.environ.get("VLLM_API_KEY"))
    parser.add_argument("--fake-startup-delay", type=float,
                        default=float(os.environ.get("FAKE_VLLM_STARTUP_DELAY", "0")))
    parser.add_argument("--fake-crash", default=os.environ.get("FAKE_VLLM_CRASH"))
    parser.add_argument("--fake-ignore-sigterm", action="store_true",
                        default=os.environ.get("FAKE_VLLM_IGNORE_SIGTERM") == "1")
    parser.add_argument("--fake-spawn-worker", action="store_true",
                        default=os.environ.get("FAKE_VLLM_SPAWN_WORKER") == "1")
    return parser.parse_known_args(argv)


def make_handler(info: dict[str, object]) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving the canned OpenAI-compatible API."""
    name = str(info["served_model_name"])
    key = info.pop("_api_key", None)
    served = [0]

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {key}"

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {})
            elif key and self.path.startswith("/v1/") and not self._authorized():
                self._send(401, {"error": "Unauthorized"})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model",
                                                             "root": info["model"]}]})
            elif self.path == "/fake/info":
                self._send(200, info)
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length) or b"{}")
            if key and self.path.startswith("/v1/") and not self._authorized():
                self._send(401, {"error": "Unauthorized"})
                return
            if self.path == "/tokenize":  # vLLM's route: one id per character (BOS 1 with special tokens)
                text = str(request.get("prompt", ""))
                self._send(200, {"tokens": [1] * bool(request.get("add_special_tokens")) + [ord(c) for c in text],
                                 "count": len(text), "max_model_len": 34})
                return
            if self.path == "/v1/completions" and isinstance(request.get("prompt"), list):  # token ids, echoed
                ids = request["prompt"]
                self._send(200, {"id": "cmpl-fake", "object": "text_completion", "model": name, "choices": [
                    {"index": 0, "text": "x", "finish_reason": "length", "logprobs": {
                        "tokens": [str(t) for t in ids] + ["x"],
                        "token_logprobs": [None] + [-0.01 * (t % 7 + 1) for t in ids[1:]] + [-0.5]}}],
                    "usage": {"prompt_tokens": len(ids), "completion_tokens": 1}})
                return
            if self.path == "/v1/completions" and request.get("echo"):  # prompt log-probabilities, as vLLM
                prompt = request.get("prompt", "")
                tokens = ["<s>", *[prompt[i:i + 4] for i in range(0, len(prompt), 4)], "x"]
                offsets = [0, *range(0, len(prompt), 4), len(prompt)]
                logprobs = [None, *[-0.1 * len(t) for t in tokens[1:]]]
                self._send(200, {"id": "cmpl-fake", "object": "text_completion", "model": name, "choices": [
                    {"index": 0, "text": prompt + "x", "finish_reason": "length", "logprobs": {
                        "tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets}}],
                    "usage": {"prompt_tokens": len(tokens) - 1, "completion_tokens": 1}})
                return
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            served[0] += 1
            crash_after = os.environ.get("FAKE_VLLM_CRASH_AFTER")
            if crash_after is not None and served[0] > int(crash_after):
                print("RuntimeError: fake engine core died", file=sys.stderr, flush=True)
                os._exit(7)
            time.sleep(float(os.environ.get("FAKE_VLLM_REPLY_DELAY", "0")))
            if request.get("model") != name:
                self._send(404, {"error": {"message": f"The model `{request.get('model')}` does not exist."}})
                return
            last = request.get("messages", [{}])[-1].get("content", "")
            log(f"chat reply at {time.time():.6f}")
            self._send(200, {
                "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": name,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"{name} says: {last}"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
            })

        def log_message(self, format: str, *args: object) -> None:
            log(format % args)

    return Handler


def main(argv: list[str]) -> int:
    """Run the fake server until killed."""
    args, unknown = parse(argv)
    log(f"argv={json.dumps(sys.argv)}")
    log(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}")
    log(f"unknown args={json.dumps(unknown)}")
    if args.api_key:
        log("API key required on /v1")
    if args.fake_ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("ignoring SIGTERM")
    if args.fake_spawn_worker:
        stubborn = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " * (
            os.environ.get("FAKE_VLLM_WORKER_IGNORES_SIGTERM") == "1")
        worker = subprocess.Popen([sys.executable, "-c", stubborn + "import time; time.sleep(120)"])
        log(f"worker pid={worker.pid}")
    if args.fake_crash:
        print("Traceback (most recent call last):", file=sys.stderr)
        print(f"RuntimeError: {args.fake_crash}", file=sys.stderr, flush=True)
        noise = int(os.environ.get("FAKE_VLLM_CRASH_NOISE", "0"))  # shutdown chatter after the cause (vLLM)
        for i in range(noise):
            log(f"shutting down worker {i}")
        if noise:
            print("RuntimeError: Engine core initialization failed. See root cause above.", file=sys.stderr,
                  flush=True)
        return 3
    if args.fake_startup_delay > 0:
        log(f"loading weights for {args.fake_startup_delay:g} s")
        time.sleep(args.fake_startup_delay)
    info = {"model": args.model, "served_model_name": args.served_model_name or args.model,
            "host": args.host, "port": args.port, "tensor_parallel_size": args.tensor_parallel_size,
            "unknown_args": unknown, "argv": sys.argv,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "env_marker": os.environ.get("FAKE_VLLM_MARKER"), "pid": os.getpid(),
            "api_key_set": bool(args.api_key), "_api_key": args.api_key}
    server = ThreadingHTTPServer((args.host, args.port), make_handler(info))
    log(f"Started server process [{os.getpid()}] on http://{args.host}:{args.port}")
    log(f"listening at {time.time():.6f}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
