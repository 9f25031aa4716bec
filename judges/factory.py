"""Which judge a config asks for; its identity (cache key part) without contacting it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.config import JudgeConfig
from judges.base import Judge


def judge_identity(cfg: JudgeConfig) -> dict[str, Any]:
    """What makes the configured judge's verdicts differ: model and parameters, not its URL or key.

    A reward model's identity holds tie_band (it decides the stored verdicts); a local one its absolute folder,
    the weights' fingerprint and max_length."""
    if cfg.kind == "reward-model" and cfg.reward is not None:
        r = cfg.reward
        ident: dict[str, Any] = {"kind": "reward", "source": r.source, "model": r.model, "scale": r.scale,
                                 "tie_band": r.tie_band}
        if r.source == "local" and r.path is not None:
            from arena.generation import weights_fingerprint  # the answer and bench caches' fingerprint

            folder = Path(r.path).expanduser().resolve()
            ident.update(model=str(folder), weights=weights_fingerprint(str(folder)), max_length=r.max_length)
        return ident
    ident = {"kind": "llm", "model": cfg.model, "temperature": cfg.temperature, "max_tokens": cfg.max_tokens,
             "json": cfg.json_output}
    if cfg.reasoning != "auto":  # how the reply's thought is read decides the verdict (auto: keys as before)
        ident["reasoning"] = cfg.reasoning
    return ident


def make_judge(cfg: JudgeConfig, dry_run: bool) -> Judge:
    """The judge to call: the dry-run stand-in, a reward model, or an LLM on an OpenAI-compatible endpoint."""
    if dry_run or cfg.kind == "dry-run":
        from judges.dry_run import DryRunJudge

        if cfg.kind == "reward-model" and cfg.reward is not None and cfg.reward.source == "local":
            from judges.reward import check_local_reward_model

            check_local_reward_model(cfg.reward.path or "", cfg.reward.device)  # what the real run checks first

        return DryRunJudge(cfg.label, judge_identity(cfg), seed=cfg.seed)
    if cfg.kind == "reward-model":
        from judges.reward_judge import RewardJudge

        return RewardJudge(cfg)
    from judges.llm import LLMJudge

    return LLMJudge(cfg)
