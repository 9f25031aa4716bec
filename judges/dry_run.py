"""The dry-run judge: no call is made; verdicts come from an RNG seeded by (seed, question, models, order)."""
from __future__ import annotations

from typing import Any

from judges.base import JudgeCall
from judges.tasks import JudgeTask, seeded_rng
from judges.templates import RenderedPrompt
from judges.verdicts import parse_verdict

_LABELS = {"3way": ["A", "B", "C"], "5way": ["A>>B", "A>B", "A=B", "B>A", "B>>A"]}


class DryRunJudge:
    """Stands in for the real judge: reproducible verdicts of every kind (ties included), zero requests."""

    dry_run = True
    endpoint = "dry-run://"
    concurrency = 64

    def __init__(self, real_name: str, real_identity: dict[str, Any], seed: int = 0) -> None:
        self.name = "dry-run"
        self.real_name = real_name
        self._real = real_identity
        self.seed = seed

    def identity(self) -> dict[str, Any]:
        """Dry-run verdicts are keyed apart from real ones, and by seed."""
        return {"kind": "dry-run", "seed": self.seed, "as": self._real}

    async def judge(self, task: JudgeTask, prompt: RenderedPrompt, kind: str) -> JudgeCall:
        """Draw a verdict from the seeded RNG and wrap it in a plainly marked judge text."""
        pos_a, pos_b = task.position_models()
        rng = seeded_rng(self.seed, task.question.qid, task.turn, pos_a, pos_b or "", task.order)
        if kind == "score":
            token = str(rng.randint(1, 10))
        else:
            token = rng.choice(_LABELS[kind])
        text = (f"[DRY RUN: no judge was called; this verdict was drawn at random (seed {self.seed}) in place "
                f"of {self.real_name}.]\nVerdict: [[{token}]]")
        verdict = parse_verdict(text, kind)
        assert verdict is not None
        return JudgeCall(status="ok", label=verdict.label, winner=verdict.winner, strength=verdict.strength,
                         score=verdict.score, raw=text)

    async def aclose(self) -> None:
        """Nothing to release."""
