"""Prompt log-probabilities from an OpenAI-compatible `/v1/completions` endpoint (vLLM, legacy OpenAI).

The prompt is sent with `echo: true` and `logprobs`, so the reply carries a log-probability for every prompt
token (`choices[0].logprobs`: tokens, token_logprobs, text_offset); vLLM's `prompt_logprobs` (set it in the
candidate's `extra_body`) is read as well. Rolling perplexity windows are sent as token ids, tokenized by the
server's `/tokenize` route (vLLM)."""
from __future__ import annotations

import asyncio
import json
import random
import time
from json.encoder import encode_basestring_ascii
from typing import Any

import aiohttp

from arena.backends.base import Completion, GenParams
from arena.backends.logprobs import (
    ContinuationLL,
    NoPromptLogprobs,
    WindowInfo,
    continuation_tokens,
)
from arena.backends.openai_compat import (
    Timeouts,
    _error_message,
    _split_credentials,
    _tokens,
    env_proxy,
    host_headers,
    open_session,
    transport_problem,
)
from arena.backends.retry import HTTPStatusFailure, ReplyTimeout, RetryPolicy, call_with_retries
from arena.errors import BackendError
from arena.redaction import redact, register_secret
from arena.redaction import shorten as _short

UNSUPPORTED_STATUS = (404, 405, 501)
_PROMPT_MARK = "\x00arena-prompt\x00"  # where the prompt goes in the serialised echo request


class CompletionsLogprobs:
    """Scores text through `/v1/completions` with echoed prompt log-probabilities, on the chat backend's lean
    aiohttp client (openai_compat: the connection pool, headers, proxy, timeouts and error wording)."""

    demo = False

    def __init__(self, *, name: str, model: str, base_url: str, api_key: str, concurrency: int = 8,
                 timeout_s: float = 120.0, connect_timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                 extra_body: dict[str, Any] | None = None, seed: int = 0) -> None:
        self.name, self.model = name, model
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.extra_body = dict(extra_body or {})
        self._key = api_key
        register_secret(api_key)
        self._rng = random.Random(seed)
        self._headers = host_headers(base_url, api_key)
        self.endpoint, basic = _split_credentials(base_url.rstrip("/"))
        self._completions = f"{self.endpoint}/completions"
        if basic is not None:  # user:password in base_url: HTTP basic auth replaces the bearer key
            self._headers["Authorization"] = basic
        self.timeouts = Timeouts(total_s=timeout_s, connect_s=connect_timeout_s)
        # a reply is not streamed: aiohttp's own total timeout bounds the whole attempt (no wait_for task)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(connect_timeout_s, timeout_s))
        self._proxies: dict[str, str | None] = {}
        self._session: aiohttp.ClientSession | None = None
        self._info: WindowInfo | None = None
        self._echo_parts: tuple[bytes, bytes] | None = None
        self.stop: list[str] | None = None  # stop sequences of `generate` (bench completion prompting)

    @property
    def _root(self) -> str:
        return self.endpoint.removesuffix("/v1")

    async def _once(self, url: str, body: bytes) -> dict[str, Any]:
        """One POST; the reply's JSON object. HTTPStatusFailure for an error status, ReplyTimeout past timeout_s,
        ValueError for a body that is not JSON (retried), BackendError for JSON that is not an object."""
        if self._session is None or self._session.closed:
            self._session = open_session(self.concurrency)
        if url not in self._proxies:
            self._proxies[url] = env_proxy(url)
        try:
            async with self._session.post(url, data=body, headers=self._headers, proxy=self._proxies[url],
                                          timeout=self._timeout) as resp:
                raw = await resp.read()
                if not 200 <= resp.status < 300:
                    raise HTTPStatusFailure(resp.status, _error_message(raw), resp.headers)
        except asyncio.TimeoutError as exc:
            if isinstance(exc, aiohttp.ServerTimeoutError):
                raise  # the connect timeout
            raise ReplyTimeout(f"the reply took longer than timeout_s={self.timeouts.total_s:g} s") from None
        data = json_body(raw)
        if not isinstance(data, dict):
            raise BackendError(f"{self.name}: {url} sent a reply that is not a JSON object")
        return data

    async def _post(self, url: str, body: dict[str, Any] | bytes, what: str) -> dict[str, Any]:
        """The reply to one POST: the first attempt awaited here, the retry machinery only after it failed."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            return await self._once(url, payload)
        except Exception as exc:  # noqa: BLE001 - _retried re-raises what it does not retry
            return await self._retried(url, payload, what, exc)

    async def _retried(self, url: str, payload: bytes, what: str, failed: Exception) -> dict[str, Any]:
        """The retries after a first attempt that raised `failed` (call_with_retries goes on from it); the
        errors that remain in Arena's words: NoPromptLogprobs for a route without echoed log-probabilities,
        BackendError for the rest."""
        try:
            return (await call_with_retries(lambda: self._once(url, payload), self.retry, self._rng, failed=failed))[0]
        except HTTPStatusFailure as exc:
            status, text = exc.status_code, _short(exc.message)
            if status in UNSUPPORTED_STATUS or (status == 400 and _mentions_logprobs(text)):
                raise NoPromptLogprobs(redact(f"{self.name}: {url} answered HTTP {status} to {what}: {text}",
                                              self._key)) from None
            raise BackendError(redact(f"{self.name}: {url} answered HTTP {status}: {text}", self._key),
                               endpoint_down=status >= 500 or status == 429) from None
        except (aiohttp.ClientError, OSError, ReplyTimeout) as exc:  # refused, dropped, timed out
            problem, hint = transport_problem(exc, url, self.timeouts, stream=False)
            raise BackendError(redact(f"{self.name}: {problem}", self._key), hint=hint, endpoint_down=True) from None
        except ValueError as exc:  # a reply body that is not JSON (after retries)
            raise BackendError(redact(f"{self.name}: {url} sent a reply that is not JSON ({_short(str(exc))})",
                                      self._key)) from None

    async def _echo(self, prompt: str | list[int]) -> tuple[list[Any], list[float | None], list[int] | None]:
        """The echoed prompt tokens, their log-probabilities and text offsets (generated tokens dropped)."""
        return self._echoed(await self._post(self._completions, self._echo_body(prompt), "an echo+logprobs request"))

    def _echoed(self, data: dict[str, Any]) -> tuple[list[Any], list[float | None], list[int] | None]:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BackendError(f"{self.name}: {self.endpoint}/completions sent no choices")
        usage = data.get("usage")
        return _prompt_part(choices[0], usage if isinstance(usage, dict) else {}, self.name)

    def _echo_body(self, prompt: str | list[int]) -> bytes:
        """The echo request: the same bytes as json.dumps of the body dict, but only the prompt is serialised
        per request (the rest once, around a mark; an extra_body that sets `prompt` itself: the whole dict)."""
        if self._echo_parts is None:
            template = json.dumps(self._echo_dict(_PROMPT_MARK)).split(json.dumps(_PROMPT_MARK))
            self._echo_parts = (template[0].encode(), template[1].encode()) if len(template) == 2 else (b"", b"")
        head, tail = self._echo_parts
        if not head:
            return json.dumps(self._echo_dict(prompt)).encode()
        # a text prompt: json.dumps(prompt) is this C function's answer (ensure_ascii), without dumps' Python steps
        return head + (encode_basestring_ascii(prompt) if type(prompt) is str else json.dumps(prompt)).encode() + tail

    def _echo_dict(self, prompt: str | list[int]) -> dict[str, Any]:
        return {"model": self.model, "prompt": prompt, "echo": True, "logprobs": 1, "max_tokens": 1,
                "temperature": 0.0, **self.extra_body}

    async def continuation_logprob(self, context: str, continuation: str) -> ContinuationLL:
        """log P(continuation | context): the prompt tokens whose characters reach into the continuation."""
        prompt = context + continuation  # _echo's and _post's steps in line (two coroutines less per request)
        body = self._echo_body(prompt)
        try:
            data = await self._once(self._completions, body)
        except Exception as exc:  # noqa: BLE001 - _retried re-raises what it does not retry
            data = await self._retried(self._completions, body, "an echo+logprobs request", exc)
        return continuation_ll(*self._echoed(data), prompt, len(context), self.name)

    async def tokenize(self, text: str) -> list[int]:
        """Token ids from the server's `/tokenize` route (vLLM), without special tokens."""
        return (await self._tokenize(text, special=False))[0]

    async def _tokenize(self, text: str, special: bool) -> tuple[list[int], int | None]:
        data = await self._post(f"{self._root}/tokenize",
                                {"model": self.model, "prompt": text, "add_special_tokens": special},
                                "a /tokenize request (perplexity windows need the server's tokenizer)")
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise NoPromptLogprobs(f"{self.name}: {self._root}/tokenize sent no token ids")
        limit = data.get("max_model_len")
        return tokens, limit if isinstance(limit, int) and limit > 1 else None

    async def window_info(self) -> WindowInfo:
        """Windows that fit the server: max_model_len less 2 (a window is sent with its last predicted token,
        and one token is generated); its BOS token (what /tokenize adds to an empty text), if any."""
        if self._info is None:
            bos, limit = await self._tokenize("", special=True)
            self._info = WindowInfo(max_length=max(2, (limit or 2050) - 2), prefix_id=bos[0] if bos else None)
        return self._info

    async def token_logprobs(self, tokens: list[int], n_scored: int) -> list[float]:
        """Log-probabilities of the last `n_scored` of `tokens` (sent as token ids, echoed)."""
        _, logprobs, _ = await self._echo(list(tokens))
        if len(logprobs) != len(tokens):
            raise BackendError(f"{self.name}: echoed {len(logprobs)} tokens for a prompt of {len(tokens)} token ids")
        tail = logprobs[len(tokens) - n_scored:]
        if any(v is None for v in tail):
            raise NoPromptLogprobs(f"{self.name}: the echoed prompt lacks log-probabilities")
        return [float(v) for v in tail]  # type: ignore[arg-type]

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """A plain-text continuation of the messages' texts (joined by blank lines, no chat template)."""
        body: dict[str, Any] = {"model": self.model, "prompt": "\n\n".join(m["content"] for m in messages),
                                "max_tokens": params.max_tokens, "temperature": params.temperature}
        body.update({k: v for k, v in (("top_p", params.top_p), ("seed", params.seed), ("stop", self.stop)) if v})
        start = time.perf_counter()
        try:
            data = await self._post(f"{self.endpoint}/completions", {**body, **self.extra_body}, "a completion request")
        except NoPromptLogprobs as exc:
            raise BackendError(f"{exc}".replace("echo+logprobs ", ""),
                               hint="this server has no /v1/completions route: use prompting: chat for the task") from None
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BackendError(f"{self.name}: {self.endpoint}/completions sent no choices")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(text=str(choices[0].get("text") or ""), finish_reason=choices[0].get("finish_reason"),
                          prompt_tokens=_tokens(usage, "prompt_tokens"),
                          completion_tokens=_tokens(usage, "completion_tokens"),
                          latency_s=time.perf_counter() - start)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def json_body(raw: bytes) -> Any:
    """json.loads(raw), with its encoding detection skipped for the usual reply: bytes starting '{"' are UTF-8
    to that detection (no byte-order mark or zero byte can start them), so they are decoded as it would."""
    return json.loads(raw.decode("utf-8", "surrogatepass") if raw[:2] == b'{"' else raw)


def _mentions_logprobs(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in ("echo", "logprobs", "not supported", "unsupported"))


def continuation_ll(tokens: list[Any], logprobs: list[Any], offsets: list[Any] | None, prompt: str, ctx_chars: int,
                    name: str) -> ContinuationLL:
    """log P(continuation | context) from the echoed prompt part: the log-probabilities (summed in token order)
    of the tokens that reach past the context's `ctx_chars` characters."""
    picked, straddled = continuation_tokens(tokens, offsets, prompt, ctx_chars)
    values = list(map(logprobs.__getitem__, picked))
    if not picked or None in values:  # a JSON value equals None only when it is null
        raise NoPromptLogprobs(f"{name}: the echoed prompt has no log-probabilities for the continuation")
    return ContinuationLL(float(sum(values)), len(picked), straddled)


def _prompt_part(choice: dict[str, Any], usage: dict[str, Any],
                 name: str) -> tuple[list[Any], list[float | None], list[int] | None]:
    """(tokens, logprobs, offsets) of the prompt from `logprobs` (echo) or vLLM's `prompt_logprobs`; echoed
    tokens as the server sent them (continuation_tokens reads them as text, only those it needs)."""
    prompt_lp = choice.get("prompt_logprobs")
    if isinstance(prompt_lp, list) and prompt_lp:
        ids = choice.get("prompt_token_ids")
        tokens, values = [], []
        for i, entry in enumerate(prompt_lp):
            if not isinstance(entry, dict) or not entry:
                tokens.append("")
                values.append(None)
                continue
            key = str(ids[i]) if isinstance(ids, list) and i < len(ids) else next(iter(entry)) if len(entry) == 1 else None
            if key is None or not isinstance(entry.get(key), dict):
                raise NoPromptLogprobs(f"{name}: prompt_logprobs has several entries per token but no "
                                       "prompt_token_ids to tell which is the prompt's (use prompt_logprobs: 0)")
            tokens.append(str(entry[key].get("decoded_token") or ""))
            values.append(entry[key].get("logprob"))
        return tokens, values, None
    lp = choice.get("logprobs")
    if not isinstance(lp, dict) or not isinstance(lp.get("tokens"), list) or not isinstance(lp.get("token_logprobs"), list):
        raise NoPromptLogprobs(f"{name}: the completion has no echoed prompt log-probabilities")
    tokens, values, offsets = lp["tokens"], lp["token_logprobs"], lp.get("text_offset")
    generated = usage.get("completion_tokens")
    n_prompt = usage.get("prompt_tokens")
    if not isinstance(n_prompt, int) or n_prompt > len(tokens):
        n_prompt = len(tokens) - (generated if isinstance(generated, int) else 1)
    offsets = offsets[:n_prompt] if isinstance(offsets, list) else None
    return tokens[:n_prompt], values[:n_prompt], offsets
