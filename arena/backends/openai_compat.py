"""OpenAI-compatible chat backend (OpenAI, DashScope/Qwen, vLLM, any base URL) on a lean aiohttp client."""
from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import random
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import certifi

from arena.backends.base import Completion, GenParams
from arena.backends.retry import (
    ON_MAYBE_BILLED,
    EmptyReply,
    ErrorEvent,
    HTTPStatusFailure,
    IncompleteReply,
    NotACompletion,
    NoTextWithinMaxTokens,
    NotTheAPI,
    ReplyTimeout,
    RetryPolicy,
    call_with_retries,
    maybe_billed,
)
from arena.backends.sse import sse_events
from arena.errors import BackendError, ConfigError
from arena.redaction import redact, register_secret
from arena.redaction import shorten as _short  # redacts before it cuts: no half key survives

DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_API_HOSTS = frozenset({"api.openai.com"})  # the only hosts that get OPENAI_ORG_ID / OPENAI_PROJECT_ID
KNOWN_KEY_VARS = {"api.openai.com": "OPENAI_API_KEY", "dashscope.aliyuncs.com": "DASHSCOPE_API_KEY",
                  "dashscope-intl.aliyuncs.com": "DASHSCOPE_API_KEY"}


def resolve_api_key(base_url: str | None, api_key_env: str | None, who: str) -> str:
    """Read the API key from the environment variable named in the config; never from the file."""
    if api_key_env:
        return key_from_env(api_key_env, who)
    var = KNOWN_KEY_VARS.get(host_of(base_url))
    if var is None:
        return "EMPTY"  # any other server gets no key unless api_key_env names one: keys never go astray
    return key_from_env(var, who, missing=f"set {var} or name another variable in api_key_env")


def key_from_env(var: str, who: str, missing: str | None = None) -> str:
    """The key in environment variable `var`, checked: it must be set and be one HTTP header token.

    A value copied from a Windows-style .env file ends in a carriage return; sent as it is, the HTTP client
    refuses the header and the failure would look like a broken server. The message names the variable and
    the kind of character, never the value."""
    key = os.environ.get(var)
    if not key:
        raise ConfigError(f"{who}: no API key found - {missing or f'set the environment variable {var}'}",
                          hint=f"export {var}=... (the key itself never goes into the config)")
    bad = next((c for c in key if not "!" <= c <= "~"), None)
    if bad is not None:
        kind = {"\r": "a carriage return (a Windows line ending?)", "\n": "a line break", " ": "a space",
                "\t": "a tab"}.get(bad, "a character that cannot go into an HTTP header" if bad.isprintable()
                                    else "a control character")
        where = "at its end" if key.rstrip() != key else "at its start" if key.lstrip() != key else "inside it"
        raise ConfigError(f"{who}: the API key in {var} contains {kind} {where}",
                          hint=f"set {var} again without it, e.g. export {var}=\"$(printf %s \"${var}\" | tr -d '\\r\\n ')\"")
    return key


def host_of(base_url: str | None) -> str:
    """The lower-cased host a base URL points to (the OpenAI API when it is not set)."""
    return (urlsplit(base_url or DEFAULT_BASE_URL).hostname or "").lower()


def host_headers(base_url: str | None, api_key: str) -> dict[str, str]:
    """The headers every request to this host carries: the key resolved for it, and OpenAI's account headers
    (OPENAI_ORG_ID / OPENAI_PROJECT_ID as OpenAI-Organization / OpenAI-Project, as the openai client sends
    them) only to the OpenAI API. No other header is read from the environment."""
    out = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    if host_of(base_url) in OPENAI_API_HOSTS:
        for var, name in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if os.environ.get(var):
                out[name] = os.environ[var]
    return out


@dataclass(frozen=True)
class Timeouts:
    """How long one attempt may take: to connect, between two bytes of a streamed reply, and in all."""

    total_s: float = 120.0
    connect_s: float = 10.0
    idle_s: float = 60.0

    def read_s(self, stream: bool) -> float:
        """Longest silence accepted: a non-streamed reply arrives only when complete, so the total bounds it."""
        return min(self.idle_s, self.total_s) if stream else self.total_s

    def for_request(self, stream: bool) -> aiohttp.ClientTimeout:
        """The socket timeouts of one attempt (the total is enforced around the whole attempt)."""
        return aiohttp.ClientTimeout(total=None, sock_connect=min(self.connect_s, self.total_s),
                                     sock_read=self.read_s(stream))


class OpenAICompatible:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions` endpoint.

    A lean aiohttp client (one keep-alive connection pool per backend, the stream's events parsed by
    `arena.backends.sse`): the `openai` client costs ~17-20 ms of CPU a streamed request, which capped a run
    near 50 requests/s on two cores."""

    def __init__(self, *, name: str, model: str, base_url: str | None, api_key: str,
                 concurrency: int = 8, timeout_s: float = 120.0, connect_timeout_s: float = 10.0,
                 idle_timeout_s: float = 60.0, retry: RetryPolicy | None = None,
                 extra_body: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.name = name
        self.model = model
        self.endpoint = base_url or DEFAULT_BASE_URL
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.extra_body = extra_body or {}
        self.timeouts = Timeouts(total_s=timeout_s, connect_s=connect_timeout_s, idle_s=idle_timeout_s)
        self._key = api_key
        register_secret(api_key)  # every message from now on masks it, even one cut short
        self._rng = random.Random(seed)
        self._headers = host_headers(self.endpoint, api_key)
        self._url, basic = _split_credentials(join_path(self.endpoint, "chat/completions"))
        if basic is not None:  # user:password in base_url: HTTP basic auth replaces the bearer key
            self._headers["Authorization"] = basic
        self._timeout = {stream: self.timeouts.for_request(stream) for stream in (True, False)}
        self._proxy = env_proxy(self._url)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The connection pool, opened on first use inside the running event loop."""
        if self._session is None or self._session.closed:
            self._session = open_session(self.concurrency)
        return self._session

    def _body(self, messages: list[dict[str, str]], params: GenParams) -> bytes:
        req: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": params.temperature,
                               "max_tokens": params.max_tokens}
        if params.top_p is not None:
            req["top_p"] = params.top_p
        if params.seed is not None:
            req["seed"] = params.seed
        if params.stream:
            req["stream"] = True
            req["stream_options"] = {"include_usage": True}
        req.update(self.extra_body)
        return json.dumps(req).encode()

    async def _once(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        start = time.perf_counter()
        async with self._http().post(self._url, data=self._body(messages, params), headers=self._headers,
                                     proxy=self._proxy, timeout=self._timeout[params.stream]) as resp:
            if not 200 <= resp.status < 300:
                raise HTTPStatusFailure(resp.status, _error_message(await resp.read()), resp.headers)
            try:
                kind = resp.headers.get("Content-Type", "")
                if "text/event-stream" not in kind:  # not streamed
                    return _usable(_completion(_json_body(await resp.read(), kind), start), params)
                return _usable(await _read_stream(resp, start), params)
            except (AttributeError, TypeError) as exc:  # a JSON reply of the wrong shape
                raise NotACompletion(f"the reply does not have the chat completion shape ({exc})") from None

    async def _attempt(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """One attempt bounded by the total timeout, however the bytes trickle in."""
        try:
            return await asyncio.wait_for(self._once(messages, params), self.timeouts.total_s)
        except asyncio.TimeoutError as exc:
            if isinstance(exc, aiohttp.ServerTimeoutError):
                raise  # a connect or idle timeout of the socket, not the total
            raise ReplyTimeout(f"the reply took longer than timeout_s={self.timeouts.total_s:g} s") from None

    async def _noted_attempt(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """One attempt; a failure that may still be billed is told to ON_MAYBE_BILLED first."""
        try:
            return await self._attempt(messages, params)
        except Exception as exc:
            billed = ON_MAYBE_BILLED.get()
            if billed is not None and maybe_billed(exc):
                billed.cut_off(exc)
            raise

    def _transport_problem(self, exc: BaseException, stream: bool) -> tuple[str, str]:
        """What went wrong on the wire, in words, and a hint."""
        return transport_problem(exc, self.endpoint, self.timeouts, stream)

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """One chat completion, retried on transient errors; BackendError when it fails for good."""
        try:
            billed = ON_MAYBE_BILLED.get()
            on_retry = None if billed is None else \
                (lambda attempt, exc, wait: billed.before_retry(exc) if maybe_billed(exc) else None)
            result, attempts = await call_with_retries(lambda: self._noted_attempt(messages, params), self.retry,
                                                       self._rng, on_retry)
        except HTTPStatusFailure as exc:
            down = exc.status_code >= 500 or exc.status_code == 429
            raise BackendError(redact(f"{self.name}: {self.endpoint} answered HTTP {exc.status_code}: "
                                      f"{_short(exc.message)}", self._key), endpoint_down=down) from None
        except (aiohttp.ClientError, OSError, ReplyTimeout) as exc:  # refused, dropped, timed out
            problem, hint = self._transport_problem(exc, params.stream)
            raise BackendError(redact(f"{self.name}: {problem}", self._key), hint=hint, endpoint_down=True) from None
        except NotTheAPI as exc:  # a web page every time: the endpoint counts as down (the breaker stops the stage)
            raise BackendError(redact(f"{self.name}: {self.endpoint} {exc}", self._key),
                               hint="point base_url at the OpenAI-compatible API (it usually ends in /v1), not at "
                                    "a web page or a login gateway", endpoint_down=True) from None
        except (IncompleteReply, NoTextWithinMaxTokens, ValueError) as exc:
            # error events, bodies that are not JSON, no choices, cut-off streams, empty replies; a whole reply
            # that is not a completion every time also makes the endpoint count as down
            raise BackendError(redact(f"{self.name}: {self.endpoint} sent an unusable reply "
                                      f"({type(exc).__name__}: {_short(str(exc))})", self._key),
                               endpoint_down=isinstance(exc, (NotACompletion, json.JSONDecodeError))) from None
        result.attempts = attempts
        return result

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Certificates as the openai client (httpx) checked them: the system store, plus certifi's bundle unless
    SSL_CERT_FILE / SSL_CERT_DIR name the trusted certificates (a python.org macOS build or a slim container
    has no system store, where certifi alone made HTTPS work)."""
    context = ssl.create_default_context()
    if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
        context.load_verify_locations(certifi.where())
    return context


def open_session(concurrency: int) -> aiohttp.ClientSession:
    """A keep-alive connection pool of 2 x concurrency connections; call it inside the running event loop.

    trust_env stays off: aiohttp would also read ~/.netrc, whose login for this host (or `default` entry)
    collides with the key ("Cannot combine AUTHORIZATION header") on every request. The proxy comes from
    env_proxy instead; the headers go with each request, not as session defaults, which aiohttp would also
    send to a proxy (the key as Proxy-Authorization on the CONNECT)."""
    connector = aiohttp.TCPConnector(limit=max(1, concurrency * 2), ttl_dns_cache=300, ssl=tls_context())
    return aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=2 ** 18)


def transport_problem(exc: BaseException, endpoint: str, t: Timeouts, stream: bool) -> tuple[str, str]:
    """What went wrong on the wire talking to `endpoint`, in words, and a hint."""
    if isinstance(exc, ReplyTimeout):
        return (f"{endpoint} did not finish a reply within timeout_s={t.total_s:g} s",
                "raise timeout_s if the model needs longer for a whole reply")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (f"cannot reach {endpoint} (no connection within connect_timeout_s={t.connect_s:g} s)",
                "is the server up? check base_url, or the vLLM server log")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        what = "idle_timeout_s" if stream else "timeout_s: a reply that is not streamed arrives all at once"
        return (f"{endpoint} stalled: no data for {t.read_s(stream):g} s ({what})",
                "the server stopped sending; raise idle_timeout_s if the model pauses longer between tokens")
    return (f"cannot reach {endpoint} ({type(exc).__name__}: {_short(str(exc))})",
            "is the server up? check base_url, or the vLLM server log")


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY / HTTP_PROXY, NO_PROXY honoured), as aiohttp's
    trust_env read it; its `user:password@` becomes the proxy's Proxy-Authorization. aiohttp speaks to http://
    proxies only, so another scheme (socks5://, https://) is left out, as trust_env left it out.

    A loopback host (localhost, 127.0.0.0/8, ::1) is never proxied, as Go's proxy rules skip it: a proxy's
    own loopback is not this machine's, and a vLLM server Arena launched listens on 127.0.0.1. NO_PROXY
    entries that are IP networks (10.0.0.0/8) are honoured too, not only host names."""
    parts = urlsplit(url)
    host = parts.hostname
    if host and (proxy_bypass(host) or _direct_host(host)):
        return None
    proxy = getproxies().get(parts.scheme)
    return proxy if proxy and urlsplit(proxy).scheme == "http" else None


def _direct_host(host: str) -> bool:
    """True for a loopback host, or an IP address inside a CIDR block listed in NO_PROXY / no_proxy."""
    import ipaddress

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    for entry in (getproxies().get("no") or "").split(","):
        try:
            if "/" in entry and ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:  # not a network: a host name, handled by proxy_bypass
            continue
    return False


def endpoint_key(url: str) -> str:
    """One server's identity for sharing a concurrency limit: scheme and host in lower case, the default port
    written out, `localhost` as 127.0.0.1, credentials dropped and the path without a trailing slash
    (`http://LOCALHOST:80/v1/` and `http://127.0.0.1/v1` are one server)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url
    host = "127.0.0.1" if parts.hostname.lower() == "localhost" else parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return url
    return urlunsplit((parts.scheme.lower(), f"{host}:{port}", parts.path.rstrip("/"), parts.query, ""))


def join_path(base_url: str, suffix: str) -> str:
    """`suffix` appended to the path of `base_url`, its query string kept after it (`.../v1?api-version=x` +
    `chat/completions` is `.../v1/chat/completions?api-version=x`, not `.../v1?api-version=x/chat/completions`)."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix.lstrip("/")))


def _split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without `user:password@`, and those credentials as a basic Authorization value (or None).

    The password and the header value become secrets: an endpoint that echoes its Authorization header gets
    neither stored nor printed (`Basic <base64>` decodes straight to the password)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{unquote(parts.username or '')}:{password}".encode()).decode()
    for secret in (password, parts.password, token):
        register_secret(secret)
    return urlunsplit(parts._replace(netloc=netloc)), "Basic " + token


def _error_message(body: bytes) -> str:
    """The server's own words from an error reply: `error.message` of a JSON body, else the body's text."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str):
        return err
    return text


def _tokens(usage: Any, field: str) -> int | None:
    """A token count of a reply's `usage`: a non-negative integer (or its digits as text, as some servers send
    it); anything else is unknown (None), never a crash of the run's accounting."""
    value = usage.get(field) if isinstance(usage, dict) else None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _json_body(body: bytes, content_type: str) -> Any:
    """A reply body as JSON. Not JSON: a body that starts as JSON was cut off (IncompleteReply, as a dropped
    stream); a web page (HTML) is NotTheAPI; other text NotACompletion (all retried)."""
    try:
        return json.loads(body)
    except ValueError:
        head = body.lstrip()[:1]
        if head in (b"{", b"["):
            raise IncompleteReply("the reply body ended before its JSON did") from None
        text = _short(body.decode("utf-8", "replace"))
        if "html" in content_type.lower() or head == b"<":
            raise NotTheAPI(f"answered HTTP 200 with a web page ({content_type or 'no Content-Type'}), not a "
                            f"chat completion: {text}") from None
        raise NotACompletion(f"the reply is not JSON ({content_type or 'no Content-Type'}): {text}") from None


def _completion(data: Any, start: float) -> Completion:
    """A whole (not streamed) chat completion."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"] \
            or not isinstance(data["choices"][0], dict):
        raise NotACompletion("the reply has no choices")
    choice = data["choices"][0]
    usage = data.get("usage")
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    text = message.get("content")
    return Completion(text=text if isinstance(text, str) else "",
                      finish_reason=choice.get("finish_reason"), prompt_tokens=_tokens(usage, "prompt_tokens"),
                      completion_tokens=_tokens(usage, "completion_tokens"), latency_s=time.perf_counter() - start,
                      reasoning=_thought(message) or None)


def _thought(part: Any) -> str:
    """The thought in a message or stream delta from a server with a reasoning parser: vLLM, DeepSeek and
    DashScope send `reasoning_content`, newer vLLM `reasoning`; "" when there is none."""
    if not isinstance(part, dict):
        return ""
    value = part.get("reasoning_content") or part.get("reasoning")
    return value if isinstance(value, str) else ""


async def _events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[float, Any]]:
    """sse_events, with a `data:` line that is not JSON told apart: an event cut in the middle (the connection
    closed: a stream that ended early, IncompleteReply) or text that never was JSON (a gateway's, NotACompletion)."""
    try:
        async for item in sse_events(resp):
            yield item
    except ValueError as exc:
        doc = str(getattr(exc, "doc", "")).lstrip("[ \t\r\n")
        if doc.startswith("{"):
            raise IncompleteReply("the stream was cut in the middle of an event") from None
        raise NotACompletion(f"the stream's events are not JSON: {_short(doc)}") from None


async def _read_stream(resp: aiohttp.ClientResponse, start: float) -> Completion:
    """A streamed chat completion: content deltas joined, the first one timed (TTFT), usage and finish kept."""
    parts: list[str] = []
    thought: list[str] = []
    ttft = finish = None
    usage: dict[str, Any] = {}
    async for now, event in _events(resp):
        if not isinstance(event, dict):
            continue
        if event.get("error"):
            err = event["error"]
            raise ErrorEvent(f"error event: {err.get('message') if isinstance(err, dict) else err}")
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else None
            think = _thought(delta)
            if ttft is None and (think or isinstance(piece, str) and piece):
                ttft = now - start  # the first token, of the thought or of the answer (as serving benchmarks count)
            if think:
                thought.append(think)
            if isinstance(piece, str) and piece:
                parts.append(piece)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    if finish is None:
        raise IncompleteReply("the stream ended before the model finished (no finish_reason)")
    return Completion(text="".join(parts), finish_reason=finish, prompt_tokens=_tokens(usage, "prompt_tokens"),
                      completion_tokens=_tokens(usage, "completion_tokens"), latency_s=time.perf_counter() - start,
                      ttft_s=ttft, reasoning="".join(thought) or None)


def _usable(reply: Completion, params: GenParams) -> Completion:
    """The reply if it has text; an empty one is a failed attempt (retried unless max_tokens ran out), except
    where the request takes an empty reply as the model's answer (benchmark items)."""
    if reply.text.strip() or (params.accept_empty and reply.finish_reason is not None):
        return reply
    if reply.finish_reason == "length":
        raise NoTextWithinMaxTokens(f"the model used all max_tokens={params.max_tokens} without answer text "
                                    "(raise max_tokens, e.g. for a reasoning model)")
    raise EmptyReply(f"the reply is empty (finish_reason {reply.finish_reason!r})")
