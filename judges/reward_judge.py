"""A reward model as the judge: a scalar reward per answer; pairwise verdicts are sigmoid(r_A - r_B)."""
from __future__ import annotations

from typing import Any

from arena.config import JudgeConfig
from arena.errors import ArenaError, BackendError
from judges.base import JudgeCall
from judges.reward import LocalRewardModel, RewardScorer, VLLMRewardEndpoint, preference_probability
from judges.tasks import JudgeTask
from judges.templates import RenderedPrompt


def conversation(task: JudgeTask, answers: tuple[str, ...]) -> list[dict[str, str]]:
    """The dialogue up to the judged turn, ending with the answer to be scored."""
    conv: list[dict[str, str]] = []
    for i in range(task.turn):
        conv += [{"role": "user", "content": task.question.turns[i]}, {"role": "assistant", "content": answers[i]}]
    return conv


class RewardJudge:
    """Scores answers with an in-process transformers reward model or a vLLM pooling endpoint."""

    dry_run = False

    def __init__(self, cfg: JudgeConfig) -> None:
        if cfg.reward is None:
            raise ArenaError("judge kind 'reward-model' needs a 'reward:' section")
        self.cfg, r = cfg, cfg.reward
        self.name = cfg.label
        self.scorer: RewardScorer
        if r.source == "local":
            self.scorer = LocalRewardModel(r.path or "", name=self.name, device=r.device, batch_size=r.batch_size,
                                           max_length=r.max_length)
            # many judgments in flight: the model pools their conversations into batches of batch_size
            self.endpoint, self.concurrency = f"local://{r.path}", max(64, 8 * r.batch_size)
        else:
            self.scorer = VLLMRewardEndpoint(base_url=r.base_url or "", model=r.model or "", name=self.name,
                                             api_key_env=r.api_key_env, concurrency=cfg.concurrency,
                                             timeout_s=cfg.timeout_s, read_template=r.read_template)
            self.endpoint, self.concurrency = r.base_url or "", cfg.concurrency

    @property
    def template_note(self) -> str:
        """Why the reward server's plain-text turn markers could not be read, if so (vLLM source only)."""
        return str(getattr(self.scorer, "template_note", "") or "")

    def identity(self) -> dict[str, Any]:
        """The reward model and its scale."""
        from judges.factory import judge_identity

        return judge_identity(self.cfg)

    async def judge(self, task: JudgeTask, prompt: RenderedPrompt, kind: str) -> JudgeCall:
        """Score one answer (single) or both positions (pair) and turn the rewards into a verdict."""
        pos_a, pos_b = task.positions()
        convs = [conversation(task, pos_a)] + ([conversation(task, pos_b)] if pos_b is not None else [])
        same = len(convs) == 2 and convs[0] == convs[1]  # one conversation, one reward: an exact tie
        try:
            scored = await self.scorer.score_full(convs[:1] if same else convs)
        except BackendError as exc:
            return JudgeCall(status="error", error=str(exc), endpoint_down=exc.endpoint_down)
        # what the model read: the conversations' text (not the LLM judge template) and, locally, its tokens
        read = {"input_chars": sum(len(m["content"]) for c in convs[: len(scored)] for m in c),
                "prompt_tokens": sum(s.tokens or 0 for s in scored)}
        scored = scored * 2 if same else scored
        cut = [s.tokens for s in scored if s.truncated]
        note = f" (input cut on the left to the last {cut[0]} tokens)" if cut else ""
        if pos_b is None:
            r = scored[0].reward
            return JudgeCall(status="ok", label=f"{r:.6g}", score=r, raw=f"reward {r!r}{note}", truncated=bool(cut),
                             **read)
        assert self.cfg.reward is not None
        ra, rb = scored[0].reward, scored[1].reward
        p = 0.5 if ra == rb else preference_probability(ra, rb, self.cfg.reward.scale)
        band = self.cfg.reward.tie_band
        winner = "A" if p > 0.5 + band else "B" if p < 0.5 - band else "tie"
        a_cut = " (A cut)" if scored[0].truncated else ""
        b_cut = " (B cut)" if scored[1].truncated else ""
        return JudgeCall(status="ok", label=f"P(A)={p:.4f}", winner=winner, prob_a=p, truncated=bool(cut),
                         raw=f"reward A {ra!r}{a_cut}, reward B {rb!r}{b_cut}, P(A better) {p!r}{note}", **read)

    async def aclose(self) -> None:
        """Release the model or the connections."""
        await self.scorer.aclose()
