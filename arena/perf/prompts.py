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


def check_input_tokens(input_tokens: int) -> int:
    """`input_tokens`, refused (bad input) below 1."""
    if input_tokens < 1:
        raise ArenaError(f"--input-tokens must be at least 1 (got {input_tokens})",
                         hint="give the prompt length in tokens, e.g. --input-tokens 256")
    return input_tokens


def synthetic_prompts(count: int, input_tokens: int, seed: int) -> list[str]:
    """`count` seeded synthetic prompts of about `input_tokens` tokens each."""
    check_input_tokens(input_tokens)
    rng = random.Random(seed)
    return [synthetic_prompt(i, input_tokens, rng) for i in range(count)]


class SyntheticPrompts:
    """Endless seeded synthetic prompts, made on demand: prompt i is the same for the same seed, and no two
    are alike (each opens with its own number, so a prefix cache matches none of it), however many requests a
    test sends. The words are a window into one seeded word list: a few microseconds a prompt, also at
    thousands of tokens (drawing every word anew cost ~1 ms at 4096 tokens, on the sending event loop)."""

    WINDOWS = 1009  # word orders (prime): prompt i starts at a different place of the list

    def __init__(self, input_tokens: int, seed: int) -> None:
        self.input_tokens = check_input_tokens(input_tokens)
        self.seed = seed
        rng = random.Random(seed)
        self._length = max(0, input_tokens - 2)  # the number and the colon take about two tokens
        self._words = [rng.choice(_WORDS) for _ in range(self._length + self.WINDOWS)]

    def __getitem__(self, index: int) -> str:
        start = (index * 7919) % self.WINDOWS
        return " ".join([f"{index}:", *self._words[start:start + self._length]])


def question_prompts(path: Path, fmt: str = "auto", categories: list[str] | None = None,
                     limit: int | None = None) -> list[str]:
    """The first turn of every question in a question file (any format `arena run` reads), with a config's
    category filter and limit applied as `arena run` applies them."""
    from arena.questions import load_questions

    questions = load_questions(Path(path), fmt, categories=categories or None, limit=limit)
    return [q.turns[0] for q in questions if q.turns and q.turns[0].strip()]


class RequestPlan:
    """Request i of a test: prompt i (of a question set: in a seeded shuffled order, cycling when the test
    sends more requests than there are questions) with its drawn output budget.

    `take()` hands out the test's requests in order, warm-up and every level alike, so no prompt is sent
    twice while there are unsent ones: a prefix-caching server (vLLM's default) would otherwise answer a
    level's repeated prompts from its cache and make later levels look faster."""

    def __init__(self, prompts: list[str] | SyntheticPrompts, budget: OutputBudget, seed: int,
                 system_prompt: str | None = None) -> None:
        if isinstance(prompts, SyntheticPrompts):
            self.prompts: list[str] | SyntheticPrompts = prompts
            self.distinct: int | None = None  # never repeats
        else:
            if not prompts:
                raise ArenaError("no prompts to send: the question set is empty")
            self.prompts = list(prompts)
            random.Random(seed).shuffle(self.prompts)
            self.distinct = len(self.prompts)
        self.budget = budget
        self.seed = seed
        self.system_prompt = system_prompt
        self.taken = 0

    def take(self) -> PerfRequest:
        """The next request of the test (a running number across warm-up and levels)."""
        index, self.taken = self.taken, self.taken + 1
        return self.request(index)

    def request(self, index: int) -> PerfRequest:
        """The request with this running number (the same number gives the same request)."""
        budget = self.budget
        max_tokens = budget.low if budget.low == budget.high else budget.draw(
            random.Random(self.seed * 1_000_003 + index))
        if self.distinct is None:
            prompt, repeat = self.prompts[index], False
        else:
            prompt, repeat = self.prompts[index % self.distinct], index >= self.distinct
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return PerfRequest(messages=messages, max_tokens=max_tokens, repeat=repeat)
