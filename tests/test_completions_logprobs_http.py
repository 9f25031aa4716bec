"""CompletionsLogprobs over its aiohttp client against a real local server: retries, headers, error wording,
redaction, timeouts, an unreachable server."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from typing import Any

import pytest
from openai_server import JSONHandler, LocalServer

from arena.backends.completions_logprobs import CompletionsLogprobs
from arena.backends.retry import RetryPolicy
from arena.backends.vllm_server import find_free_port
from arena.errors import BackendError

KEY = "sk-secret-logprobs-123456"
FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.02)


class ScriptedCompletions(LocalServer):
    """POST /v1/completions: the scripted (status, body) replies first, then an echo reply with every
    whitespace-led word a token of log-probability -0.5; records each request's Authorization header."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.script: deque[tuple[int, dict[str, Any]]] = deque()
        self.auth: list[str | None] = []
        self.delay_s = delay_s
        fake = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.auth.append(self.headers.get("Authorization"))
                time.sleep(fake.delay_s)
                try:
                    self._reply(body)
                except BrokenPipeError:  # the client gave up (timeout_s)
                    pass

            def _reply(self, body: dict[str, Any]) -> None:
                if fake.script:
                    self._json(*fake.script.popleft())
                    return
                words = body["prompt"].split(" ")
                tokens = [words[0]] + [" " + w for w in words[1:]]
                offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
                self._json(200, {"choices": [{"index": 0, "logprobs": {
                    "tokens": tokens + ["!"], "text_offset": offsets + [len(body["prompt"])],
                    "token_logprobs": [None] + [-0.5] * len(tokens)}}],
                    "usage": {"prompt_tokens": len(tokens), "completion_tokens": 1}})

        super().__init__(Handler)


def score(url: str, **kw: Any) -> Any:
    async def go() -> Any:
        model = CompletionsLogprobs(name="m", model="fake", base_url=url, api_key=KEY, **{"retry": FAST, **kw})
        try:
            return await model.continuation_logprob("The sky is", " blue today")
        finally:
            await model.aclose()
    return asyncio.run(go())


def test_a_503_is_retried_then_the_continuation_is_scored_with_the_bearer_key():
    with ScriptedCompletions() as srv:
        srv.script.append((503, {"error": {"message": "overloaded"}}))
        got = score(srv.base_url)
    assert got.logprob == pytest.approx(-1.0)  # ' blue' and ' today': two tokens of -0.5
    assert got.tokens == 2 and not got.straddled
    assert srv.auth == [f"Bearer {KEY}"] * 2


def test_an_error_status_names_the_status_and_never_shows_the_key():
    with ScriptedCompletions() as srv:
        srv.script.append((401, {"error": {"message": f"Incorrect API key provided: {KEY}"}}))
        with pytest.raises(BackendError) as err:
            score(srv.base_url)
    text = str(err.value)
    assert "HTTP 401" in text and "Incorrect API key" in text
    assert KEY not in text and KEY[:12] not in text
    assert len(srv.auth) == 1  # a 401 is not retried


def test_url_credentials_become_basic_auth_and_leave_the_url():
    with ScriptedCompletions() as srv:
        srv.script.extend([(500, {"error": {"message": "boom"}})] * 3)
        url = srv.base_url.replace("http://", "http://alice:pw%21@")
        with pytest.raises(BackendError) as err:
            score(url)
    assert srv.auth == ["Basic " + base64.b64encode(b"alice:pw!").decode()] * 3  # 1 try + 2 retries
    assert "pw" not in str(err.value) and "HTTP 500" in str(err.value) and err.value.endpoint_down


def test_timeout_s_bounds_a_slow_reply():
    with ScriptedCompletions(delay_s=1.0) as srv:
        start = time.perf_counter()
        with pytest.raises(BackendError) as err:
            score(srv.base_url, timeout_s=0.2, retry=RetryPolicy(max_retries=0))
        assert time.perf_counter() - start < 0.9
    assert "did not finish a reply within timeout_s=0.2 s" in str(err.value)
    assert err.value.endpoint_down


def test_an_unreachable_server_is_one_transport_error():
    url = f"http://127.0.0.1:{find_free_port()}/v1"
    with pytest.raises(BackendError) as err:
        score(url)
    assert "cannot reach" in str(err.value) and err.value.endpoint_down
    assert "base_url" in (err.value.hint or "")
