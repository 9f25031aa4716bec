"""Checks before any load is sent: the server answers, serves the model, and streams; one message each."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from arena.errors import ArenaError
from arena.perf.client import CONNECTION, HTTP_4XX, TIMEOUT, PerfRequest, StreamingClient
from arena.redaction import shorten


@dataclass(frozen=True)
class Probe:
    """What the test request showed: whether the server reports token usage in the stream."""

    reports_usage: bool


async def served_models(base_url: str, api_key: str | None, timeout_s: float) -> list[str] | None:
    """The model ids the server lists at /models (None: it has no such list)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=timeout_s)
    url = f"{base_url.rstrip('/')}/models"
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session, \
                session.get(url, headers=headers) as resp:
            if resp.status in (401, 403):
                raise ArenaError(f"{base_url} refused the API key (HTTP {resp.status})",
                                 hint="set the variable named by --api-key-env (or the candidate's "
                                      "api_key_env) to a valid key")
            if resp.status != 200:
                return None
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        raise ArenaError(f"cannot reach {base_url} ({type(exc).__name__}: {shorten(str(exc), 160)})",
                         hint="is the server up? check --url / the candidate's base_url") from None
    except ValueError:
        return None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id") is not None]


async def preflight(client: StreamingClient, api_key: str | None, connect_timeout_s: float) -> Probe:
    """Fail with one clear ArenaError unless the endpoint is reachable, serves the model and streams."""
    s = client.settings
    models = await served_models(s.base_url, api_key, connect_timeout_s)
    if models is not None and s.model not in models:
        shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "") or "(none)"
        raise ArenaError(f"{s.base_url} does not serve model {s.model!r}; it serves: {shown}",
                         hint="pass one of those names with --model (or fix the candidate's 'model')")
    res = await client.send(PerfRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=4))
    if res.ok:
        return Probe(reports_usage=res.output_tokens is not None)
    where = f"{s.base_url} (model {s.model!r})"
    if res.error == CONNECTION:
        raise ArenaError(f"cannot reach {where}: {res.detail}", hint="is the server up? check the URL")
    if res.error == TIMEOUT:
        raise ArenaError(f"{where} did not answer a test request in time", hint="raise --timeout or check the server")
    if res.error == HTTP_4XX and res.detail.startswith("HTTP 404"):
        raise ArenaError(f"{where}: the test request was refused as not found ({res.detail})",
                         hint="check the model name (--model) and that the URL ends in /v1")
    if "not a stream" in res.detail:
        raise ArenaError(f"{where} does not stream its replies ({res.detail})",
                         hint="arena perf measures TTFT and inter-token latency from a streamed reply: "
                              "use a server that supports stream=true")
    raise ArenaError(f"{where} failed a test request before the load test: {res.detail}",
                     hint="fix the endpoint first; no load was sent")
