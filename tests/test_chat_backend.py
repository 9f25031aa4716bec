"""The lean chat backend (aiohttp, arena/backends/openai_compat.py) against real local servers: streamed TTFT
and usage, retries on 429/5xx/error events, keys kept out of errors, keep-alive reuse, basic auth from the URL;
and the group-commit appender the answer and judge stages write through."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp import web
from openai_server import Failure, FakeOpenAI

from arena.backends.base import GenParams
from arena.backends.openai_compat import OpenAICompatible
from arena.backends.retry import HTTPStatusFailure, ReplyTimeout, RetryPolicy, is_retryable, retry_after_s
from arena.errors import BackendError
from arena.records import JsonlAppender

if TYPE_CHECKING:
    from typing_extensions import Self

USER = [{"role": "user", "content": "say three words please"}]
FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=2.0)


def _backend(url: str, key: str = "EMPTY", **kw) -> OpenAICompatible:
    kw.setdefault("retry", FAST_RETRY)
    return OpenAICompatible(name="cand", model="m", base_url=url, api_key=key, **kw)


def _generate(backend: OpenAICompatible, params: GenParams, messages=USER):
    async def go():
        try:
            return await backend.generate(messages, params)
        finally:
            await backend.aclose()
    return asyncio.run(go())


def test_a_streamed_reply_records_ttft_usage_and_the_text():
    words = ["one", "two", "three", "four", "five"]
    with FakeOpenAI(reply=lambda body: " ".join(words)) as srv:
        srv.chunk_delay_s = 0.1  # a token every 100 ms: the first arrives ~0.4 s before the last
        c = _generate(_backend(srv.base_url), GenParams(temperature=0.0, max_tokens=50, stream=True))
        body = srv.requests[0]
    assert c.text == "one two three four five" and c.finish_reason == "stop" and c.attempts == 1
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 50 and body["temperature"] == 0.0 and body["messages"] == USER
    # the fake counts words: 4 in the prompt, 5 in the reply
    assert (c.prompt_tokens, c.completion_tokens) == (len(USER[0]["content"].split()), len(words))
    assert c.ttft_s is not None and c.ttft_s < 0.35  # the first word, not the whole reply
    assert c.latency_s >= 0.45 and c.latency_s - c.ttft_s >= 0.35  # four more pauses after the first word


def test_a_stream_without_usage_leaves_the_tokens_unknown_and_a_plain_reply_is_accepted():
    with FakeOpenAI(reply=lambda body: "fine thanks") as srv:
        srv.stream_usage = False
        c = _generate(_backend(srv.base_url), GenParams(stream=True))
        assert c.text == "fine thanks" and c.prompt_tokens is None and c.completion_tokens is None
        srv.no_stream = True  # a server that answers stream=true with one JSON body
        c = _generate(_backend(srv.base_url), GenParams(stream=True))
    assert c.text == "fine thanks" and c.ttft_s is None and c.completion_tokens == 2


def test_non_streamed_replies_send_no_stream_flag_and_keep_usage():
    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        c = _generate(_backend(srv.base_url, extra_body={"top_k": 5}), GenParams(stream=False, seed=7, top_p=0.5))
        body = srv.requests[0]
    assert "stream" not in body and body["top_k"] == 5 and body["seed"] == 7 and body["top_p"] == 0.5
    assert c.text == "a b c" and c.completion_tokens == 3 and c.ttft_s is None


@pytest.mark.parametrize("stream", [True, False])
def test_429_and_5xx_are_retried_honouring_retry_after(stream):
    with FakeOpenAI() as srv:
        srv.fail_next(429, headers={"retry-after-ms": "400"})
        srv.fail_next(503)
        srv.fail_next(500)
        c = _generate(_backend(srv.base_url), GenParams(stream=stream))
        times = srv.request_times
    assert c.attempts == 4 and c.text.startswith("answer from m")
    assert times[1] - times[0] >= 0.38  # retry-after-ms: 400 was honoured (the backoff base is 10 ms)


def test_an_error_event_mid_stream_is_retried_then_reported_as_unusable():
    with FakeOpenAI() as srv:
        srv.break_next("error_event")
        c = _generate(_backend(srv.base_url), GenParams(stream=True))
        assert c.attempts == 2 and "Half" not in c.text  # the half reply before the error was dropped
        srv.break_next("error_event", times=5)
        with pytest.raises(BackendError) as err:
            _generate(_backend(srv.base_url, retry=RetryPolicy(max_retries=1, base_delay_s=0.01)),
                      GenParams(stream=True))
    assert "unusable reply" in str(err.value) and "the engine restarted" in str(err.value)
    assert not err.value.endpoint_down


def test_400_is_not_retried_and_says_the_servers_message():
    with FakeOpenAI() as srv:
        srv.failures.append(Failure(400, {}, {"error": {"message": "max_tokens is too large"}}))
        with pytest.raises(BackendError) as err:
            _generate(_backend(srv.base_url), GenParams(stream=True))
        assert len(srv.requests) == 1
    assert "answered HTTP 400: max_tokens is too large" in str(err.value) and not err.value.endpoint_down


def _pieces(secret: str, n: int = 6) -> list[str]:
    return [secret[i:i + n] for i in range(len(secret) - n + 1)]


@pytest.mark.parametrize("how", ["status", "error_event", "plain_text_status"])
def test_the_key_never_reaches_an_error_even_when_the_server_echoes_it(how):
    key = "sk-local-0123456789abcdefghijkl"
    with FakeOpenAI() as srv:
        if how == "status":
            srv.failures.append(Failure(401, {}, {"error": {"message": f"bad key {key}"}}))
        elif how == "plain_text_status":
            for _ in range(2):  # a 502 is retried: fail both attempts
                srv.failures.append(Failure(502, {}, f"upstream said: Authorization: Bearer {key}"))  # type: ignore
        else:
            srv.error_event_message = f"engine failed for {key}"
            srv.break_next("error_event", times=2)
        with pytest.raises(BackendError) as err:
            _generate(_backend(srv.base_url, key=key, retry=RetryPolicy(max_retries=1, base_delay_s=0.01)),
                      GenParams(stream=True))
        assert set(srv.auth_headers) == {f"Bearer {key}"}  # the key went to its own host
    message = str(err.value) + repr(err.value.args)
    assert "cand:" in message and all(p not in message for p in _pieces(key))


def test_unreachable_host_is_a_transport_failure_that_marks_the_endpoint_down():
    with pytest.raises(BackendError) as err:
        _generate(_backend("http://127.0.0.1:9/v1", retry=RetryPolicy(max_retries=1, base_delay_s=0.01)),
                  GenParams(stream=True))
    assert "cannot reach http://127.0.0.1:9/v1" in str(err.value) and err.value.endpoint_down


def test_credentials_in_the_base_url_become_basic_auth_and_stay_out_of_errors():
    with FakeOpenAI() as srv:
        url = srv.base_url.replace("http://", "http://alice:pa%24%24word-42@")
        _generate(_backend(url, key="sk-unused-0123456789abcdef"), GenParams(stream=True))
        srv.fail_next(400)
        with pytest.raises(BackendError) as err:
            _generate(_backend(url), GenParams(stream=True))
    expected = "Basic " + base64.b64encode(b"alice:pa$$word-42").decode()
    assert srv.auth_headers[0] == expected  # not the bearer key: the URL's credentials replace it
    assert "pa$$word" not in str(err.value) and "pa%24%24word" not in str(err.value)



def test_a_netrc_entry_for_the_host_neither_breaks_requests_nor_replaces_the_key(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"  # a `default` entry matches every host, the API's too
    netrc.write_text("default login bob password hunter2-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with FakeOpenAI() as srv:
        c = _generate(_backend(srv.base_url, key="sk-netrc-test-0123456789abcdef"), GenParams(stream=True))
    assert c.text.startswith("answer from m") and srv.auth_headers == ["Bearer sk-netrc-test-0123456789abcdef"]


def test_the_proxy_from_the_environment_is_used_and_gets_its_own_credentials_not_the_key(monkeypatch):
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with FakeOpenAI() as proxy:  # answers the forwarded request itself: enough to see what reached the proxy
        monkeypatch.setenv("http_proxy", proxy.base_url.replace("/v1", "").replace("http://", "http://pu:pp-proxy@"))
        c = _generate(_backend("http://llm.example.invalid/v1", key="sk-proxy-test-0123456789abcdef"),
                      GenParams(stream=False))
    assert c.text.startswith("answer from m")  # llm.example.invalid does not resolve: only the proxy got it
    seen = proxy.headers[0]
    assert seen["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:pp-proxy").decode()
    assert seen["authorization"] == "Bearer sk-proxy-test-0123456789abcdef"
    monkeypatch.setenv("no_proxy", "llm.example.invalid")
    assert OpenAICompatible(name="c", model="m", base_url="http://llm.example.invalid/v1", api_key="k")._proxy is None

class KeepAliveServer:
    """A streaming aiohttp server on 127.0.0.1 (keep-alive, unlike the threading fake) that records the client
    port of every request and the most requests in flight."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.split_events = False
        self.ports: list[int] = []
        self.in_flight = self.max_in_flight = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.base_url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/v1"
        self.ready.set()
        self.loop.run_forever()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.ports.append(request.transport.get_extra_info("peername")[1])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for piece, finish in (("hello", None), (" there", None), ("", "stop")):
                delta = {"content": piece} if piece else {}
                event = b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta,
                                                            "finish_reason": finish}]}).encode()
                if self.split_events:  # each event cut in two reads, CRLF line ends
                    await resp.write(event[:9])
                    await asyncio.sleep(0.03)
                    await resp.write(event[9:] + b"\r\n\r\n")
                else:
                    await resp.write(event + b"\n\n")
            usage = {"prompt_tokens": len(body["messages"]), "completion_tokens": 2}
            await resp.write(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        finally:
            self.in_flight -= 1

    def __enter__(self) -> Self:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_requests_reuse_kept_alive_connections_up_to_the_concurrency():
    with KeepAliveServer(delay_s=0.05) as srv:
        backend = _backend(srv.base_url, concurrency=4)

        async def go():
            sem = asyncio.Semaphore(4)  # as the answer and judge stages bound a backend

            async def one():
                async with sem:
                    return await backend.generate(USER, GenParams(stream=True))
            try:
                return await asyncio.gather(*(one() for _ in range(40)))
            finally:
                await backend.aclose()
        replies = asyncio.run(go())
    assert [c.text for c in replies] == ["hello there"] * 40 and all(c.completion_tokens == 2 for c in replies)
    assert srv.max_in_flight == 4
    assert len(set(srv.ports)) == 4  # 40 requests over 4 connections: each reply read to its end, then reused


def test_events_cut_across_reads_and_crlf_line_ends_are_reassembled():
    with KeepAliveServer() as srv:
        srv.split_events = True
        c = _generate(_backend(srv.base_url), GenParams(stream=True))
    assert c.text == "hello there" and c.finish_reason == "stop" and c.completion_tokens == 2
    assert c.ttft_s is not None and c.latency_s - c.ttft_s >= 0.05  # two more events, each 30 ms apart


def test_retry_classification_of_the_lean_clients_errors():
    for status in (408, 409, 429, 500, 502, 503):
        assert is_retryable(HTTPStatusFailure(status, "x"))
    for status in (400, 401, 403, 404, 422):
        assert not is_retryable(HTTPStatusFailure(status, "x"))
    assert is_retryable(aiohttp.ClientConnectionError("refused")) and is_retryable(ReplyTimeout("slow"))
    assert is_retryable(aiohttp.ServerDisconnectedError())
    assert retry_after_s(HTTPStatusFailure(429, "x", {"retry-after": "3"})) == 3.0
    assert retry_after_s(HTTPStatusFailure(429, "x", {"retry-after-ms": "250"})) == 0.25
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= retry_after_s(HTTPStatusFailure(429, "x", {"retry-after": http_date})) <= 31


def test_background_sync_appender_writes_at_once_and_fsyncs_off_the_calling_thread(tmp_path, monkeypatch):
    real_fsync = os.fsync
    seen: list[tuple[str, int]] = []  # (thread name, file size when the fsync ran)
    path = tmp_path / "answers.jsonl"

    def spy(fd: int) -> None:
        seen.append((threading.current_thread().name, os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    app = JsonlAppender(path, background_sync=True)
    for i in range(50):
        app.append({"i": i})
        assert len(path.read_text().splitlines()) == i + 1  # on disk (page cache) at once: a kill loses nothing
    app.close()
    size = path.stat().st_size
    background = [s for name, s in seen if name.startswith("arena-fsync")]
    assert background and seen[-1][1] == size  # fsyncs ran in the helper thread; the last covered everything
    assert all(name.startswith("arena-fsync") for name, _ in seen[:-1])  # only close() syncs on the caller
    seen.clear()
    with JsonlAppender(tmp_path / "plain.jsonl") as plain:  # the default: every line fsync'd by the caller
        plain.append({"i": 0})
        plain.append({"i": 1})
    assert [name for name, _ in seen] == [threading.current_thread().name] * 3


def test_a_failed_background_fsync_is_raised_to_the_writer_not_lost(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def failing(fd: int) -> None:  # the disk fails in the helper thread (EIO), as a full or broken disk would
        if threading.current_thread().name.startswith("arena-fsync"):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    app = JsonlAppender(tmp_path / "judgments.jsonl", background_sync=True)
    app.append({"i": 0})
    app._syncer.submit(lambda: None).result(5)  # the queued fsync has run (one worker: in order)
    with pytest.raises(OSError, match="judgments.jsonl: writing to disk failed"):
        app.append({"i": 1})
    app.append({"i": 2})  # reported once, as the synchronous fsync reports it; the writer decides
    app._syncer.submit(lambda: None).result(5)
    with pytest.raises(OSError, match="writing to disk failed"):
        app.close()
    assert app._fd == -1  # the file is closed (and its lock released) even so


def test_tls_trusts_certifi_unless_the_environment_names_the_certificates(monkeypatch) -> None:
    """HTTPS endpoints are checked against the system store plus certifi's bundle (what the openai client's
    httpx trusted), so a machine without a system store (a python.org macOS build, a slim container) still
    verifies servers; SSL_CERT_FILE / SSL_CERT_DIR alone decide when set. The machine without a store is
    simulated by a default context that loads no CA."""
    import ssl as _ssl

    import certifi

    from arena.backends import openai_compat

    def no_system_store(*args, **kwargs) -> _ssl.SSLContext:
        ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)  # verifies, hostname checked, no CA loaded
        return ctx

    certifi_ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    certifi_ctx.load_verify_locations(certifi.where())
    monkeypatch.setattr(_ssl, "create_default_context", no_system_store)
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    try:
        openai_compat.tls_context.cache_clear()
        ctx = openai_compat.tls_context()
        assert ctx.verify_mode == _ssl.CERT_REQUIRED and ctx.check_hostname
        assert len(ctx.get_ca_certs()) == len(certifi_ctx.get_ca_certs()) > 50
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
        openai_compat.tls_context.cache_clear()
        assert openai_compat.tls_context().get_ca_certs() == []  # the environment decides: certifi not added
    finally:
        openai_compat.tls_context.cache_clear()
