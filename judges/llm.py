"""LLM judge on any OpenAI-compatible endpoint (OpenAI, DashScope/Qwen, vLLM): verdict, one follow-up."""
from __future__ import annotations

from typing import Any

from arena.backends.base import Completion, GenParams
from arena.backends.openai_compat import OpenAICompatible, resolve_api_key
from arena.backends.retry import RetryPolicy
from arena.config import JudgeConfig
from arena.errors import BackendError
from arena.reasoning import final_answer, reply_answer
from judges.base import JudgeCall
from judges.tasks import JudgeTask
from judges.templates import RenderedPrompt, render
from judges.verdicts import (
    Verdict,
    defuse_control_tokens,
    parse_json_verdict,
    parse_reply,
    score_schema,
    verdict_schema,
)


class LLMJudge:
    """Asks a chat model for a verdict; an unparseable reply gets one follow-up request, then `unparsed`."""

    dry_run = False

    def __init__(self, cfg: JudgeConfig) -> None:
        self.cfg = cfg
        self.name = cfg.label
        key = resolve_api_key(cfg.base_url, cfg.api_key_env, f"judge '{self.name}'")
        self.concurrency = cfg.concurrency
        extra: dict[str, Any] = {}
        if cfg.json_output:
            schema = score_schema() if cfg.mode == "single" else verdict_schema(cfg.verdict)
            extra["response_format"] = {"type": "json_schema",
                                        "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
        self._backend = OpenAICompatible(name=f"judge {self.name}", model=cfg.model, base_url=cfg.base_url,
                                         api_key=key, concurrency=cfg.concurrency, timeout_s=cfg.timeout_s,
                                         connect_timeout_s=cfg.connect_timeout_s, idle_timeout_s=cfg.idle_timeout_s,
                                         retry=RetryPolicy(max_retries=cfg.max_retries), extra_body=extra,
                                         seed=cfg.seed)
        self.endpoint = self._backend.endpoint
        # an empty reply is taken as a reply, not retried: it is billed like any other, so it is charged to the
        # budget, and its follow-up (one more request, within the budget's reservation) asks for the verdict
        self._params = GenParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens, stream=cfg.stream,
                                 accept_empty=True)

    def identity(self) -> dict[str, Any]:
        """Judge model and parameters (the endpoint URL is not part of it)."""
        from judges.factory import judge_identity

        return judge_identity(self.cfg)

    def _answer(self, reply: Completion) -> str:
        """The reply without its thought (judge.reasoning; a thought the server returned apart never counts).
        Under `auto` a judge's reply is read as `strip` reads it (an opening tag at the start, or the first
        closing tag anywhere, marks a thought): its verdict comes last, so taking off a prefix by mistake costs
        at most the follow-up, while reading a draft verdict would change the verdict. Not with json_output: the
        verdict is a JSON object whose reasons may quote a tag, so the reply is read as a candidate's answer is
        (`auto`'s own rules). An untagged reply cut at max_tokens stays text (it goes back as the judge's turn in
        the follow-up; it is not read for a verdict)."""
        if self.cfg.reasoning == "auto" and not self.cfg.json_output:
            return final_answer(reply.text, "strip", False, reply.reasoning)
        # a JSON verdict carries its reasons in a string that may quote a closing tag: read as candidates are
        return reply_answer(reply, self.cfg.reasoning)

    def _verdict(self, reply: Completion, said: str, kind: str, prompt_text: str) -> Verdict | None:
        """The verdict in the reply's final answer; none from a reply cut at max_tokens: the judge had not
        finished, so a verdict in it is a draft or a quotation. A json_output judge under `auto`: its JSON
        object from `auto`'s reading or from `strip`'s (a thought run into the text), and markers only from
        `strip`'s reading, outside any JSON object (never a draft in the thought, nor a quote in the reasons)."""
        if reply.finish_reason == "length":
            return None
        if self.cfg.json_output and self.cfg.reasoning == "auto":
            stripped = final_answer(reply.text, "strip", False, reply.reasoning)
            return parse_json_verdict(said, kind) or parse_reply(stripped, kind, prompt_text=prompt_text,
                                                                 json_output=True)
        return parse_reply(said, kind, prompt_text=prompt_text, json_output=self.cfg.json_output)

    async def judge(self, task: JudgeTask, prompt: RenderedPrompt, kind: str) -> JudgeCall:
        """One judgment with at most one follow-up; transport failures become status `error`."""
        messages = prompt.messages()
        call = JudgeCall(status="error")
        try:
            first = await self._backend.generate(messages, self._params)
            call.raw = first.text
            call.add_usage(first)
            shown = "\n".join(m["content"] for m in messages)
            # a reasoning judge's thought holds drafts, not its verdict: only the final answer is read
            said_first = self._answer(first)
            verdict = self._verdict(first, said_first, kind, shown)
            if verdict is None:
                follow = render("followup", {}, verdict_kind=kind).messages()
                # the judge's reply goes back as its own turn; a control token it copied from an answer stays text
                said = {"role": "assistant", "content": defuse_control_tokens(said_first)}
                second = await self._backend.generate(messages + [said] + follow, self._params)
                call.followup_raw = second.text
                call.add_usage(second)
                verdict = self._verdict(second, self._answer(second), kind, shown + "\n" + follow[-1]["content"])
        except BackendError as exc:
            call.error, call.endpoint_down = str(exc), exc.endpoint_down
            return call
        if verdict is None:
            call.status = "unparsed"
            return call
        call.status, call.label, call.winner = "ok", verdict.label, verdict.winner
        call.strength, call.score = verdict.strength, verdict.score
        return call

    async def aclose(self) -> None:
        """Close connections."""
        await self._backend.aclose()
