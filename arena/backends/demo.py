"""Offline demo backend: deterministic, plainly labelled placeholder text; no model is involved."""
from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time

from arena.backends.base import Completion, GenParams

DEMO_LABEL = "[DEMO TEXT - written by Arena's offline demo backend, not by a language model]"

_OPENERS = ["Here is a short take on this.", "Let me address the request step by step.",
            "A brief answer follows.", "This is how I would approach it."]
_POINTS = ["It restates the key terms of the request: {words}.",
           "It lists the main considerations in a sensible order.",
           "It gives one concrete example to ground the explanation.",
           "It points out a common mistake and how to avoid it.",
           "It closes with a one-line summary of the answer.",
           "It notes the assumptions it made about {words}."]


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _keywords(text: str, n: int = 3) -> str:
    words = [w for w in re.findall(r"[A-Za-z]{5,}", text)][:n]
    return ", ".join(w.lower() for w in words) or "the topic"


def demo_text(name: str, seed: int, quality: float, verbosity: float, messages: list[dict[str, str]],
              params: GenParams) -> str:
    """Deterministic demo answer to the last user message (same inputs, same text)."""
    prompt = messages[-1]["content"] if messages else ""
    turn = sum(1 for m in messages if m["role"] == "user")
    rng = _rng(name, seed, prompt, turn, params.temperature)
    n_points = max(1, round(1 + 4 * verbosity + rng.random()))
    kw = _keywords(prompt)
    lines = [DEMO_LABEL, "", rng.choice(_OPENERS)]
    picks = rng.sample(_POINTS, k=min(n_points, len(_POINTS)))
    bullet = "- " if quality > 0.5 else ""
    lines += [bullet + p.format(words=kw) for p in picks]
    if turn > 1:
        lines.append(f"(This follows up on my earlier answer, turn {turn - 1} of this conversation.)")
    text = "\n".join(lines)
    approx_chars = params.max_tokens * 4
    return text[:approx_chars]


def approx_tokens(text: str) -> int:
    """Rough token count (4 characters a token) for accounting on offline text."""
    return max(1, len(text) // 4)


class DemoBackend:
    """Writes canned, labelled text so that the pipeline runs anywhere with no model and no network."""

    def __init__(self, *, name: str, quality: float = 0.5, verbosity: float = 0.5, latency_s: float = 0.0,
                 seed: int = 0, concurrency: int = 16) -> None:
        self.name = name
        self.endpoint = f"demo://{name}"
        self.concurrency = concurrency
        self.quality, self.verbosity, self.latency_s, self.seed = quality, verbosity, latency_s, seed

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """Return the deterministic demo answer."""
        start = time.perf_counter()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        text = demo_text(self.name, self.seed, self.quality, self.verbosity, messages, params)
        prompt_tokens = sum(approx_tokens(m["content"]) for m in messages)
        elapsed = time.perf_counter() - start
        return Completion(text=text, finish_reason="stop", prompt_tokens=prompt_tokens,
                          completion_tokens=approx_tokens(text), latency_s=elapsed, ttft_s=elapsed,
                          extra={"demo": True})

    async def aclose(self) -> None:
        """Nothing to release."""
