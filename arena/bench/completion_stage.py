"""The bench answer stage with `prompting: completion` tasks: their prompts go as plain text to /v1/completions.

Every other prompt goes through the candidate's chat backend as before. Completion prompts always end with an
open "Answer:" line and chat prompts never do (arena.bench.prompts), so the answer cache keeps them apart. The
demo backend answers both kinds itself; replayed-answer candidates never reach the bench."""
from __future__ import annotations

from typing import Any

from arena.answers import AnswerStore
from arena.backends.base import Completion, GenParams, ModelAPI
from arena.backends.completions_logprobs import CompletionsLogprobs
from arena.backends.logprobs import NoPromptLogprobs
from arena.bench.logprob_run import make_model
from arena.config import DemoCandidate, RunConfig
from arena.errors import BackendError
from arena.generation import BENCH_CATEGORY, AnswerStage, CandidateCfg
from arena.questions import Question
from arena.store import RunDir

# A completion model that goes on to invent the next example is cut there (English, Chinese and BBH layouts).
STOP = ["\nQuestion:", "\n题目：", "\nQ:"]


class Routed:
    """A candidate seen through two endpoints: plain-text prompts to /v1/completions, the rest to chat."""

    def __init__(self, chat: ModelAPI, plain: CompletionsLogprobs, prompts: set[str]) -> None:
        self.chat, self.plain, self.prompts = chat, plain, prompts
        self.name, self.endpoint, self.concurrency = chat.name, chat.endpoint, chat.concurrency
        self.no_route: BackendError | None = None  # the server said it has no /v1/completions route

    async def generate(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        """Route by the last user message: a completion-prompted item goes to /v1/completions (not sent once
        the server has said it has no such route: the same error again)."""
        if not (messages and messages[-1]["content"] in self.prompts):
            return await self.chat.generate(messages, params)
        if self.no_route is not None:
            raise BackendError(self.no_route.args[0], hint=self.no_route.hint)
        try:
            return await self.plain.generate(messages, params)
        except BackendError as exc:
            if isinstance(exc.__context__, NoPromptLogprobs):  # the backend's "404/405/501: no such route"
                self.no_route = exc
            raise

    async def aclose(self) -> None:
        """Close both clients."""
        await self.chat.aclose()
        await self.plain.aclose()


class OncePerTask:
    """The run as the answer stage sees it: the error of a completion-prompted item on a server without
    /v1/completions (the same for every such item) is recorded once per model and task, with `items` counting
    the items it stopped; every other error is recorded as it comes."""

    def __init__(self, run: RunDir, routes: list[Routed]) -> None:
        self.run, self.routes = run, routes
        self.seen: dict[tuple[Any, str], dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run, name)

    def error(self, message: str, **fields: Any) -> None:
        """Record an error (the run's own `error`), a repeated no-route error only once per model and task."""
        qid = str(fields.get("question_id") or "")
        repeated = {str(r.no_route) for r in self.routes if r.no_route}
        if not qid.startswith(BENCH_CATEGORY) or message not in repeated:
            self.run.error(message, **fields)
            return
        task = qid.split(":")[1]
        key = (fields.get("model"), task)
        if key in self.seen:
            self.seen[key]["items"] += 1
            return
        self.run.error(message, **{k: v for k, v in fields.items() if k != "question_id"}, task=task)
        self.seen[key] = self.run.info["errors"][-1]
        self.seen[key]["items"] = 1


class PromptingStage(AnswerStage):
    """AnswerStage whose API candidates send the given plain-text prompts through /v1/completions."""

    def __init__(self, cfg: RunConfig, questions: list[Question], store: AnswerStore, run: RunDir,
                 show_progress: bool | None = None, completion_prompts: set[str] | None = None) -> None:
        super().__init__(cfg, questions, store, run, show_progress=show_progress)
        self.completion_prompts = completion_prompts or set()
        self.routes: list[Routed] = []
        if self.completion_prompts:
            self.run = OncePerTask(run, self.routes)  # type: ignore[assignment]

    def _backend(self, cand: CandidateCfg, base_url: str | None = None) -> ModelAPI:
        chat = super()._backend(cand, base_url)
        if not self.completion_prompts or isinstance(cand, DemoCandidate):
            return chat
        plain = make_model(cand, self.cfg.generation, base_url)
        assert isinstance(plain, CompletionsLogprobs), type(plain)
        plain.stop = STOP
        self.routes.append(Routed(chat, plain, self.completion_prompts))
        return self.routes[-1]


def completion_prompts(tasks: list) -> set[str]:
    """The prompt texts of every item of the loaded tasks prompted as plain completions."""
    return {t.prompt(item) for t in tasks if t.task.prompting == "completion" for item in t.data.items}
