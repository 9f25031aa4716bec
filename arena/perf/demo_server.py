"""The offline demo target of `arena perf`: a streaming OpenAI-compatible server on 127.0.0.1 (a thread of
this process) that sends the demo backend's labelled placeholder text at a fixed pace. No model runs:
its figures measure Arena's client and this placeholder, never a model, and are labelled so."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import TYPE_CHECKING, Any

from aiohttp import web

from arena.backends.base import GenParams
from arena.backends.demo import demo_text

if TYPE_CHECKING:
    from typing_extensions import Self

DEMO_NOTE = "DEMO: offline placeholder server in this process (no model); figures measure the tool only"


class DemoServer:
    """Serves /v1/models and streamed /v1/chat/completions for the named demo models, in a daemon thread."""

    def __init__(self, models: dict[str, dict[str, Any]], first_token_s: float = 0.02,
                 token_s: float = 0.002) -> None:
        self.models = models  # served name -> demo settings (seed, quality, verbosity, latency_s)
        self.first_token_s = first_token_s
        self.token_s = token_s
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="arena-perf-demo")

    @property
    def base_url(self) -> str:
        """The `/v1` base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/v1/models", self._list)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = body.get("model")
        if model not in self.models:
            return web.json_response({"error": {"message": f"The model `{model}` does not exist."}}, status=404)
        demo = self.models[model]
        params = GenParams(temperature=float(body.get("temperature") or 0.0), max_tokens=int(body["max_tokens"]))
        text = demo_text(model, demo.get("seed", 0), demo.get("quality", 0.5), demo.get("verbosity", 0.5),
                         body.get("messages") or [], params)
        pieces = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))][: params.max_tokens]
        if not body.get("stream"):
            return web.json_response({"choices": [{"index": 0, "finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": "".join(pieces)}}]})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(float(demo.get("latency_s") or 0.0) + self.first_token_s)
        base = {"id": "demo", "object": "chat.completion.chunk", "model": model}
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(self.token_s)
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await resp.write(b"data: " + json.dumps(done).encode() + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages") or []) // 4 + 1
            usage = {"prompt_tokens": prompt, "completion_tokens": len(pieces),
                     "total_tokens": prompt + len(pieces)}
            await resp.write(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
