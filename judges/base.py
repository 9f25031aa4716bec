"""The judge interface: one async `judge` call per task, returning a verdict in position terms."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from arena.backends.base import Completion
from judges.tasks import JudgeTask
from judges.templates import RenderedPrompt


@dataclass
class JudgeCall:
    """The outcome of one judge call. `winner` is a position ("A", "B", "tie"); `prob_a` is for position A."""

    status: str  # ok | unparsed | error
    label: str | None = None
    winner: str | None = None
    strength: int = 1
    score: float | None = None
    prob_a: float | None = None
    raw: str = ""
    followup_raw: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    endpoint_down: bool = False
    usage_estimated: bool = False
    truncated: bool = False  # a judge reply was cut at max_tokens (finish_reason "length")
    input_chars: int | None = None  # characters the judge read when it is not the rendered prompt (reward models)

    def add_usage(self, reply: Completion) -> None:
        """Add one backend reply's tokens and latency to this call's totals."""
        self.prompt_tokens += reply.prompt_tokens or 0
        self.completion_tokens += reply.completion_tokens or 0
        self.latency_s += reply.latency_s
        self.truncated = self.truncated or reply.finish_reason == "length"


class Judge(Protocol):
    """An LLM judge on an OpenAI-compatible endpoint, a reward model, or the dry-run judge."""

    name: str
    endpoint: str
    concurrency: int
    dry_run: bool

    def identity(self) -> dict[str, Any]:
        """What makes this judge's verdicts differ (enters the cache key)."""
        ...

    async def judge(self, task: JudgeTask, prompt: RenderedPrompt, kind: str) -> JudgeCall:
        """Judge one task."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...
