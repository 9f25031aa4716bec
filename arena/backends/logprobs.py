"""Log-likelihood backends: their common interface, and the token bookkeeping they share.

A backend scores text two ways: the log-probability of a continuation given a context (multiple choice by
option likelihood) and the log-probabilities of given token ids (rolling perplexity windows)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, islice, repeat
from operator import add, sub
from typing import Any, Protocol

from arena.errors import ArenaError


@dataclass(frozen=True)
class ContinuationLL:
    """log P(continuation | context), summed over the continuation's tokens, and how many tokens that was."""

    logprob: float
    tokens: int
    straddled: bool = False  # the first continuation token also covered the end of the context


@dataclass(frozen=True)
class WindowInfo:
    """What rolling windows need: the longest sequence the model takes and the token that starts a text."""

    max_length: int
    prefix_id: int | None  # BOS when the tokenizer adds one; None: a text's first token is not scored


class NoPromptLogprobs(ArenaError):
    """The backend cannot return log-probabilities of prompt tokens (a chat-only API, or no /tokenize)."""


class LogprobModel(Protocol):
    """A model that returns log-probabilities of text it is given (not text it writes)."""

    name: str
    endpoint: str
    concurrency: int
    demo: bool

    async def continuation_logprob(self, context: str, continuation: str) -> ContinuationLL:
        """log P(continuation | context) with the context and continuation tokenized together."""
        ...

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without special tokens."""
        ...

    async def window_info(self) -> WindowInfo:
        """Context length and prefix token for rolling windows."""
        ...

    async def token_logprobs(self, tokens: list[int], n_scored: int) -> list[float]:
        """log P of each of the last `n_scored` tokens given all the tokens before it."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


def continuation_token_indices(spans: list[tuple[int, int] | None], ctx_chars: int) -> tuple[list[int], bool]:
    """Which prompt tokens belong to the continuation, from each token's (start, end) characters in the prompt.

    A token belongs to the continuation when it covers any character at or after `ctx_chars`; a token that
    starts inside the context but reaches past it (the tokenizer merged across the boundary) is counted with
    the continuation and reported as straddling. Tokens without a span (special tokens) are context."""
    picked = [i for i, s in enumerate(spans) if s is not None and s[1] > s[0] and s[1] > ctx_chars]
    straddled = bool(picked) and spans[picked[0]][0] < ctx_chars  # type: ignore[index]
    return picked, straddled


def spans_from_offsets(tokens: list[str], offsets: list[int] | None, prompt: str) -> list[tuple[int, int] | None]:
    """Character spans in `prompt` of echoed prompt tokens, from the server's text offsets (or token lengths).

    Offsets count the characters of the decoded tokens, so a BOS token's own text ('<s>') shifts them all:
    the shift is what the echoed tokens add beyond the prompt's length, taken off every offset."""
    if offsets is None or len(offsets) != len(tokens):
        offsets, pos = [], 0
        for tok in tokens:
            offsets.append(pos)
            pos += len(tok)
    if not tokens:
        return []
    shift = offsets[-1] + len(tokens[-1]) - len(prompt)
    spans: list[tuple[int, int] | None] = []
    for tok, off in zip(tokens, offsets):
        start, end = off - shift, off - shift + len(tok)
        spans.append((start, end) if end > 0 else None)  # wholly before the prompt text: a special token
    return spans


def continuation_tokens(tokens: Sequence[Any], offsets: Sequence[Any] | None, prompt: str,
                        ctx_chars: int) -> tuple[list[int], bool]:
    """`continuation_token_indices(spans_from_offsets([str(t) for t in tokens], offsets, prompt), ctx_chars)`,
    the same answer for every input, found from the end of the prompt: only the continuation's tokens and the
    one before them are read one by one (the context costs one C-level pass, not Python work per token)."""
    n = len(tokens)
    if not n:
        return [], False
    limit = max(ctx_chars, 0)  # a span ending at or before 0 lies before the prompt text: never picked
    picked: list[int] = []
    first_start = 0
    if offsets is None or len(offsets) != n:  # spans from token lengths: ends never decrease, stop at the limit
        end = len(prompt)
        for i in range(n - 1, -1, -1):
            if end <= limit:
                break
            size = len(str(tokens[i]))
            if size:
                picked.append(i)
                first_start = end - size
            end -= size
    else:
        try:
            shift = offsets[-1] + len(str(tokens[-1])) - len(prompt)
            stop = 0  # the tokens before it are not read one by one
            for i, off, tok in zip(range(n - 1, -1, -1), reversed(offsets), reversed(tokens)):
                start = off - shift
                end = start + len(str(tok))
                if end > start:  # not an empty token
                    if end > limit:
                        picked.append(i)
                    else:
                        stop = i
                        break
            # offsets need not grow: if a token before the stop reaches past the limit, read every token
            exact = stop == 0 or _contiguous(tokens, offsets, stop, shift) or max(
                map(add, map(sub, islice(offsets, stop), repeat(shift)), map(len, map(str, islice(tokens, stop))))
            ) <= limit
            if picked:
                first_start = offsets[picked[-1]] - shift
        except TypeError:  # offsets that are not numbers: the plain path fails as it always did
            exact = False
        if not exact:
            spans = spans_from_offsets([str(t) for t in tokens], list(offsets), prompt)
            return continuation_token_indices(spans, ctx_chars)
    picked.reverse()
    return picked, bool(picked) and first_start < ctx_chars


_EXACT = 2 ** 51  # integers this small stay exact through a float's subtraction and addition


def _contiguous(tokens: Sequence[Any], offsets: Sequence[Any], stop: int, shift: Any) -> bool:
    """Whether each of the first `stop` tokens (all text) ends where the next one starts (offsets[i] +
    len(token i) == offsets[i + 1], integers): then no token before the stop token reaches past its start,
    which lies before the context's end, so the scan's answer is exact. A few C-level passes (what a server's
    offsets usually are); False sends continuation_tokens to its general check, which also handles tokens that
    are not text and offsets that go back or are floats."""
    first = offsets[0]
    if type(shift) is not int or type(first) is not int or not -_EXACT < first < _EXACT or not -_EXACT < shift < _EXACT:
        return False
    try:
        "".join(islice(tokens, stop))  # a TypeError unless every token is text (len(token) == len(str(token)))
    except TypeError:
        return False
    return list(accumulate(map(len, islice(tokens, stop)), initial=first)) == offsets[:stop + 1]
