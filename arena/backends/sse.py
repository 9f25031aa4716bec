"""Server-sent events of a streamed OpenAI-compatible reply, decoded as the bytes arrive (aiohttp).

One reader for both streaming clients: the pipeline's chat backend (openai_compat) and `arena perf`'s load
client. Each read takes every byte buffered so far and is timed once; the body is read to its end, so the
connection goes back to the pool for the next request.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

READ_SIZE = 2 ** 16


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[float, Any]]:
    """(perf_counter time of the read that brought it, decoded JSON) for every `data:` event but `[DONE]`.

    The events of one read are decoded together (one JSON array), a third of the CPU of one call per event.
    A `data:` line that is not JSON raises ValueError (json.JSONDecodeError)."""
    tail = b""
    async for data in resp.content.iter_chunked(READ_SIZE):  # all bytes buffered so far, in one read
        now = time.perf_counter()
        lines = (tail + data).split(b"\n")
        tail = lines.pop()
        payloads = [payload for line in lines
                    if line.startswith(b"data:") and (payload := line[5:].strip()) != b"[DONE]"]
        if payloads:
            for event in json.loads(b"[" + b",".join(payloads) + b"]"):
                yield now, event
    if tail.startswith(b"data:") and (payload := tail[5:].strip()) not in (b"[DONE]", b""):
        yield time.perf_counter(), json.loads(payload.decode())
