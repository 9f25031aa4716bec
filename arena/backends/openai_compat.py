"""OpenAI-compatible chat backend (OpenAI, DashScope/Qwen, vLLM, any base URL) on the `openai` client."""
from __future__ import annotations

import os
import random
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai

from arena.backends.base import Completion, GenParams
from arena.backends.retry import IncompleteReply, RetryPolicy, call_with_retries
from arena.errors import BackendError, ConfigError
from arena.redaction import redact, register_secret
from arena.redaction import shorten as _short  # redacts before it cuts: no half key survives

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
    host = (urlsplit(base_url or "https://api.openai.com/v1").hostname or "").lower()
    var = KNOWN_KEY_VARS.get(host)
    if var is None:
        return "EMPTY"  # any other server gets no key unless api_key_env names one: keys never go astray
    key = os.environ.get(var)
    if not key:
        raise ConfigError(f"{who}: no API key found - set {var} or name another variable in api_key_env")
    return key


class OpenAICompatible:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions` endpoint."""

    def __init__(self, *, name: str, model: str, base_url: str | None, api_key: str,
                 concurrency: int = 8, timeout_s: float = 120.0, retry: RetryPolicy | None = None,
                 extra_body: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.name = name
        self.model = model
        self.endpoint = base_url or "https://api.openai.com/v1"
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.extra_body = extra_body or {}
        self._key = api_key
        register_secret(api_key)  # every message from now on masks it, even one cut short
        self._rng = random.Random(seed)
        limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
        self._http = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))
        self._client = openai.AsyncOpenAI(base_url=self.endpoint, api_key=api_key, max_retries=0,
                                          timeout=timeout_s, http_client=self._http)

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
        start = time.perf_counter()
        if not params.stream:
            resp = await self._client.chat.completions.create(**req)
            if not getattr(resp, "choices", None):
                raise IncompleteReply("the reply has no choices")
            choice = resp.choices[0]
            usage = resp.usage
            return Completion(text=choice.message.content or "", finish_reason=choice.finish_reason,
                              prompt_tokens=usage.prompt_tokens if usage else None,
                              completion_tokens=usage.completion_tokens if usage else None,
                              latency_s=time.perf_counter() - start)
        stream = await self._client.chat.completions.create(**req, stream=True,
                                                            stream_options={"include_usage": True})
        parts: list[str] = []
        ttft = finish = usage = None
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
        return Completion(text="".join(parts), finish_reason=finish,
                          prompt_tokens=usage.prompt_tokens if usage else None,
                          completion_tokens=usage.completion_tokens if usage else None,
                          latency_s=time.perf_counter() - start, ttft_s=ttft)

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """One chat completion, retried on transient errors; BackendError when it fails for good."""
        try:
            result, attempts = await call_with_retries(lambda: self._once(messages, params), self.retry, self._rng)
        except openai.APIStatusError as exc:
            down = exc.status_code >= 500 or exc.status_code == 429
            raise BackendError(redact(f"{self.name}: {self.endpoint} answered HTTP {exc.status_code}: "
                                      f"{_short(exc.message)}", self._key), endpoint_down=down) from None
        except (openai.APIConnectionError, openai.APITimeoutError, httpx.TransportError) as exc:
            raise BackendError(redact(f"{self.name}: cannot reach {self.endpoint} ({type(exc).__name__}: "
                                      f"{_short(str(exc))})", self._key),
                               hint="is the server up? check base_url, or the vLLM server log",
                               endpoint_down=True) from None
        except (openai.APIError, IncompleteReply, ValueError) as exc:  # error events, broken bodies
            raise BackendError(redact(f"{self.name}: {self.endpoint} sent an unusable reply "
                                      f"({type(exc).__name__}: {_short(str(exc))})", self._key)) from None
        result.attempts = attempts
        return result

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()
