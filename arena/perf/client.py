"""A lean streaming client for load tests: one aiohttp session, one POST per request, timestamps per chunk.

The `openai` client costs ~16-20 ms of CPU per request, which caps a load test near 50 requests/s on two
cores; this client parses the server-sent events itself (as vLLM's and evalscope's benchmark clients do).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from arena.backends.openai_compat import _split_credentials, _tokens, env_proxy, host_headers, join_path
from arena.backends.sse import sse_events
from arena.redaction import redact, register_secret
from arena.redaction import shorten as _short

if TYPE_CHECKING:
    from typing_extensions import Self

TIMEOUT, HTTP_429, HTTP_4XX, HTTP_5XX, CONNECTION, BAD_STREAM, EMPTY = (
    "timeout", "http_429", "http_4xx", "http_5xx", "connection", "bad_stream", "empty")
ERROR_KINDS = (TIMEOUT, HTTP_429, HTTP_5XX, HTTP_4XX, CONNECTION, BAD_STREAM, EMPTY)


@dataclass(frozen=True)
class PerfRequest:
    """What one request sends: a chat transcript (or a completion prompt) and its output budget."""

    messages: list[dict[str, str]]
    max_tokens: int
    repeat: bool = False  # the prompt was already sent earlier in the test (a question set too small)

    def prompt_text(self) -> str:
        """The prompt as one string (for the completions API and for estimates)."""
        return "\n".join(m["content"] for m in self.messages)


@dataclass(slots=True)
class RequestResult:
    """What one request measured: times (perf_counter seconds), tokens, and an error kind if it failed."""

    start: float
    end: float = 0.0
    ok: bool = False
    error: str | None = None
    detail: str = ""
    ttft: float | None = None
    itl: list[float] = field(default_factory=list)
    chunks: int = 0
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    prompt_chars: int = 0
    output_chars: int = 0
    finish_reason: str | None = None

    @property
    def latency(self) -> float:
        """End-to-end seconds from sending to the last byte."""
        return self.end - self.start


def status_kind(status: int) -> str:
    """The error kind of an HTTP status that is not 200."""
    if status == 429:
        return HTTP_429
    return HTTP_5XX if status >= 500 else HTTP_4XX


@dataclass(frozen=True)
class ClientSettings:
    """Where and how requests go: endpoint, model, sampling extras and timeouts."""

    base_url: str
    model: str
    api: str = "chat"  # "chat" -> /chat/completions, "completions" -> /completions
    temperature: float = 0.0
    ignore_eos: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0

    @property
    def url(self) -> str:
        """The POST URL: the endpoint's path after the base URL's path, its query string kept."""
        return join_path(self.base_url, "chat/completions" if self.api == "chat" else "completions")


def authorized(url: str, api_key: str | None) -> tuple[str, dict[str, str]]:
    """`url` without `user:password@`, and the headers to send with it, as `arena run` sends them: basic auth
    from credentials in the URL (they replace the key), else the bearer key (if any); OpenAI's account headers
    only to the OpenAI API (`host_headers`)."""
    bare, basic = _split_credentials(url)
    account = {k: v for k, v in host_headers(bare, "").items() if k.startswith("OpenAI-")}
    if basic is not None:
        return bare, {"Authorization": basic, **account}
    return bare, ({"Authorization": f"Bearer {api_key}"} if api_key else {}) | account


class StreamingClient:
    """Sends streamed completion requests over one keep-alive connection pool; never raises per request."""

    def __init__(self, settings: ClientSettings, api_key: str | None, max_connections: int) -> None:
        self.settings = settings
        self._key = api_key
        register_secret(api_key)
        self._url, auth = authorized(settings.url, api_key)
        self._headers = {"Content-Type": "application/json", **auth}
        self._proxy = env_proxy(self._url)  # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as arena run reads them
        self._max_connections = max(1, max_connections)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        s = self.settings
        timeout = aiohttp.ClientTimeout(total=s.timeout_s, sock_connect=s.connect_timeout_s,
                                        sock_read=s.idle_timeout_s)
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers,
                                              trust_env=False, read_bufsize=2 ** 18)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def body(self, req: PerfRequest) -> bytes:
        """The JSON body of one request (usage asked for in the stream)."""
        s = self.settings
        out: dict[str, Any] = {"model": s.model, "max_tokens": req.max_tokens, "temperature": s.temperature,
                               "stream": True, "stream_options": {"include_usage": True}}
        if s.api == "chat":
            out["messages"] = req.messages
        else:
            out["prompt"] = req.prompt_text()
        if s.ignore_eos:
            out["ignore_eos"] = True
        out.update(s.extra_body)
        return json.dumps(out).encode()

    async def send(self, req: PerfRequest) -> RequestResult:
        """Send one request and time its stream; failures come back as a result with an error kind."""
        assert self._session is not None, "use `async with StreamingClient(...)`"
        data = self.body(req)
        res = RequestResult(start=time.perf_counter(), prompt_chars=len(req.prompt_text()))
        try:
            async with self._session.post(self._url, data=data, proxy=self._proxy) as resp:
                if resp.status != 200:
                    text = await resp.text(errors="replace")
                    return self._fail(res, status_kind(resp.status), f"HTTP {resp.status}: {_short(text, 200)}")
                if "text/event-stream" not in resp.headers.get("Content-Type", ""):
                    await resp.read()
                    return self._fail(res, BAD_STREAM, "the reply is not a stream (Content-Type "
                                      f"{resp.headers.get('Content-Type', 'missing')})")
                try:
                    await self._read_stream(resp, res)
                except ValueError as exc:  # a data: line that is not JSON
                    return self._fail(res, BAD_STREAM, f"unreadable stream data ({_short(str(exc), 200)})")
        except asyncio.TimeoutError:
            return self._fail(res, TIMEOUT, "no reply within the time limits")
        except aiohttp.ClientPayloadError as exc:
            return self._fail(res, BAD_STREAM, f"the stream broke off ({_short(str(exc), 200)})")
        except (aiohttp.ClientError, OSError) as exc:
            return self._fail(res, CONNECTION, f"{type(exc).__name__}: {_short(str(exc), 200)}")
        except ValueError as exc:  # the request itself could not be made (a header or URL aiohttp refuses)
            return self._fail(res, CONNECTION, f"the request could not be sent ({_short(str(exc), 200)})")
        if res.error is None and res.finish_reason is None:
            return self._fail(res, BAD_STREAM, "the stream ended before the model finished (no finish_reason)")
        if res.error is None and res.chunks == 0:  # nothing to time: no TTFT, no ITL; not a measured success
            reported = f"; the server reported {res.output_tokens} output tokens" if res.output_tokens else ""
            return self._fail(res, EMPTY, f"the stream finished (finish_reason {res.finish_reason!r}) "
                              f"without content Arena recognises{reported}")
        if res.error is None:
            res.ok = True
        return res

    async def _read_stream(self, resp: aiohttp.ClientResponse, res: RequestResult) -> None:
        """Read server-sent events as bytes arrive (each read timed once); content chunks are timed, the
        usage chunk kept. Reading to the end of the body keeps the connection alive for the next request."""
        chat = self.settings.api == "chat"
        async for now, event in sse_events(resp):
            self._event(event, res, now, chat)
        res.end = time.perf_counter()

    def _event(self, obj: Any, res: RequestResult, now: float, chat: bool) -> None:
        """Account one decoded event: an error, usage, content (timed at `now`), a finish reason."""
        if not isinstance(obj, dict):
            return
        if obj.get("error"):
            self._fail(res, BAD_STREAM, f"error event: {_short(json.dumps(obj['error']), 200)}")
            return
        usage = obj.get("usage")
        if usage:  # counts as text or of odd types are unknown, as in arena run
            res.prompt_tokens = _tokens(usage, "prompt_tokens")
            res.output_tokens = _tokens(usage, "completion_tokens")
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            if chat:
                delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
                piece = delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
            else:
                piece = choice.get("text")
            if isinstance(piece, str) and piece:
                if res.ttft is None:
                    res.ttft = now - res.start
                else:
                    res.itl.append(now - res.end)
                res.end = now  # the latest content chunk until the stream ends
                res.chunks += 1
                res.output_chars += len(piece)
            if choice.get("finish_reason"):
                res.finish_reason = choice["finish_reason"]

    def _fail(self, res: RequestResult, kind: str, detail: str) -> RequestResult:
        res.end = time.perf_counter()
        res.ok = False
        res.error = kind
        res.detail = redact(detail, self._key)
        return res
