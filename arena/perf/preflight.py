"""Checks before any load is sent: the server answers, serves the model, and streams; one message each.

A transient failure (connection refused, HTTP 5xx or 429, a broken stream) is tried again a couple of times
with a short pause: one hiccup of the server does not abort the test. What remains is an `EndpointFailure`
(exit 1, as a failed run) when the endpoint is down or erroring, a plain ArenaError (exit 2, bad input) when
the user named something wrong: a model the server does not serve, a URL that is not found, a refused key.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from arena.backends.openai_compat import env_proxy, join_path
from arena.errors import ArenaError, BackendError
from arena.perf.client import (
    BAD_STREAM,
    CONNECTION,
    EMPTY,
    HTTP_4XX,
    HTTP_5XX,
    HTTP_429,
    TIMEOUT,
    PerfRequest,
    RequestResult,
    StreamingClient,
    authorized,
)
from arena.redaction import redact, shorten

PROBE_PAUSES_S = (0.5, 1.5)  # pauses before the second and third try of a check that failed transiently
RETRIED = (CONNECTION, HTTP_5XX, HTTP_429, BAD_STREAM)  # not a timeout: one try may already take --timeout
DOWN_HINT = "is the server up? check --url (or the candidate's base_url)"


class EndpointFailure(BackendError):
    """The endpoint is down or fails the test request: the load test failed (exit 1), the input was fine."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, endpoint_down=True)


@dataclass(frozen=True)
class Probe:
    """What the test request showed: whether the server reports token usage in the stream, and a warning
    when its reply had no content Arena recognises (the load's requests would all count as `empty`)."""

    reports_usage: bool
    warning: str | None = None


async def served_models(base_url: str, api_key: str | None, timeout_s: float,
                        pauses_s: tuple[float, ...] = PROBE_PAUSES_S) -> list[str] | None:
    """The model ids the server lists at /models (None: it has no such list)."""
    url, headers = authorized(join_path(base_url, "models"), api_key)
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=timeout_s)
    shown = redact(base_url)
    for pause in (*pauses_s, None):
        try:
            async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session, \
                    session.get(url, headers=headers, proxy=env_proxy(url)) as resp:
                if resp.status in (401, 403):
                    raise ArenaError(f"{shown} refused the credentials (HTTP {resp.status})",
                                     hint="set the variable named by --api-key-env (or the candidate's "
                                          "api_key_env) to a valid key, or fix user:password in the URL")
                if resp.status != 200:
                    return None
                data = await resp.json(content_type=None)
            break
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            if pause is None:
                why = f"{type(exc).__name__}: {shorten(str(exc), 160)}"
                raise EndpointFailure(f"cannot reach {shown} ({why})", hint=DOWN_HINT) from None
            await asyncio.sleep(pause)
        except ValueError:  # not JSON
            return None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id") is not None]


async def probe_request(client: StreamingClient,
                        pauses_s: tuple[float, ...] = PROBE_PAUSES_S) -> RequestResult:
    """One short streamed request, tried again after a pause while it fails transiently."""
    req = PerfRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=4)
    for pause in (*pauses_s, None):
        res = await client.send(req)
        if res.ok or res.error not in RETRIED or "not a stream" in res.detail or pause is None:
            return res
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def preflight(client: StreamingClient, api_key: str | None, connect_timeout_s: float,
                    pauses_s: tuple[float, ...] = PROBE_PAUSES_S) -> Probe:
    """Fail with one clear error unless the endpoint is reachable, serves the model and streams."""
    s = client.settings
    where = f"{redact(s.base_url)} (model {s.model!r})"
    models = await served_models(s.base_url, api_key, connect_timeout_s, pauses_s)
    if models is not None and s.model not in models:
        shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "") or "(none)"
        raise ArenaError(f"{redact(s.base_url)} does not serve model {s.model!r}; it serves: {shown}",
                         hint="pass one of those names with --model (or fix the candidate's 'model')")
    res = await probe_request(client, pauses_s)
    if res.ok:
        return Probe(reports_usage=res.output_tokens is not None)
    if res.error == EMPTY:  # the load decides: every request empty makes the test fail
        return Probe(reports_usage=res.output_tokens is not None,
                     warning=f"the test request's reply had no text: {res.detail}")
    if res.error == CONNECTION:
        raise EndpointFailure(f"cannot reach {where}: {res.detail}", hint=DOWN_HINT)
    if res.error == TIMEOUT:
        raise EndpointFailure(f"{where} did not answer a test request in time",
                              hint="raise --timeout or check the server")
    if res.error == HTTP_4XX and res.detail.startswith("HTTP 404"):
        raise ArenaError(f"{where}: the test request was refused as not found ({res.detail})",
                         hint="check the model name (--model) and that the URL ends in /v1")
    if res.error == HTTP_4XX and res.detail.startswith(("HTTP 401", "HTTP 403")):
        raise ArenaError(f"{where} refused the credentials ({res.detail})",
                         hint="set the variable named by --api-key-env (or the candidate's api_key_env) to a "
                              "valid key, or fix user:password in the URL")
    if "not a stream" in res.detail:
        raise ArenaError(f"{where} does not stream its replies ({res.detail})",
                         hint="arena perf measures TTFT and inter-token latency from a streamed reply: "
                              "use a server that supports stream=true")
    if res.error == HTTP_4XX:  # refused as malformed: request options or extra_body the server rejects
        raise ArenaError(f"{where} refused the test request: {res.detail}",
                         hint="check the request options (--api, --max-tokens, the candidate's extra_body)")
    tries = len(pauses_s) + 1
    raise EndpointFailure(f"{where} failed a test request before the load test ({tries} tries): {res.detail}",
                          hint="fix the endpoint first; no load was sent")
