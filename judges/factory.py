"""Which judge a config asks for; its identity (cache key part) without contacting it."""
from __future__ import annotations

from typing import Any

from arena.config import JudgeConfig
from judges.base import Judge


def judge_identity(cfg: JudgeConfig) -> dict[str, Any]:
    """What makes the configured judge's verdicts differ: model and parameters, not its URL or key."""
    if cfg.kind == "reward-model" and cfg.reward is not None:
        r = cfg.reward
        return {"kind": "reward", "source": r.source, "model": r.model or (str(r.path) if r.path else None),
                "scale": r.scale}
    return {"kind": "llm", "model": cfg.model, "temperature": cfg.temperature, "max_tokens": cfg.max_tokens,
            "json": cfg.json_output}


def make_judge(cfg: JudgeConfig, dry_run: bool) -> Judge:
    """The judge to call: the dry-run stand-in, a reward model, or an LLM on an OpenAI-compatible endpoint."""
    if dry_run or cfg.kind == "dry-run":
        from judges.dry_run import DryRunJudge

        return DryRunJudge(cfg.label, judge_identity(cfg), seed=cfg.seed)
    if cfg.kind == "reward-model":
        from judges.reward_judge import RewardJudge

        return RewardJudge(cfg)
    from judges.llm import LLMJudge

    return LLMJudge(cfg)
