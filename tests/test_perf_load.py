"""The streaming client and load shapes against a real local server with scripted delays and failures."""
from __future__ import annotations

import asyncio
import statistics

import pytest
from openai_server import FakeOpenAI

from arena.backends.vllm_server import find_free_port
from arena.perf.client import BAD_STREAM, CONNECTION, ClientSettings, PerfRequest, StreamingClient
from arena.perf.load import LevelRun, LoadLevel, Stop, poisson_offsets, run_level, warm_up
from arena.perf.metrics import summarize
from arena.perf.prompts import OutputBudget, RequestPlan

WORDS = "one two three four five"  # 5 streamed chunks


def _plan() -> RequestPlan:
    return RequestPlan([f"prompt {i}" for i in range(20)], OutputBudget(16, 16), seed=0)


async def _level(url: str, level: LoadLevel, stop: Stop, timeout_s: float = 30.0, api_key: str | None = None) -> LevelRun:
    settings = ClientSettings(base_url=url, model="fake", timeout_s=timeout_s, idle_timeout_s=timeout_s)
    async with StreamingClient(settings, api_key, max_connections=64) as client:
        await warm_up(client, _plan(), stop.warmup, level.in_flight_limit)
        run = LevelRun(level)
        return await run_level(client, _plan(), run, stop, seed=0)


def test_ttft_itl_tpot_follow_the_servers_scripted_delays():
    with FakeOpenAI(reply=lambda body: WORDS, delay_s=0.1) as srv:
        srv.chunk_delay_s = 0.03
        srv.usage = lambda body, text: {"prompt_tokens": 17, "completion_tokens": 5}
        run = asyncio.run(_level(srv.base_url, LoadLevel(concurrency=2), Stop(requests=6)))
    s = summarize(run)
    assert s["completed"] == 6 and s["failed"] == 0
    # the server waits 0.1 s, then sends a chunk every 0.03 s (and pauses 0.03 s after the last one)
    assert 0.095 <= s["ttft_s"]["p50"] <= 0.2
    assert 0.028 <= s["itl_s"]["p50"] <= 0.08 and s["itl_s"]["n"] == 6 * 4
    assert 5 * 0.03 / 4 - 0.002 <= s["tpot_s"]["p50"] <= 0.1  # (e2e - ttft) / (5 - 1)
    assert 0.1 + 5 * 0.03 - 0.005 <= s["e2e_latency_s"]["p50"] <= 0.45
    assert s["input_tokens"]["mean"] == 17 and s["output_tokens"]["mean"] == 5 and s["tokens_source"] == "usage"
    # every request asked for usage in the stream; warm-up requests went too but were not counted
    assert all(r["stream"] and r["stream_options"] == {"include_usage": True} for r in srv.requests)
    assert len(srv.requests) == 6 and s["sent"] == 6


def test_concurrency_is_held_and_warmup_not_counted():
    with FakeOpenAI(reply=lambda body: WORDS, delay_s=0.05) as srv:
        run = asyncio.run(_level(srv.base_url, LoadLevel(concurrency=4), Stop(requests=12, warmup=3)))
        assert srv.max_in_flight == 4 and len(srv.requests) == 15
    s = summarize(run)
    assert s["completed"] == 12 and s["sent"] == 12
    assert 4 / 0.05 >= s["request_throughput"] > 10  # 4 in flight, each at least 0.05 s: at most 80 req/s


def test_errors_are_counted_by_kind_and_never_stop_the_test():
    with FakeOpenAI(reply=lambda body: WORDS) as srv:
        srv.fail_next(429, times=2)
        srv.fail_next(503)
        srv.break_next("truncated")
        srv.break_next("stall")
        run = asyncio.run(_level(srv.base_url, LoadLevel(concurrency=1), Stop(requests=10), timeout_s=1.0))
    s = summarize(run)
    assert s["errors"] == {"timeout": 1, "http_429": 2, "http_5xx": 1, "bad_stream": 1}
    assert (s["sent"], s["completed"], s["failed"]) == (10, 5, 5)


def test_connection_errors_have_their_kind():
    async def go() -> list:
        settings = ClientSettings(base_url=f"http://127.0.0.1:{find_free_port()}/v1", model="m", timeout_s=5)
        async with StreamingClient(settings, None, 4) as client:
            return [await client.send(PerfRequest([{"role": "user", "content": "hi"}], 4)) for _ in range(2)]

    assert [r.error for r in asyncio.run(go())] == [CONNECTION, CONNECTION]


def test_a_reply_that_is_not_streamed_is_a_bad_stream():
    with FakeOpenAI(reply=lambda body: WORDS) as srv:
        srv.no_stream = True
        run = asyncio.run(_level(srv.base_url, LoadLevel(concurrency=1), Stop(requests=2)))
    assert {r.error for r in run.results} == {BAD_STREAM} and "not a stream" in run.results[0].detail


def test_open_loop_sends_at_the_seeded_poisson_times():
    rate, n = 25.0, 30
    with FakeOpenAI(reply=lambda body: WORDS) as srv:
        run = asyncio.run(_level(srv.base_url, LoadLevel(rate=rate), Stop(requests=n)))
    offsets = [t for _, t in zip(range(n), poisson_offsets(rate, seed=0))]
    sent = sorted(r.start - run.started for r in run.results)
    lags = [s - o for s, o in zip(sent, offsets)]
    assert len(sent) == n and min(lags) >= -0.001
    assert statistics.median(lags) < 0.03  # each request leaves at its scheduled time (a loaded machine lags)


def test_duration_bounds_a_level():
    with FakeOpenAI(reply=lambda body: WORDS, delay_s=0.02) as srv:
        run = asyncio.run(_level(srv.base_url, LoadLevel(concurrency=2), Stop(duration_s=0.5)))
    starts = [r.start - run.started for r in run.results]
    assert run.results and max(starts) < 0.5 + 0.05 and summarize(run)["failed"] == 0


def test_the_api_key_goes_in_the_header_only():
    with FakeOpenAI(reply=lambda body: WORDS) as srv:
        asyncio.run(_level(srv.base_url, LoadLevel(concurrency=1), Stop(requests=1), api_key="sk-perf-secret-123"))
        assert srv.auth_headers == ["Bearer sk-perf-secret-123"]


@pytest.mark.parametrize("api", ["completions"])
def test_the_completions_api_is_supported(api):
    settings = ClientSettings(base_url="http://127.0.0.1:1/v1", model="m", api=api)
    client = StreamingClient(settings, None, 1)
    body = client.body(PerfRequest([{"role": "user", "content": "hi"}], 8))
    assert settings.url.endswith("/v1/completions") and b'"prompt": "hi"' in body and b"messages" not in body
