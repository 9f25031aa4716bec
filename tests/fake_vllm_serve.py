"""A stand-in for `vllm serve` (standard library only) used by tests/test_vllm_server.py.

Usage: fake_vllm_serve.py MODEL --host H --port P --served-model-name NAME [--tensor-parallel-size N] [...]
Unknown extra flags are accepted and logged. Behaviour switches (flag or environment variable):
  --fake-startup-delay S   / FAKE_VLLM_STARTUP_DELAY=S   sleep S seconds before listening
  --fake-crash MESSAGE     / FAKE_VLLM_CRASH=MESSAGE     print MESSAGE as an error and exit with code 3
  --fake-ignore-sigterm    / FAKE_VLLM_IGNORE_SIGTERM=1  ignore SIGTERM (only SIGKILL stops it)
  --fake-spawn-worker      / FAKE_VLLM_SPAWN_WORKER=1    start a child "engine worker" that logs its pid
Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (canned OpenAI answer), GET /fake/info.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(message: str) -> None:
    """Write one log line to stdout (the server log)."""
    print(f"INFO fake-vllm: {message}", flush=True)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse the `serve`-like command line, keeping unknown flags."""
    parser = argparse.ArgumentParser(prog="fake_vllm_serve")
    parser.add_argument("model")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
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

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {})
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
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            if request.get("model") != name:
                self._send(404, {"error": {"message": f"The model `{request.get('model')}` does not exist."}})
                return
            last = request.get("messages", [{}])[-1].get("content", "")
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
    if args.fake_ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("ignoring SIGTERM")
    if args.fake_spawn_worker:
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        log(f"worker pid={worker.pid}")
    if args.fake_crash:
        print("Traceback (most recent call last):", file=sys.stderr)
        print(f"RuntimeError: {args.fake_crash}", file=sys.stderr, flush=True)
        return 3
    if args.fake_startup_delay > 0:
        log(f"loading weights for {args.fake_startup_delay:g} s")
        time.sleep(args.fake_startup_delay)
    info = {"model": args.model, "served_model_name": args.served_model_name or args.model,
            "host": args.host, "port": args.port, "tensor_parallel_size": args.tensor_parallel_size,
            "unknown_args": unknown, "argv": sys.argv,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "env_marker": os.environ.get("FAKE_VLLM_MARKER"), "pid": os.getpid()}
    server = ThreadingHTTPServer((args.host, args.port), make_handler(info))
    log(f"Started server process [{os.getpid()}] on http://{args.host}:{args.port}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
