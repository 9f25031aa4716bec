"""Offline demo log-probabilities: seeded placeholders so log-likelihood tasks run with no model at all.

The numbers come from a seeded RNG keyed on the candidate and the text, not from a language model; every
result they produce is marked `demo` in the bench files. Tokens are whitespace-led words ('\\s*\\S+')."""
from __future__ import annotations

import hashlib
import random
import re

from arena.backends.logprobs import ContinuationLL, WindowInfo, continuation_token_indices

_PIECE = re.compile(r"\s*\S+|\s+$")
DEMO_VOCAB = 50_000
DEMO_MAX_LENGTH = 256
DEMO_BOS = 0


def _pieces(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _PIECE.finditer(text)]


def _token_id(piece: str) -> int:
    return 1 + int(hashlib.sha256(piece.encode()).hexdigest()[:8], 16) % (DEMO_VOCAB - 1)


class DemoLogprobs:
    """Deterministic placeholder log-probabilities in [-6, -0.5] per token (same inputs, same numbers)."""

    demo = True

    def __init__(self, *, name: str, seed: int = 0) -> None:
        self.name, self.endpoint, self.concurrency = name, f"demo://{name}", 16
        self.seed = seed

    def _value(self, *key: object) -> float:
        digest = hashlib.sha256("\x1f".join(map(str, (self.name, self.seed, *key))).encode()).hexdigest()
        return -0.5 - 5.5 * random.Random(int(digest[:16], 16)).random()

    async def continuation_logprob(self, context: str, continuation: str) -> ContinuationLL:
        """Sum of seeded placeholder values over the continuation's words."""
        prompt = context + continuation
        spans = _pieces(prompt)
        picked, straddled = continuation_token_indices(list(spans), len(context))
        total = sum(self._value(prompt[: spans[i][0]], prompt[slice(*spans[i])]) for i in picked)
        return ContinuationLL(total, len(picked), straddled)

    async def tokenize(self, text: str) -> list[int]:
        """Hashed ids of the text's whitespace-led words."""
        return [_token_id(text[a:b]) for a, b in _pieces(text)]

    async def window_info(self) -> WindowInfo:
        """Short demo windows so the rolling path is exercised; a pseudo BOS id 0."""
        return WindowInfo(DEMO_MAX_LENGTH, DEMO_BOS)

    async def token_logprobs(self, tokens: list[int], n_scored: int) -> list[float]:
        """A seeded value per scored token, keyed on the token and the one before it."""
        first = len(tokens) - n_scored
        return [self._value(tokens[i - 1], tokens[i], i) for i in range(first, len(tokens))]

    async def aclose(self) -> None:
        """Nothing to release."""
