"""The one interface every model backend implements: async `generate` on a chat transcript."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters of one request."""

    temperature: float = 0.7
    max_tokens: int = 1024
    top_p: float | None = None
    seed: int | None = None
    stream: bool = True
    accept_empty: bool = False  # benchmark items: an empty reply is the model's answer (scored wrong), not a failure

    def cache_fields(self) -> dict[str, Any]:
        """The parameters that change an answer (streaming and how an empty reply is taken do not)."""
        d = asdict(self)
        d.pop("stream")
        d.pop("accept_empty")
        return d


@dataclass
class Completion:
    """One model reply with its accounting."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None  # the thought a server's reasoning parser returned apart from the text


class ModelAPI(Protocol):
    """A chat model: OpenAI-compatible HTTP, vLLM (same client, launched server) or the demo backend."""

    name: str
    endpoint: str
    concurrency: int

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """Return the assistant's next message for `messages`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
