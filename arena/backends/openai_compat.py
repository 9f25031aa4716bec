"""OpenAI-compatible chat backend (OpenAI, DashScope/Qwen, vLLM, any base URL) on the `openai` client."""
from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai

from arena.backends.base import Completion, GenParams
from arena.backends.retry import (
    EmptyReply,
    IncompleteReply,
    NoTextWithinMaxTokens,
    ReplyTimeout,
    RetryPolicy,
    call_with_retries,
)
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
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(f"{who}: no API key found - set the environment variable {api_key_env}",
                              hint=f"export {api_key_env}=... (the key itself never goes into the config)")
        return key
    var = KNOWN_KEY_VARS.get(host_of(base_url))
    if var is None:
        return "EMPTY"  # any other server gets no key unless api_key_env names one: keys never go astray
    key = os.environ.get(var)
    if not key:
        raise ConfigError(f"{who}: no API key found - set {var} or name another variable in api_key_env")
    return key


def host_of(base_url: str | None) -> str:
    """The lower-cased host a base URL points to (the OpenAI API when it is not set)."""
    return (urlsplit(base_url or DEFAULT_BASE_URL).hostname or "").lower()


def host_headers(base_url: str | None, api_key: str) -> dict[str, Any]:
    """Header overrides that keep OpenAI's account settings with the OpenAI API.

    The openai client adds headers from the environment to every request: OPENAI_ORG_ID / OPENAI_PROJECT_ID
    as OpenAI-Organization / OpenAI-Project, and (in some versions) the lines of OPENAI_CUSTOM_HEADERS, which
    may hold an Authorization. Any other host gets none of them, and only the key resolved for it."""
    if host_of(base_url) in OPENAI_API_HOSTS:
        return {}
    custom = os.environ.get("OPENAI_CUSTOM_HEADERS") or ""
    names = {line.split(":", 1)[0].strip() for line in custom.split("\n") if ":" in line}
    out: dict[str, Any] = {name: openai.Omit() for name in names | {"OpenAI-Organization", "OpenAI-Project"}}
    out = {k: v for k, v in out.items() if k and k.lower() != "authorization"}
    out["Authorization"] = f"Bearer {api_key}"
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

    def for_request(self, stream: bool) -> httpx.Timeout:
        """The httpx timeouts of one attempt (the total is enforced around the whole attempt)."""
        read = self.read_s(stream)
        return httpx.Timeout(self.total_s, connect=min(self.connect_s, self.total_s), read=read, write=read,
                             pool=self.total_s)


class OpenAICompatible:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions` endpoint."""

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
        limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
        self._http = httpx.AsyncClient(limits=limits, timeout=self.timeouts.for_request(stream=True))
        self._client = openai.AsyncOpenAI(base_url=self.endpoint, api_key=api_key, max_retries=0,
                                          timeout=self.timeouts.for_request(stream=True), http_client=self._http,
                                          default_headers=host_headers(self.endpoint, api_key))

    def _request(self, messages: list[dict[str, str]], params: GenParams) -> dict[str, Any]:
        req: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": params.temperature,
                               "max_tokens": params.max_tokens}
        if params.top_p is not None:
            req["top_p"] = params.top_p
        if params.seed is not None:
            req["seed"] = params.seed
        if self.extra_body:
            req["extra_body"] = self.extra_body
        return req

    async def _once(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        req = self._request(messages, params)
        timeout = self.timeouts.for_request(params.stream)
        start = time.perf_counter()
        if not params.stream:
            resp = await self._client.chat.completions.create(**req, timeout=timeout)
            if not getattr(resp, "choices", None):
                raise IncompleteReply("the reply has no choices")
            choice = resp.choices[0]
            usage = resp.usage
            return _usable(Completion(text=choice.message.content or "", finish_reason=choice.finish_reason,
                                      prompt_tokens=usage.prompt_tokens if usage else None,
                                      completion_tokens=usage.completion_tokens if usage else None,
                                      latency_s=time.perf_counter() - start), params)
        stream = await self._client.chat.completions.create(**req, stream=True, timeout=timeout,
                                                            stream_options={"include_usage": True})
        parts: list[str] = []
        ttft = finish = usage = None
        async with stream:  # closes the connection when the attempt ends early (stall, total timeout)
            async for chunk in stream:
                if chunk.usage:
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    if choice.delta and choice.delta.content:
                        if ttft is None:
                            ttft = time.perf_counter() - start
                        parts.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        if finish is None:
            raise IncompleteReply("the stream ended before the model finished (no finish_reason)")
        return _usable(Completion(text="".join(parts), finish_reason=finish,
                                  prompt_tokens=usage.prompt_tokens if usage else None,
                                  completion_tokens=usage.completion_tokens if usage else None,
                                  latency_s=time.perf_counter() - start, ttft_s=ttft), params)

    async def _attempt(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """One attempt bounded by the total timeout, however the bytes trickle in."""
        try:
            return await asyncio.wait_for(self._once(messages, params), self.timeouts.total_s)
        except asyncio.TimeoutError:
            raise ReplyTimeout(f"the reply took longer than timeout_s={self.timeouts.total_s:g} s") from None

    def _transport_problem(self, exc: BaseException, stream: bool) -> tuple[str, str]:
        """What went wrong on the wire, in words, and a hint."""
        cause = exc.__cause__ if isinstance(exc, openai.APITimeoutError) and exc.__cause__ else exc
        t = self.timeouts
        if isinstance(exc, ReplyTimeout):
            return (f"{self.endpoint} did not finish a reply within timeout_s={t.total_s:g} s",
                    "raise timeout_s if the model needs longer for a whole reply")
        if isinstance(cause, httpx.ConnectTimeout):
            return (f"cannot reach {self.endpoint} (no connection within connect_timeout_s={t.connect_s:g} s)",
                    "is the server up? check base_url, or the vLLM server log")
        if isinstance(cause, (httpx.ReadTimeout, httpx.WriteTimeout)):
            what = "idle_timeout_s" if stream else "timeout_s: a reply that is not streamed arrives all at once"
            return (f"{self.endpoint} stalled: no data for {t.read_s(stream):g} s ({what})",
                    "the server stopped sending; raise idle_timeout_s if the model pauses longer between tokens")
        return (f"cannot reach {self.endpoint} ({type(exc).__name__}: {_short(str(exc))})",
                "is the server up? check base_url, or the vLLM server log")

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """One chat completion, retried on transient errors; BackendError when it fails for good."""
        try:
            result, attempts = await call_with_retries(lambda: self._attempt(messages, params), self.retry,
                                                       self._rng)
        except openai.APIStatusError as exc:
            down = exc.status_code >= 500 or exc.status_code == 429
            raise BackendError(redact(f"{self.name}: {self.endpoint} answered HTTP {exc.status_code}: "
                                      f"{_short(exc.message)}", self._key), endpoint_down=down) from None
        except (openai.APIConnectionError, openai.APITimeoutError, httpx.TransportError, ReplyTimeout) as exc:
            problem, hint = self._transport_problem(exc, params.stream)
            raise BackendError(redact(f"{self.name}: {problem}", self._key), hint=hint, endpoint_down=True) from None
        except (openai.APIError, IncompleteReply, NoTextWithinMaxTokens, ValueError) as exc:
            # error events, broken bodies, empty replies
            raise BackendError(redact(f"{self.name}: {self.endpoint} sent an unusable reply "
                                      f"({type(exc).__name__}: {_short(str(exc))})", self._key)) from None
        result.attempts = attempts
        return result

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()


def _usable(reply: Completion, params: GenParams) -> Completion:
    """The reply if it has text; an empty one is a failed attempt (retried unless max_tokens ran out)."""
    if reply.text.strip():
        return reply
    if reply.finish_reason == "length":
        raise NoTextWithinMaxTokens(f"the model used all max_tokens={params.max_tokens} without answer text "
                                    "(raise max_tokens, e.g. for a reasoning model)")
    raise EmptyReply(f"the reply is empty (finish_reason {reply.finish_reason!r})")
