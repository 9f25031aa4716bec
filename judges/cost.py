"""Token estimates and cost: prices per million tokens from the config, calibrated by past calls."""
from __future__ import annotations

import math
from dataclasses import dataclass

from arena.config import PriceConfig

DEFAULT_CHARS_PER_TOKEN = 4.0


def cost_usd(price: PriceConfig, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost of a call at the configured prices."""
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


@dataclass
class TokenEstimator:
    """Estimates tokens from characters: 4 per token, or the ratio seen in this judge's earlier calls."""

    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN
    output_tokens: float = 400.0
    calibrated_from: int = 0

    @classmethod
    def from_history(cls, records: list[dict], default_output: int) -> "TokenEstimator":
        """Calibrate on cached judgments that recorded both prompt characters and real token counts."""
        usable = [r for r in records if r.get("prompt_chars") and r.get("prompt_tokens") and not r.get("dry_run")
                  and not r.get("followup_raw") and not r.get("usage_estimated")]
        if not usable:
            return cls(output_tokens=float(default_output))
        chars = sum(r["prompt_chars"] for r in usable)
        tokens = sum(r["prompt_tokens"] for r in usable)
        out = sum(r.get("completion_tokens") or 0 for r in usable) / len(usable)
        return cls(chars_per_token=chars / tokens, output_tokens=out or float(default_output),
                   calibrated_from=len(usable))

    def prompt_tokens(self, chars: int) -> int:
        """Estimated prompt tokens for a prompt of `chars` characters."""
        return math.ceil(chars / self.chars_per_token)

    def describe(self) -> str:
        """How the estimate was made, for the dry-run report."""
        if self.calibrated_from:
            return (f"calibrated on {self.calibrated_from} earlier calls of this judge: "
                    f"{self.chars_per_token:.2f} characters per token, {self.output_tokens:.0f} output tokens per call")
        return (f"{self.chars_per_token:g} characters per token, {self.output_tokens:.0f} output tokens per call "
                "(judge.expected_output_tokens); no earlier calls of this judge to calibrate on")
