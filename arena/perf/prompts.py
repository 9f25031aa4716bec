"""Prompts of a load test: a question set's first turns, or seeded synthetic prompts of a given length;
output budgets fixed or sampled (seeded)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from arena.errors import ArenaError
from arena.perf.client import PerfRequest

# Common short English words: each is one token in the usual BPE vocabularies (GPT, Llama, Qwen), with the
# leading space, so a prompt of N of them is close to N tokens. The server's usage gives the exact count.
_WORDS = (
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
    "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what",
    "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do",
    "how", "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so", "some",
    "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see",
    "number", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil",
    "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part"
)


@dataclass(frozen=True)
class OutputBudget:
    """max_tokens of each request: fixed (low == high) or drawn uniformly from [low, high], seeded."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> OutputBudget:
        """'128' (fixed) or '64:256' (sampled uniformly per request)."""
        parts = str(text).split(":")
        try:
            low, high = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (0, -1)
        except ValueError:
            low, high = 0, -1
        if low < 1 or high < low:
            raise ArenaError(f"--max-tokens {text!r}: give a whole number >= 1 (e.g. 128) or a range LOW:HIGH "
                             "(e.g. 64:256)")
        return cls(low, high)

    def draw(self, rng: random.Random) -> int:
        """One request's max_tokens."""
        return self.low if self.low == self.high else rng.randint(self.low, self.high)

    def label(self) -> str:
        """'128' or '64:256'."""
        return str(self.low) if self.low == self.high else f"{self.low}:{self.high}"


def synthetic_prompt(index: int, input_tokens: int, rng: random.Random) -> str:
    """A prompt of about `input_tokens` tokens; a distinct numbered opening keeps prefix caches honest."""
    head = f"{index}:"
    words = [rng.choice(_WORDS) for _ in range(max(0, input_tokens - 2))]
    return " ".join([head, *words])


def synthetic_prompts(count: int, input_tokens: int, seed: int) -> list[str]:
    """`count` seeded synthetic prompts of about `input_tokens` tokens each."""
    if input_tokens < 1:
        raise ArenaError("--input-tokens must be at least 1")
    rng = random.Random(seed)
    return [synthetic_prompt(i, input_tokens, rng) for i in range(count)]


def question_prompts(path: Path, fmt: str = "auto") -> list[str]:
    """The first turn of every question in a question file (any format `arena run` reads)."""
    from arena.questions import load_questions

    questions = load_questions(Path(path), fmt)
    return [q.turns[0] for q in questions if q.turns and q.turns[0].strip()]


class RequestPlan:
    """Request i of a test: prompt i (cycling, in a seeded shuffled order) with its drawn output budget."""

    def __init__(self, prompts: list[str], budget: OutputBudget, seed: int,
                 system_prompt: str | None = None) -> None:
        if not prompts:
            raise ArenaError("no prompts to send: the question set is empty")
        self.prompts = list(prompts)
        random.Random(seed).shuffle(self.prompts)
        self.budget = budget
        self.seed = seed
        self.system_prompt = system_prompt

    def request(self, index: int) -> PerfRequest:
        """The request with this running number (the same number gives the same request)."""
        budget = self.budget
        max_tokens = budget.low if budget.low == budget.high else budget.draw(
            random.Random(self.seed * 1_000_003 + index))
        messages = [{"role": "user", "content": self.prompts[index % len(self.prompts)]}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return PerfRequest(messages=messages, max_tokens=max_tokens)
