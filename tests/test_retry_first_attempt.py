"""call_with_retries(failed=...) goes on from a first attempt its caller made (the log-likelihood path's fast
path awaits the request itself and enters the retry loop only when it raised): the same result, attempts,
on_retry calls and waits as the loop making every attempt itself; and CompletionsLogprobs over that fast path
against a real local server: what is retried, what is not, and how often the server is asked."""
from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from test_completions_logprobs_http import KEY, ScriptedCompletions, score

from arena.backends.logprobs import NoPromptLogprobs
from arena.backends.retry import HTTPStatusFailure, IncompleteReply, RetryPolicy, call_with_retries
from arena.errors import BackendError

POLICY = RetryPolicy(max_retries=3, base_delay_s=0.001, max_delay_s=0.004)


def _scripted(outcomes: list[Any]) -> tuple[Any, list[int]]:
    """fn() raising or returning the outcomes in turn; the list of calls it counted."""
    calls: list[int] = []

    async def fn() -> Any:
        calls.append(1)
        out = outcomes[len(calls) - 1]
        if isinstance(out, Exception):
            raise out
        return out
    return fn, calls


def _run(outcomes: list[Any], first_outside: bool) -> tuple[Any, list[tuple[int, str, float]], int]:
    """(result or the exception's repr, on_retry log, calls) of the loop over the outcomes; with
    first_outside the caller makes the first attempt and hands its failure to the loop."""
    log: list[tuple[int, str, float]] = []
    rest = outcomes[1:] if first_outside else outcomes
    fn, calls = _scripted(rest)

    async def go() -> Any:
        kw: dict[str, Any] = {}
        if first_outside:
            if not isinstance(outcomes[0], Exception):
                return outcomes[0], 1
            kw["failed"] = outcomes[0]
        return await call_with_retries(fn, POLICY, random.Random(7), lambda a, e, w: log.append((a, repr(e), w)),
                                       **kw)
    try:
        result: Any = asyncio.run(go())
    except Exception as exc:  # noqa: BLE001 - the failure itself is the compared outcome
        result = ("raised", repr(exc))
    return result, log, len(calls) + (1 if first_outside else 0)


SCRIPTS = {
    "ok at once": ["value"],
    "503 then ok": [HTTPStatusFailure(503, "busy"), "value"],
    "429 with Retry-After, an empty reply, then ok": [HTTPStatusFailure(429, "slow", {"retry-after": "0.002"}),
                                                       IncompleteReply("no choices"), "value"],
    "a 401 is not retried": [HTTPStatusFailure(401, "bad key"), "never reached"],
    "retries run out": [HTTPStatusFailure(500, "boom")] * 4 + ["never reached"],
    "a ValueError that is not JSON's is not retried": [ValueError("odd"), "never reached"],
}


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_a_first_attempt_made_outside_gives_what_the_loop_gives(name):
    outcomes = SCRIPTS[name]
    inside = _run(outcomes, first_outside=False)
    outside = _run(outcomes, first_outside=True)
    assert outside == inside  # result (or the same failure), attempts, on_retry calls with the same waits


def test_hand_worked_attempts_of_the_scripts():
    assert _run(SCRIPTS["503 then ok"], True)[0] == ("value", 2)
    assert _run(SCRIPTS["429 with Retry-After, an empty reply, then ok"], True)[0] == ("value", 3)
    result, log, calls = _run(SCRIPTS["retries run out"], True)
    assert result[0] == "raised" and "boom" in result[1] and calls == 4 and [a for a, _, _ in log] == [1, 2, 3]
    result, log, calls = _run(SCRIPTS["a 401 is not retried"], True)
    assert calls == 1 and log == [] and "bad key" in result[1]


def test_the_fast_path_is_retried_as_before_over_http():
    with ScriptedCompletions() as srv:  # two transient failures, then the echo reply
        srv.script.extend([(503, {"error": {"message": "busy"}}), (429, {"error": {"message": "slow"}})])
        got = score(srv.base_url)
    assert (got.logprob, got.tokens) == (-1.0, 2) and len(srv.auth) == 3


def test_a_reply_that_is_not_a_json_object_is_one_request_and_a_clear_error():
    with ScriptedCompletions() as srv:
        srv.script.append((200, ["not", "an", "object"]))
        with pytest.raises(BackendError, match="not a JSON object"):
            score(srv.base_url)
    assert len(srv.auth) == 1


def test_no_completions_route_is_no_prompt_logprobs_at_once():
    with ScriptedCompletions() as srv:
        srv.script.append((404, {"error": {"message": "no such route"}}))
        with pytest.raises(NoPromptLogprobs, match="HTTP 404 to an echo\\+logprobs request") as err:
            score(srv.base_url)
    assert len(srv.auth) == 1 and KEY not in str(err.value)
