"""Reward-model scorers: the in-process transformers model (tiny random Qwen2) and vLLM's /pooling over HTTP."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from arena.backends.retry import RetryPolicy
from arena.errors import ArenaError, BackendError, DataError
from judges.reward import LocalRewardModel, VLLMRewardEndpoint, preference_probability, reward_verdict
from openai_server import JSONHandler, LocalServer

HAS_RM = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "tokenizers"))
needs_rm = pytest.mark.skipif(not HAS_RM, reason="torch/transformers not installed: pip install -e '.[rm]'")
FAST = RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=0.05)


def conv(question: str, answer: str, system: str | None = None) -> list[dict[str, str]]:
    """A one-turn conversation ending with the answer to score."""
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


CONVS = [
    conv("What is 2+2?", "4"),
    conv("What is 2+2?", "It is four, because two and two make four; see Peano arithmetic for the details."),
    conv("Write a haiku about rain.", "Grey sky softly weeps\nthe gutters hum a low tune\nroots drink in the dark",
         system="You are a poet."),
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
     {"role": "user", "content": "Reverse a string in Python."}, {"role": "assistant", "content": "s[::-1]"}],
    conv("Why is the sky blue?", "Rayleigh scattering."),
]


# ---------------------------------------------------------------- local transformers model

@pytest.fixture(scope="session")
def tiny_rm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2 reward model with a ChatML template, built once per session."""
    if not HAS_RM:
        pytest.skip("torch/transformers not installed: pip install -e '.[rm]'")
    from tiny_models import make_tiny_reward_model
    return make_tiny_reward_model(tmp_path_factory.mktemp("tiny_rm"), seed=0)


@pytest.fixture(scope="session")
def tiny_rm_plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kind of model without a chat template."""
    if not HAS_RM:
        pytest.skip("torch/transformers not installed: pip install -e '.[rm]'")
    from tiny_models import make_tiny_reward_model
    return make_tiny_reward_model(tmp_path_factory.mktemp("tiny_rm_plain"), seed=1, chat_template=False)


def manual_reward(path: Path, text: str) -> float:
    """Reference: a direct forward pass of the unpadded text, logits[0, 0] (at its very last token)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    model.config.pad_token_id = None  # batch of one: pool at the last token even if it is the pad id
    with torch.no_grad():
        return float(model(**tok(text, return_tensors="pt")).logits[0, 0])


@needs_rm
def test_local_rewards_are_finite_deterministic_and_distinct(tiny_rm: Path) -> None:
    rm = LocalRewardModel(tiny_rm, batch_size=8)
    first = asyncio.run(rm.score(CONVS))
    second = asyncio.run(rm.score(CONVS))
    assert len(first) == len(CONVS) and all(isinstance(r, float) and math.isfinite(r) for r in first)
    assert first == second
    assert len({round(r, 6) for r in first}) == len(CONVS)  # different answers, different rewards
    assert rm.name == tiny_rm.name


@needs_rm
def test_batched_equals_one_at_a_time_and_order_is_kept(tiny_rm: Path) -> None:
    batched = asyncio.run(LocalRewardModel(tiny_rm, batch_size=8).score(CONVS))
    single = LocalRewardModel(tiny_rm, batch_size=1)
    alone = [asyncio.run(single.score([c]))[0] for c in CONVS]
    assert batched == pytest.approx(alone, rel=1e-4, abs=1e-5)  # right padding must not leak into the reward
    reversed_ = asyncio.run(LocalRewardModel(tiny_rm, batch_size=3).score(CONVS[::-1]))
    assert reversed_[::-1] == pytest.approx(batched, rel=1e-4, abs=1e-5)


@needs_rm
def test_reward_equals_a_manual_forward_pass(tiny_rm: Path) -> None:
    rm = LocalRewardModel(tiny_rm)
    text = rm.render(CONVS[1])
    assert text.startswith("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    assert asyncio.run(rm.score([CONVS[1]]))[0] == pytest.approx(manual_reward(tiny_rm, text), rel=1e-5, abs=1e-6)


@needs_rm
def test_plain_rendering_without_chat_template(tiny_rm_plain: Path) -> None:
    rm = LocalRewardModel(tiny_rm_plain)
    text = rm.render(CONVS[2])
    assert text == ("System: You are a poet.\nUser: Write a haiku about rain.\nAssistant: "
                    "Grey sky softly weeps\nthe gutters hum a low tune\nroots drink in the dark")
    got = asyncio.run(rm.score([CONVS[0], CONVS[2]]))[1]
    assert got == pytest.approx(manual_reward(tiny_rm_plain, text), rel=1e-5, abs=1e-6)


@needs_rm
def test_input_ending_with_the_pad_token_is_scored_at_that_token(tiny_rm_plain: Path, tmp_path: Path) -> None:
    """Some reward models' tokenizers append eos (= the pad token) after the answer: the reward is read at that
    final token, not at the one before it. (The pad token comes from the tokenizer here: the same string written
    in an answer is plain text, see test_reward_local_judge.py.)"""
    import shutil

    from tokenizers import processors
    from transformers import AutoTokenizer

    path = tmp_path / "rm_eos"
    shutil.copytree(tiny_rm_plain, path)
    tok = AutoTokenizer.from_pretrained(path)
    pad = tok.pad_token or tok.eos_token
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {pad}", special_tokens=[(pad, tok.convert_tokens_to_ids(pad))])
    tok.save_pretrained(path)
    rm = LocalRewardModel(path)
    c = conv("Why is the sky blue?", "Rayleigh.")
    got = asyncio.run(rm.score([c, CONVS[1]]))
    ids = rm.encode(c)
    assert ids[-1] == rm._tokenizer.pad_token_id  # the input really ends with the pad id
    assert got[0] == pytest.approx(manual_reward(path, rm.render(c)), rel=1e-5, abs=1e-6)
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        before_pad = float(model(input_ids=torch.tensor([ids[:-1]])).logits[0, 0])
    assert got[0] != pytest.approx(before_pad)  # not silently pooled at the token before the pad id


@needs_rm
def test_truncation_keeps_the_answer(tiny_rm: Path) -> None:
    from transformers import AutoTokenizer

    long_q = "Explain everything about the standard library. " * 40
    convs = [conv(long_q, "Yes."), conv(long_q, "No, I will not.")]
    rm = LocalRewardModel(tiny_rm, max_length=24)
    got = asyncio.run(rm.score(convs))
    tok = AutoTokenizer.from_pretrained(tiny_rm)
    ids = tok(rm.render(convs[1]))["input_ids"]
    assert len(ids) > 24
    tail = tok.decode(ids[-24:])  # left truncation: the last 24 tokens, answer included
    assert tail.endswith("No, I will not.<|im_end|>\n")
    assert got[1] == pytest.approx(manual_reward(tiny_rm, tail), rel=1e-4, abs=1e-5)
    assert got[0] != pytest.approx(got[1])


@needs_rm
def test_conversation_must_end_with_an_answer(tiny_rm: Path) -> None:
    with pytest.raises(DataError, match="assistant"):
        asyncio.run(LocalRewardModel(tiny_rm).score([[{"role": "user", "content": "hi"}]]))


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ArenaError, match="no-such-model"):
        LocalRewardModel(missing)


def test_missing_torch_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ArenaError, match=r"pip install -e '\.\[rm\]'"):
        LocalRewardModel(tmp_path)


def test_module_import_does_not_import_torch() -> None:
    code = "import sys, judges.reward; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "False False"


# ---------------------------------------------------------------- vLLM /pooling over HTTP

class FakePooling(LocalServer):
    """A vLLM-like /pooling server on 127.0.0.1: reward = float in the answer, scripted failures, counters."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.failures: deque[tuple[int, dict[str, str]]] = deque()
        self.requests: list[dict[str, Any]] = []  # /pooling requests
        self.other_paths: list[str] = []  # other routes asked (answered 404)
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        super().__init__(self._handler(), poll_s=0.02)  # base_url ends in /v1, as a user would paste

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path != "/pooling":  # e.g. /tokenize, which the scorer tries once for the template
                    with fake.lock:
                        fake.other_paths.append(self.path)
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with fake.lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    failure = fake.failures.popleft() if fake.failures else None
                try:
                    time.sleep(fake.delay_s * (1 + len(body.get("messages", [{}])[-1].get("content", "")) % 3))
                    if failure:  # echo the auth header, as a careless proxy might
                        self._json(failure[0], {"error": {"message": f"scripted failure; auth was "
                                                          f"{self.headers.get('Authorization')}"}}, failure[1])
                    else:
                        self._json(200, fake.response(body))
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        return Handler

    @staticmethod
    def response(body: dict[str, Any]) -> dict[str, Any]:
        """vLLM's PoolingResponse shape; the answer text says the reward and the nesting."""
        answer = body["messages"][-1]["content"]
        value = float(answer.split()[0])
        data: Any = [[value]] if "nested" in answer else [value, value] if "vector" in answer else [value]
        return {"id": "pool-1", "object": "list", "created": 0, "model": body["model"],
                "data": [{"index": 0, "object": "pooling", "data": data}],
                "usage": {"prompt_tokens": 5, "total_tokens": 5, "completion_tokens": 0}}


def endpoint(srv: FakePooling, **kw: Any) -> VLLMRewardEndpoint:
    """A scorer for the fake server with fast retries."""
    return VLLMRewardEndpoint(base_url=srv.base_url, model="rm", retry=FAST, **kw)


async def score_and_close(ep: VLLMRewardEndpoint, convs: list[list[dict[str, str]]]) -> list[float]:
    """Score, then close the client."""
    try:
        return await ep.score(convs)
    finally:
        await ep.aclose()


def test_pooling_request_shape_order_and_concurrency_limit() -> None:
    convs = [conv(f"q{i}", f"{i * 1.5} nested" if i % 2 else f"{-i}") for i in range(12)]
    with FakePooling(delay_s=0.05) as srv:
        ep = endpoint(srv, concurrency=3)
        got = asyncio.run(score_and_close(ep, convs))
    assert got == [i * 1.5 if i % 2 else float(-i) for i in range(12)]
    assert srv.max_in_flight == 3  # the limit holds, and is used
    assert len(srv.requests) == 12 and ep.calls == 12
    assert all(set(r) == {"model", "messages", "use_activation"} and r["model"] == "rm"
               and r["use_activation"] is False for r in srv.requests)
    assert sorted(json.dumps(r["messages"]) for r in srv.requests) == sorted(json.dumps(c) for c in convs)
    assert "authorization" not in {k.lower() for k in srv.headers[0]}


def test_503_is_retried_honouring_retry_after() -> None:
    with FakePooling() as srv:
        srv.failures.extend([(503, {"Retry-After": "0.2"}), (503, {})])
        ep = VLLMRewardEndpoint(base_url=srv.base_url, model="rm", concurrency=1,
                                retry=RetryPolicy(max_retries=3, base_delay_s=0.01, max_delay_s=5.0))
        start = time.monotonic()
        got = asyncio.run(score_and_close(ep, [conv("q", "2.5"), conv("q", "3")]))
        elapsed = time.monotonic() - start
    assert got == [2.5, 3.0]
    assert len(srv.requests) == 4 and ep.retries == 2
    assert 0.2 <= elapsed < 2.0  # waited the server's 0.2 s, not the 0.01 s backoff


def test_400_is_not_retried_and_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_TEST_RM_KEY", "sk-secret-123")
    with FakePooling() as srv:
        srv.failures.append((400, {}))
        ep = endpoint(srv, api_key_env="ARENA_TEST_RM_KEY")
        with pytest.raises(BackendError, match="HTTP 400") as err:
            asyncio.run(score_and_close(ep, [conv("q", "1")]))
    assert len(srv.requests) == 1
    assert srv.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in str(err.value)


def test_retries_give_up_with_backend_error() -> None:
    with FakePooling() as srv:
        srv.failures.extend([(502, {})] * 10)
        with pytest.raises(BackendError, match="HTTP 502"):
            asyncio.run(score_and_close(endpoint(srv), [conv("q", "1")]))
    assert len(srv.requests) == FAST.max_retries + 1


def test_unreachable_server_is_a_backend_error() -> None:
    with FakePooling() as srv:
        url = srv.base_url
    ep = VLLMRewardEndpoint(base_url=url, model="rm", retry=FAST)
    with pytest.raises(BackendError, match="cannot reach"):
        asyncio.run(score_and_close(ep, [conv("q", "1")]))


def test_more_than_one_value_is_a_clear_error() -> None:
    with FakePooling() as srv, pytest.raises(BackendError, match="one scalar"):
        asyncio.run(score_and_close(endpoint(srv), [conv("q", "1 vector")]))
    assert len(srv.requests) == 1


def test_missing_key_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_TEST_NO_KEY", raising=False)
    with pytest.raises(ArenaError, match="ARENA_TEST_NO_KEY"):
        VLLMRewardEndpoint(base_url="http://127.0.0.1:9/v1", model="rm", api_key_env="ARENA_TEST_NO_KEY")


def _dead_port() -> int:
    """A local port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Sets HTTP_PROXY (and nothing else of the proxy variables) and a ~/.netrc with a default login."""
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".netrc").write_text("default login netrc-user password netrc-secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    return lambda url: monkeypatch.setenv("HTTP_PROXY", url)


def test_loopback_pooling_server_is_never_proxied(proxy_env: Any) -> None:
    proxy_env(f"http://127.0.0.1:{_dead_port()}")  # a proxy that is down: used, every request would fail
    with FakePooling() as srv:
        got = asyncio.run(score_and_close(endpoint(srv), [conv("q", "2.5"), conv("q", "-1 nested")]))
    assert got == [2.5, -1.0] and len(srv.requests) == 2
    assert not any("authorization" in {k.lower() for k in h} for h in srv.headers)  # no netrc login sent


class ProxyStandIn(LocalServer):
    """A forward proxy stand-in on 127.0.0.1: records the request line and headers, answers as /pooling would."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        stand_in = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                stand_in.paths.append(self.path)
                stand_in.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.endswith("/pooling"):
                    self._json(200, FakePooling.response(body))
                else:  # the template lookup (/tokenize): a server without it
                    self._json(404, {"error": {"message": "no such route"}})

        super().__init__(Handler, poll_s=0.02)


def test_other_hosts_go_through_the_environment_proxy(proxy_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    monkeypatch.setenv("ARENA_TEST_RM_KEY", "sk-proxy-test")
    with ProxyStandIn() as proxy:
        port = proxy.server.server_address[1]
        proxy_env(f"http://puser:ppass@127.0.0.1:{port}")
        ep = VLLMRewardEndpoint(base_url="http://reward-host.invalid/v1", model="rm", retry=FAST,
                                api_key_env="ARENA_TEST_RM_KEY")
        got = asyncio.run(score_and_close(ep, [conv("q", "0.5")]))
    assert got == [0.5]
    # every request (the template lookup, then the scoring) in the absolute form a forward proxy gets
    assert proxy.paths == ["http://reward-host.invalid/tokenize", "http://reward-host.invalid/pooling"]
    sent = proxy.headers[-1]
    assert sent["proxy-authorization"] == "Basic " + base64.b64encode(b"puser:ppass").decode()
    assert sent["authorization"] == "Bearer sk-proxy-test"  # the key, not the netrc login


# ---------------------------------------------------------------- reward -> preference -> verdict

def test_preference_probability_hand_worked() -> None:
    assert preference_probability(1.0, 1.0) == 0.5
    assert preference_probability(2.0, 1.0) == pytest.approx(1 / (1 + math.exp(-1)))  # 0.7311
    assert preference_probability(1.0, 2.0) == pytest.approx(0.2689414, abs=1e-7)
    assert preference_probability(3.0, 1.0, scale=2.0) == pytest.approx(0.7310586, abs=1e-7)
    assert preference_probability(1000.0, -1000.0) == 1.0  # no overflow either way
    assert preference_probability(-1000.0, 1000.0) == pytest.approx(0.0, abs=1e-300)
    with pytest.raises(ValueError):
        preference_probability(1.0, 0.0, scale=0.0)


def test_reward_verdict_hand_worked() -> None:
    assert reward_verdict(0.7311, 0.0) == "model_a"
    assert reward_verdict(0.2689, 0.0) == "model_b"
    assert reward_verdict(0.5, 0.0) == "tie"
    assert reward_verdict(0.55, 0.1) == "tie"
    assert reward_verdict(0.45, 0.1) == "tie"
    assert reward_verdict(0.61, 0.1) == "model_a"
    assert reward_verdict(0.39, 0.1) == "model_b"


# ---------------------------------------------------------------- the reward model as the run's judge

def test_reward_model_judges_a_pairwise_run_with_soft_outcomes(tmp_path: Path, tiny_rm: Path) -> None:
    """`judge.kind: reward-model` through `arena run`: one order, prob_a = sigmoid(r_A - r_B), ties in the band."""
    from arena.config import load_config
    from arena.pipeline import run_pipeline
    from conftest import QUESTIONS, read_jsonl, write_config

    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    cands = [{"name": n, "backend": "demo", "seed": i, "verbosity": v} for i, (n, v) in
             enumerate([("short", 0.0), ("long", 1.0), ("mid", 0.5)])]
    judge = {"mode": "pairwise", "kind": "reward-model",
             "reward": {"source": "local", "path": str(tiny_rm), "tie_band": 0.01}}
    cfg = write_config(tmp_path, qfile, cands, judge=judge, rating={"bootstrap": 20})
    ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    recs = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert len(recs) == 3 * 5 and {r["order"] for r in recs} == {"AB"}  # 3 pairs x 5 turns, one order
    scorer = LocalRewardModel(tiny_rm)
    from judges.reward_judge import conversation
    from judges.tasks import JudgeTask
    from arena.questions import Question

    rec = next(r for r in recs if r["question_id"] == "q2")
    answers = {m: read_jsonl(tmp_path / "ws" / "answers" / f"{m}.jsonl") for m in ("short", "long", "mid")}
    text = {m: next(a for a in rows if a["question_id"] == "q2")["turns"] for m, rows in answers.items()}
    q2 = Question("q2", QUESTIONS[1]["turns"], "math")
    ta = JudgeTask(q2, 1, rec["model_a"], rec["model_b"], "AB", tuple(text[rec["model_a"]]), tuple(text[rec["model_b"]]))
    ra, rb = asyncio.run(scorer.score([conversation(ta, ta.answers_a), conversation(ta, ta.answers_b or ())]))
    assert rec["prob_a"] == pytest.approx(preference_probability(ra, rb))
    battles = read_jsonl(ctx.run.path / "battles.jsonl")
    assert len(battles) == 15 and all(0.0 < b["prob_a"] < 1.0 for b in battles)
    for b in battles:
        expected = "model_a" if b["prob_a"] > 0.51 else "model_b" if b["prob_a"] < 0.49 else "tie"
        assert b["winner"] == expected
    assert (ctx.run.path / "leaderboard.json").exists()
