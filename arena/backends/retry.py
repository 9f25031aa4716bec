"""Retry policy for HTTP model calls: backoff with jitter on 429/5xx/timeouts, honouring Retry-After."""
from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import httpx

T = TypeVar("T")


class IncompleteReply(Exception):
    """A 200 reply that is unusable: no choices, or a stream cut off before its finish reason."""


class NotACompletion(IncompleteReply):
    """A whole 200 reply that is not a chat completion (no choices, another shape): a proxy's or gateway's answer,
    not the model's, so nothing was generated (not billed)."""


class NotTheAPI(NotACompletion):
    """A 200 reply that is a web page, not an API's JSON: a proxy's error page (retried), or base_url pointing at
    a web app or a login gateway (then every attempt fails, and the endpoint counts as down)."""


class EmptyReply(IncompleteReply):
    """A reply that finished without any text (content null or ""): a failed attempt, retried."""


class NoTextWithinMaxTokens(Exception):
    """The model used all of max_tokens without producing answer text: asking again will not help."""


class ReplyTimeout(Exception):
    """The whole request (all of the reply) took longer than the total timeout."""


class ErrorEvent(IncompleteReply):
    """The server sent an error event in the middle of a stream (e.g. a vLLM engine restart): retried."""


class HTTPStatusFailure(Exception):
    """A reply with an HTTP error status: the status, the server's message and the reply headers (Retry-After)."""

    def __init__(self, status_code: int, message: str, headers: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}


class CircuitBreaker:
    """Opens after `threshold` endpoint failures in a row (successes reset it): the endpoint is down."""

    def __init__(self, threshold: int = 5) -> None:
        self.threshold = threshold
        self.streak = 0
        self.reason: str | None = None

    def record(self, ok: bool, reason: str | None = None) -> None:
        """Count one outcome; a failure is a transport-level one (unreachable, 5xx, 429 after retries)."""
        if ok:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.threshold and self.reason is None:
            self.reason = reason or "too many failures in a row"

    @property
    def open(self) -> bool:
        """True once the endpoint is taken to be down."""
        return self.reason is not None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    max_retries: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    jitter: float = 0.25


class BilledAttempts(Protocol):
    """Told of attempts that may still be billed (`maybe_billed`) in the asyncio task that made them: the judge
    stage charges them to its budget and retries only while the budget has room for another attempt."""

    def cut_off(self, exc: BaseException) -> None:
        """An attempt failed after its request reached the server."""

    def before_retry(self, exc: BaseException) -> None:
        """Such an attempt is about to be retried: raise (a BackendError) to stop instead."""


ON_MAYBE_BILLED: ContextVar[BilledAttempts | None] = ContextVar("on_maybe_billed", default=None)


def maybe_billed(exc: BaseException) -> bool:
    """Whether a failed attempt may still be billed by the provider: the request reached the server and the
    reply was cut off (a timeout, a stall, a dropped connection, a stream that ended early or sent an error
    event). An HTTP error status, a connection that was never made, or a whole reply that is not a chat
    completion (a web page, other text, JSON without choices: a gateway's answer, not the model's) is not."""
    if isinstance(exc, (HTTPStatusFailure, httpx.HTTPStatusError, aiohttp.ClientResponseError,
                        aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, httpx.ConnectError,
                        httpx.ConnectTimeout, NotACompletion)):
        return False  # an error status, no connection, or a whole reply that is not a completion (a web page)
    return isinstance(exc, NoTextWithinMaxTokens) or is_retryable(exc)


def is_retryable(exc: BaseException) -> bool:
    """429, 408, 409, 5xx, timeouts, stalls, empty replies and connection errors are transient; other 4xx are not."""
    if isinstance(exc, (httpx.TimeoutException, httpx.TransportError, IncompleteReply, ReplyTimeout,
                        json.JSONDecodeError)):
        return True  # incomplete replies include error events in the middle of a stream (a vLLM engine restart)
    if isinstance(exc, aiohttp.ClientError) and not isinstance(exc, aiohttp.ClientResponseError):
        return True  # aiohttp: refused or dropped connections, connect and read timeouts, broken bodies
    status = getattr(exc, "status_code", None)
    if status is None and isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    if status is None and isinstance(exc, aiohttp.ClientResponseError):
        status = exc.status
    return status is not None and (status in (408, 409, 429) or status >= 500)


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After seconds or HTTP date, or retry-after-ms)."""
    headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            wait = float(ms) / 1000.0
            if math.isfinite(wait):
                return max(0.0, wait)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        wait = float(value)
        return max(0.0, wait) if math.isfinite(wait) else None
    except ValueError:
        pass
    try:  # an HTTP date; anything else is ignored, as RFC 9110 asks, and the usual backoff applies
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # '-0000': UTC with no source zone
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, parsed.timestamp() - time.time())


def backoff_s(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Exponential backoff for retry number `attempt` (1-based) with +/- jitter."""
    delay = min(policy.max_delay_s, policy.base_delay_s * (2 ** (attempt - 1)))
    return max(0.0, delay * (1 + policy.jitter * (2 * rng.random() - 1)))


async def call_with_retries(fn: Callable[[], Awaitable[T]], policy: RetryPolicy,
                            rng: random.Random | None = None,
                            on_retry: Callable[[int, BaseException, float], None] | None = None,
                            failed: Exception | None = None) -> tuple[T, int]:
    """Await `fn()` until it succeeds or fails for good; returns (result, attempts). `failed`: the first attempt
    was already made by the caller (a fast path that awaits the request itself and enters this loop only when it
    raises) and failed with this exception; the loop goes on from there exactly as if it had made that attempt."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        if failed is None:
            try:
                return await fn(), attempt
            except Exception as exc:  # noqa: BLE001 - raised below unless it is retried
                failed = exc
        if not is_retryable(failed) or attempt > policy.max_retries:
            raise failed
        wait = retry_after_s(failed)
        wait = min(wait, policy.max_delay_s) if wait is not None else backoff_s(attempt, policy, rng)
        if on_retry:
            on_retry(attempt, failed, wait)
        failed = None
        await asyncio.sleep(wait)
