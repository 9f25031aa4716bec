"""The log-likelihood fast paths give the same answers as the plain ones on random inputs: the scan from the
end of the prompt (continuation_tokens) against spans for every token (spans_from_offsets +
continuation_token_indices), the whole reply -> ContinuationLL step against the way it was computed before,
the pre-serialised echo request against json.dumps of its dict, and the one-task-per-option scorer against
score_item per item."""
from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arena.backends.completions_logprobs import CompletionsLogprobs, _prompt_part, continuation_ll, json_body
from arena.backends.logprobs import (
    ContinuationLL,
    NoPromptLogprobs,
    continuation_token_indices,
    continuation_tokens,
    spans_from_offsets,
)
from arena.bench.config import BenchTask
from arena.bench.items import BenchItem, LoadResult
from arena.bench.loglik import argmax, score_item
from arena.bench.logprob_run import score_items
from arena.bench.tasks import LoadedTask
from arena.errors import BackendError

TEXT = st.text(alphabet="ab <>\n", max_size=4)
TOKEN = st.one_of(TEXT, TEXT, TEXT, st.integers(-5, 50), st.none())  # a server may send a number or null
NUMBER = st.one_of(st.integers(-10, 60), st.floats(-10, 60, allow_nan=False), st.just(math.nan), st.just(1e17))


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except (TypeError, IndexError, NoPromptLogprobs) as exc:  # the same failure counts as the same answer
        return type(exc).__name__


def _plain(tokens: list[Any], offsets: list[Any] | None, prompt: str, ctx: int) -> tuple[list[int], bool]:
    return continuation_token_indices(spans_from_offsets([str(t) for t in tokens], offsets, prompt), ctx)


@st.composite
def echoed(draw: st.DrawFn) -> tuple[list[Any], list[Any] | None, str, int]:
    """Tokens, offsets (None, too short, as a server counts them from a BOS token, or arbitrary: unordered,
    floats, NaN, a null), the prompt and the context's length (also past either end)."""
    tokens = draw(st.lists(TOKEN, max_size=9))
    texts = [str(t) for t in tokens]
    way = draw(st.sampled_from(["none", "short", "cumulative", "arbitrary", "with-null"]))
    if way == "none":
        offsets = None
    elif way == "short":
        offsets = list(range(max(0, len(tokens) - 1)))
    elif way == "cumulative":
        start = draw(st.integers(0, 4))
        offsets = [start + sum(len(t) for t in texts[:i]) for i in range(len(tokens))]
    else:
        offsets = draw(st.lists(NUMBER, min_size=len(tokens), max_size=len(tokens)))
        if way == "with-null" and offsets:
            offsets[draw(st.integers(0, len(offsets) - 1))] = None
    prompt = draw(st.one_of(st.just("".join(texts)), TEXT, st.text(alphabet="ab ", max_size=30)))
    ctx = draw(st.integers(-3, len(prompt) + 3))
    return tokens, offsets, prompt, ctx


@settings(max_examples=600, deadline=None)
@given(echoed())
def test_scan_from_the_end_equals_spans_for_every_token(case):
    tokens, offsets, prompt, ctx = case
    assert _outcome(continuation_tokens, tokens, offsets, prompt, ctx) == _outcome(_plain, tokens, offsets, prompt, ctx)


def test_scan_examples_by_hand():
    prompt = "Answer: Paris"
    # a BOS token shifts the server's offsets by its own length; ' Paris' is the continuation after 7 characters
    assert continuation_tokens(["<s>", "Answer", ":", " Paris"], [0, 3, 9, 10], prompt, 7) == ([3], False)
    # a token merged across the boundary counts with the continuation and is reported as straddling
    assert continuation_tokens(["Answer", ": Par", "is"], [0, 6, 11], prompt, 7) == ([1, 2], True)
    # no offsets: spans from token lengths
    assert continuation_tokens(["Answer:", " Paris"], None, prompt, 7) == ([1], False)
    # offsets that go back: a token before the stop reaching past the boundary is still found
    assert continuation_tokens(["Answer", ":", " Paris", "x"], [0, 10, 0, 12], prompt, 7) == \
        _plain(["Answer", ":", " Paris", "x"], [0, 10, 0, 12], prompt, 7)


def _old_continuation(choice: dict[str, Any], usage: dict[str, Any], prompt: str, ctx: int) -> ContinuationLL:
    """As it was computed before the scan: every prompt token made text and given a span up front."""
    raw, logprobs, offsets = _prompt_part(choice, usage, "m")
    tokens = [str(t) for t in raw]
    picked, straddled = continuation_token_indices(spans_from_offsets(tokens, offsets, prompt), ctx)
    values = [logprobs[i] for i in picked]
    if not picked or any(v is None for v in values):
        raise NoPromptLogprobs("none")
    return ContinuationLL(float(sum(values)), len(picked), straddled)


def _new_continuation(choice: dict[str, Any], usage: dict[str, Any], prompt: str, ctx: int) -> ContinuationLL:
    return continuation_ll(*_prompt_part(choice, usage, "m"), prompt, ctx, "m")


@settings(max_examples=400, deadline=None)
@given(echoed(), st.data())
def test_reply_to_loglikelihood_equals_the_former_computation(case, data):
    tokens, offsets, prompt, ctx = case
    values = data.draw(st.lists(st.one_of(st.floats(-30, 0), st.none()), min_size=max(0, len(tokens) - 2),
                                max_size=len(tokens) + 2))
    usage = data.draw(st.fixed_dictionaries({}, optional={"prompt_tokens": st.integers(-2, 12),
                                                         "completion_tokens": st.integers(-1, 3)}))
    choice = {"logprobs": {"tokens": tokens, "token_logprobs": values, "text_offset": offsets}}
    old = _outcome(_old_continuation, choice, usage, prompt, ctx)
    new = _outcome(_new_continuation, choice, usage, prompt, ctx)
    assert new == old  # the same floats, summed in the same order: equal, not approximately equal


@given(st.one_of(st.text(max_size=40), st.lists(st.integers(0, 10 ** 6), max_size=20)))
@settings(max_examples=150, deadline=None)
def test_pre_serialised_echo_request_is_json_dumps_of_its_dict(prompt):
    for extra in ({}, {"prompt_logprobs": 0, "top_k": 5}, {"model": "other", "logprobs": 5}, {"prompt": "set"},
                  {"note": "\x00arena-prompt\x00"}):
        model = CompletionsLogprobs(name="m", model="mod\"el", base_url="http://127.0.0.1:9/v1", api_key="k",
                                    extra_body=extra)
        body = model._echo_body(prompt)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        assert raw == json.dumps(model._echo_dict(prompt)).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(-3, 3), st.sampled_from([-1.0, 0.0, 1.0, math.nan, -math.inf])), max_size=7))
def test_argmax_is_the_first_largest_as_a_plain_loop_finds_it(values):
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    assert argmax(values) == best


JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=4), JSON, max_size=4), st.sampled_from(["utf-8", "utf-16", "utf-16-le",
                                                                                 "utf-32", "utf-8-sig"]))
def test_json_body_reads_what_json_loads_reads(obj, encoding):
    raw = json.dumps(obj, ensure_ascii=False).encode(encoding, "surrogatepass")
    assert json_body(raw) == json.loads(raw)


class ScriptedModel:
    """An in-memory log-likelihood model: a fixed log-probability per continuation text; continuations
    listed in `fail` raise a backend error."""

    name, endpoint, concurrency, demo = "scripted", "memory", 3, False

    def __init__(self, fail: set[str]) -> None:
        self.fail = fail
        self.calls = 0

    async def continuation_logprob(self, context: str, continuation: str) -> ContinuationLL:
        self.calls += 1
        await asyncio.sleep(0.001 * (len(continuation) % 3))  # replies arrive out of order
        if continuation in self.fail:
            raise BackendError(f"scripted failure for {continuation!r}")
        return ContinuationLL(-float(sum(map(ord, continuation)) % 17) - len(context) / 10, len(continuation))

    async def aclose(self) -> None:
        pass


def _items() -> list[BenchItem]:
    return [BenchItem(f"q{i}", f"Question {i}?", "ABC"[i % 3], [("A", f"red {i}"), ("B", f"blue {i * 7}"),
                                                                  ("C", f"green {i % 4}")]) for i in range(12)]


def test_one_task_per_option_scores_items_as_score_item_does():
    items = _items()
    task = LoadedTask(task=BenchTask(name="t", kind="choice", path=Path("t.jsonl"), method="loglikelihood"),
                      kind="choice", format="arc", data=LoadResult(items=items))

    async def both() -> tuple[list, list, list]:
        per_item = [await score_item(ScriptedModel(set()), it) for it in items]
        scored, errors = await score_items(ScriptedModel({" blue 21", " red 5"}), task, None)
        clean, no_errors = await score_items(ScriptedModel(set()), task, None)
        assert no_errors == []
        return per_item, clean, [scored, errors]

    per_item, clean, (scored, errors) = asyncio.run(both())
    assert clean == per_item
    assert [s is None for s in scored] == [i in (3, 5) for i in range(12)]
    assert [s for i, s in enumerate(scored) if i not in (3, 5)] == [s for i, s in enumerate(per_item) if i not in (3, 5)]
    assert errors == ["t/q3: scripted failure for ' blue 21'", "t/q5: scripted failure for ' red 5'"]
