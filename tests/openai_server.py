"""A real OpenAI-compatible chat server on 127.0.0.1 for tests: scripted replies, delays, failures, stalls,
recorded requests and headers."""
from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, TypeVar


@dataclass
class Failure:
    """One scripted failure: HTTP status, extra headers, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"error": {"message": "scripted failure"}})


def default_reply(request: dict[str, Any]) -> str:
    """Echo the last user message and the number of user turns seen."""
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    return f"answer from {request['model']} to turn {len(users)}: {users[-1]}"


class JSONHandler(BaseHTTPRequestHandler):
    """Quiet HTTP/1.1 handler base with JSON replies, for the fake servers in the tests."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Send `data` as an `application/json` body with `status` and extra headers."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Send `body` encoded as JSON."""
        self._send(status, json.dumps(body).encode(), headers)


S = TypeVar("S", bound="LocalServer")


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply (an interrupted run) is expected here: no traceback for it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """A threading HTTP server on 127.0.0.1 (free port) run in a daemon thread while in `with`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], poll_s: float = 0.5) -> None:
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(poll_s,), daemon=True)

    @property
    def base_url(self) -> str:
        """The `/v1` base URL clients use."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self: S) -> S:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeOpenAI(LocalServer):
    """Serves /v1/chat/completions (streaming too) and /v1/models; records every request."""

    # Legacy routes, off unless set: `completions(body) -> reply JSON` serves POST /v1/completions (e.g. echoed
    # prompt logprobs) and `tokenize(body) -> reply JSON` serves POST /tokenize (vLLM). Unset: HTTP 404, as a
    # chat-only API answers.
    completions: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    tokenize: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __init__(self, reply: Callable[[dict[str, Any]], str] = default_reply, delay_s: float = 0.0) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.failures: deque[Failure] = deque()
        self.broken: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.headers: list[dict[str, str]] = []  # every request's headers, names lower-cased
        self.paths: list[str] = []  # every chat request's path, query string included
        self.chunk_delay_s = 0.0  # pause between streamed chunks (a model producing tokens)
        self.fault_rate = 0.0  # share of chat requests broken at random (seeded) with one of `fault_kinds`
        self.fault_kinds: tuple[str, ...] = ("stall", "stall_mid")
        self.fault_rng = random.Random(0)
        self.fault_for: Callable[[dict[str, Any]], str | None] | None = None  # request -> a break_next kind
        self.release = threading.Event()  # set on exit: stalled handlers return and close their connection
        self.request_times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        # optional hooks (set after construction): the usage a reply reports, and its finish_reason
        self.usage: Callable[[dict[str, Any], str], dict[str, int]] | None = None
        self.finish_reason: Callable[[dict[str, Any]], str] | None = None
        self.stream_usage = True  # False: never send the usage chunk, even when stream_options ask for it
        self.no_stream = False  # True: a plain JSON reply even when stream=true (a server that cannot stream)
        self.served_models: list[str] | None = None  # set: /v1/models lists these; other models get a 404
        self.error_event_message = "the engine restarted"  # the message of an 'error_event' break
        # set: a server with a reasoning parser; the request's thought goes in this field of the message (or of
        # the stream's first deltas, before the content), apart from the text
        self.thought: Callable[[dict[str, Any]], str] | None = None
        self.thought_field = "reasoning_content"
        super().__init__(self._handler())

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Make the next `times` chat requests fail with `status`."""
        for _ in range(times):
            self.failures.append(Failure(status, headers or {}))

    def break_next(self, kind: str, times: int = 1) -> None:
        """Make the next replies unusable: 'truncated' (stream cut off), 'no_choices', 'not_json', 'empty'
        (content "" and finish_reason stop), 'null' (content null), 'stall' (accept the request, send nothing),
        'stall_mid' (start the stream, then send nothing), 'drip' (stream forever, never finish),
        'error_event' (start the stream, then send an error event), 'cut_event' (the connection closes in the
        middle of a stream event, or of a whole JSON reply sent without Content-Length) or 'bad_events' (a stream
        whose events are text, not JSON)."""
        self.broken.extend([kind] * times)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        super().__exit__(*exc)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(JSONHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    ids = fake.served_models if fake.served_models is not None else ["fake"]
                    self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in ids]})
                elif self.path == "/health":
                    self._json(200, {})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                route = self.path.rstrip("/")
                if route in ("/v1/completions", "/tokenize"):
                    with fake.lock:
                        fake.requests.append(body)
                    hook = fake.completions if route == "/v1/completions" else fake.tokenize
                    if hook is None:
                        self._json(404, {"error": {"message": f"{route}: not found (chat completions only)"}})
                    else:
                        self._json(200, hook(body))
                    return
                with fake.lock:
                    fake.requests.append(body)
                    fake.auth_headers.append(self.headers.get("Authorization"))
                    fake.paths.append(self.path)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    fake.request_times.append(time.monotonic())
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    failure = fake.failures.popleft() if fake.failures else None
                    broken = fake.broken.popleft() if fake.broken and not failure else None
                    if not failure and not broken and fake.fault_for:
                        broken = fake.fault_for(body)
                    elif not failure and not broken and fake.fault_rate and fake.fault_rng.random() < fake.fault_rate:
                        broken = fake.fault_rng.choice(fake.fault_kinds)
                try:
                    if fake.delay_s:
                        time.sleep(fake.delay_s)
                    if failure:
                        self._json(failure.status, failure.body, failure.headers)
                        return
                    if fake.served_models is not None and body.get("model") not in fake.served_models:
                        self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                        return
                    if broken:
                        self._broken(broken, body)
                        return
                    text = fake.reply(body)
                    usage = fake.usage(body, text) if fake.usage else {
                        "prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                        "completion_tokens": len(text.split())}
                    if isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int):
                        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
                    finish = fake.finish_reason(body) if fake.finish_reason else "stop"
                    if body.get("stream") and not fake.no_stream:
                        self._stream(body, text, usage, finish)
                    else:
                        message = {"role": "assistant", "content": text}
                        if fake.thought:
                            message[fake.thought_field] = fake.thought(body)
                        self._json(200, {"id": "cmpl-1", "object": "chat.completion", "created": 0,
                                         "model": body["model"], "usage": usage,
                                         "choices": [{"index": 0, "finish_reason": finish, "message": message}]})
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _broken(self, kind: str, body: dict[str, Any]) -> None:
                if kind == "not_json":
                    self._send(200, b"<html>proxy error</html>")
                elif kind == "cut_event" and body.get("stream"):  # the connection closes inside an event
                    self._stream_head(body, "c")
                    self.wfile.write(b'data: {"id": "c", "object": "chat.completion.chunk", "choi')
                    self.wfile.flush()
                    self.close_connection = True
                elif kind == "bad_events" and body.get("stream"):  # a gateway's stream of text, not JSON events
                    self._stream_head(body, "c")
                    self.wfile.write(b"data: upstream unavailable\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                elif kind == "cut_event":  # a whole reply without Content-Length, closed inside its JSON
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b'{"id": "c", "object": "chat.completion", "choices": [{"index": 0, "mess')
                    self.wfile.flush()
                    self.close_connection = True
                elif kind in ("empty", "null"):
                    self._empty(body, "" if kind == "empty" else None)
                elif kind == "stall" or not body.get("stream") and kind in ("stall_mid", "drip"):
                    fake.release.wait(60)
                    self.close_connection = True
                elif kind in ("stall_mid", "drip"):
                    self._stalled_stream(body, drip=kind == "drip")
                elif kind == "error_event" and body.get("stream"):
                    self._error_event(body)
                elif kind == "no_choices" or not body.get("stream"):
                    self._json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                     "choices": []})
                else:  # truncated stream: a few chunks, then the connection closes
                    base = self._stream_head(body, "c")
                    for piece in ("The answer ", "is "):
                        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    self.close_connection = True

            def _stream_head(self, body: dict[str, Any], ident: str) -> dict[str, Any]:
                """Start a streamed reply (the connection closes at its end); the fields every chunk carries."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                return {"id": ident, "object": "chat.completion.chunk", "created": 0, "model": body["model"]}

            def _error_event(self, body: dict[str, Any]) -> None:
                """A stream that starts, then reports an error event (as vLLM does when its engine fails)."""
                base = self._stream_head(body, "x")
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": "Half "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                error = {"error": {"message": fake.error_event_message, "type": "InternalServerError"}}
                self.wfile.write(f"data: {json.dumps(error)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

            def _empty(self, body: dict[str, Any], content: str | None) -> None:
                usage = {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
                if not body.get("stream"):
                    self._json(200, {"id": "e", "object": "chat.completion", "created": 0, "model": body["model"],
                                     "usage": usage, "choices": [{"index": 0, "finish_reason": "stop", "message":
                                                                  {"role": "assistant", "content": content}}]})
                    return
                self._stream(body, content or "", usage)

            def _stalled_stream(self, body: dict[str, Any], drip: bool) -> None:
                base = self._stream_head(body, "s")
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": "so "}, "finish_reason": None}]}
                try:
                    for _ in range(200 if drip else 1):  # a drip lasts 20 s at most
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if fake.release.wait(0.1 if drip else 60):
                            break
                except OSError:
                    pass  # the client gave up and closed the connection
                self.close_connection = True

            def _stream(self, body: dict[str, Any], text: str, usage: dict[str, int], finish: str = "stop") -> None:
                words = text.split(" ")
                base = self._stream_head(body, "cmpl-1")
                thought = fake.thought(body).split(" ") if fake.thought else []
                pieces = [(fake.thought_field, w if i == 0 else " " + w) for i, w in enumerate(thought)]
                pieces += [("content", w if i == 0 else " " + w) for i, w in enumerate(words)]
                for name, piece in pieces:
                    chunk = {**base, "choices": [{"index": 0, "delta": {name: piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    if fake.chunk_delay_s:
                        self.wfile.flush()
                        time.sleep(fake.chunk_delay_s)
                last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
                if (body.get("stream_options") or {}).get("include_usage") and fake.stream_usage:
                    self.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


U = TypeVar("U", bound="UnacceptingPort")


class UnacceptingPort:
    """A port on 127.0.0.1 whose accept queue is full: a new connection hangs in connect (a stalled host)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.fillers: list[socket.socket] = []

    @property
    def base_url(self) -> str:
        """The `/v1` base URL of the port."""
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def __enter__(self: U) -> U:
        for _ in range(4):  # fill the queue: later SYNs are dropped, so connect() waits
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(self.sock.getsockname())
            self.fillers.append(c)
        time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        for c in self.fillers:
            c.close()
        self.sock.close()


if __name__ == "__main__":  # standalone: python tests/openai_server.py [delay_s]
    import sys

    with FakeOpenAI(delay_s=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as srv:
        print(srv.base_url, flush=True)
        threading.Event().wait()
