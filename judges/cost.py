"""Token estimates and cost: prices per million tokens from the config, calibrated by past calls."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from arena.config import PriceConfig

DEFAULT_CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD_TOKENS = 16  # chat-template tokens around one message (OpenAI adds 3-4, Llama/Qwen under 10)


def cost_usd(price: PriceConfig, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost of a call at the configured prices."""
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


def prompt_token_bound(texts: Iterable[str]) -> int:
    """A true upper bound on the prompt tokens of chat messages: one per UTF-8 byte (byte-level and
    byte-fallback tokenizers never make more), plus the chat template's tokens around each message."""
    sizes = [len(t.encode("utf-8")) for t in texts]
    return sum(sizes) + MESSAGE_OVERHEAD_TOKENS * (len(sizes) + 1)


def request_worst_cases(price: PriceConfig, messages: list[str], followup: str,
                        max_tokens: int) -> tuple[float, float]:
    """The most each request of one judgment can cost: the request, then a follow-up that resends it with the
    reply (at most max_tokens) and the follow-up text; each reply at most max_tokens. The second is the larger."""
    first = prompt_token_bound(messages)
    second = first + max_tokens + prompt_token_bound([followup])
    return cost_usd(price, first, max_tokens), cost_usd(price, second, max_tokens)


def judgment_worst_case(price: PriceConfig, messages: list[str], followup: str, max_tokens: int) -> float:
    """The most one judgment can cost when no attempt is cut off in flight: its request and its follow-up."""
    return sum(request_worst_cases(price, messages, followup, max_tokens))


@dataclass
class TokenEstimator:
    """Estimates tokens from characters: 4 per token, or the ratio seen in this judge's earlier calls."""

    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN
    output_tokens: float = 400.0
    calibrated_from: int = 0
    capped_at: int | None = None  # output tokens per call were capped at the judge's max_tokens

    @classmethod
    def from_history(cls, records: list[dict], default_output: int,
                     max_tokens: int | None = None) -> "TokenEstimator":
        """Calibrate on cached judgments that recorded both prompt characters and real token counts; output
        tokens per call never above `max_tokens` (a reply cannot be longer)."""
        usable = [r for r in records if r.get("prompt_chars") and r.get("prompt_tokens") and not r.get("dry_run")
                  and not r.get("followup_raw") and not r.get("usage_estimated")]
        est = cls(output_tokens=float(default_output))
        if usable:
            chars = sum(r["prompt_chars"] for r in usable)
            tokens = sum(r["prompt_tokens"] for r in usable)
            out = sum(r.get("completion_tokens") or 0 for r in usable) / len(usable)
            est = cls(chars_per_token=chars / tokens, output_tokens=out or float(default_output),
                      calibrated_from=len(usable))
        if max_tokens is not None and est.output_tokens > max_tokens:
            est.output_tokens, est.capped_at = float(max_tokens), max_tokens
        return est

    def prompt_tokens(self, chars: int) -> int:
        """Estimated prompt tokens for a prompt of `chars` characters."""
        return math.ceil(chars / self.chars_per_token)

    def describe(self) -> str:
        """How the estimate was made, for the dry-run report."""
        out = f"{self.output_tokens:.0f} output tokens per call"
        if self.capped_at is not None:
            out += " (judge.max_tokens)"
        if self.calibrated_from:
            return (f"calibrated on {self.calibrated_from} earlier calls of this judge: "
                    f"{self.chars_per_token:.2f} characters per token, {out}")
        if self.capped_at is None:
            out += " (judge.expected_output_tokens)"
        return f"{self.chars_per_token:g} characters per token, {out}; no earlier calls of this judge to calibrate on"
