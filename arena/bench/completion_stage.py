"""The bench answer stage with `prompting: completion` tasks: their prompts go as plain text to /v1/completions.

Every other prompt goes through the candidate's chat backend as before. Completion prompts always end with an
open "Answer:" line and chat prompts never do (arena.bench.prompts), so the answer cache keeps them apart. The
demo backend answers both kinds itself; replayed-answer candidates never reach the bench."""
from __future__ import annotations

from arena.answers import AnswerStore
from arena.backends.base import Completion, GenParams, ModelAPI
from arena.backends.completions_logprobs import CompletionsLogprobs
from arena.bench.logprob_run import make_model
from arena.config import DemoCandidate, RunConfig
from arena.generation import AnswerStage, CandidateCfg
from arena.questions import Question
from arena.store import RunDir

# A completion model that goes on to invent the next example is cut there (English, Chinese and BBH layouts).
STOP = ["\nQuestion:", "\n题目：", "\nQ:"]


class Routed:
    """A candidate seen through two endpoints: plain-text prompts to /v1/completions, the rest to chat."""

    def __init__(self, chat: ModelAPI, plain: CompletionsLogprobs, prompts: set[str]) -> None:
        self.chat, self.plain, self.prompts = chat, plain, prompts
        self.name, self.endpoint, self.concurrency = chat.name, chat.endpoint, chat.concurrency

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """Route by the last user message: a completion-prompted item goes to /v1/completions."""
        if messages and messages[-1]["content"] in self.prompts:
            return await self.plain.generate(messages, params)
        return await self.chat.generate(messages, params)

    async def aclose(self) -> None:
        """Close both clients."""
        await self.chat.aclose()
        await self.plain.aclose()


class PromptingStage(AnswerStage):
    """AnswerStage whose API candidates send the given plain-text prompts through /v1/completions."""

    def __init__(self, cfg: RunConfig, questions: list[Question], store: AnswerStore, run: RunDir,
                 show_progress: bool | None = None, completion_prompts: set[str] | None = None) -> None:
        super().__init__(cfg, questions, store, run, show_progress=show_progress)
        self.completion_prompts = completion_prompts or set()

    def _backend(self, cand: CandidateCfg, base_url: str | None = None) -> ModelAPI:
        chat = super()._backend(cand, base_url)
        if not self.completion_prompts or isinstance(cand, DemoCandidate):
            return chat
        plain = make_model(cand, self.cfg.generation, base_url)
        assert isinstance(plain, CompletionsLogprobs), type(plain)
        plain.stop = STOP
        return Routed(chat, plain, self.completion_prompts)


def completion_prompts(tasks: list) -> set[str]:
    """The prompt texts of every item of the loaded tasks prompted as plain completions."""
    return {t.prompt(item) for t in tasks if t.task.prompting == "completion" for item in t.data.items}
