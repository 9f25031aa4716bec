"""A reasoning model's thought block, told apart from its final answer.

A reasoning model served without a reasoning parser (vLLM's `--reasoning-parser`, or an API that returns the
thought in its own field) writes its chain of thought into the answer text: `<think>...</think>` then the
answer (Qwen3, QwQ, DeepSeek-R1, whose chat template opens the tag in the prompt, so the text holds only the
closing tag), `<seed:think>...</seed:think>` (Seed-OSS), `[THINK]...[/THINK]` (Magistral) or
`◁think▷...◁/think▷` (Kimi). Judges should read the final answer only, as they would from a server with the
parser: the thought is not the answer, it is long (billed judge tokens, style features measuring the wrong
text), and a draft verdict inside a judge's own thought is not its verdict.

The split follows vLLM's reasoning parsers: the thought ends at the first closing tag. To leave ordinary
answers alone (an answer explaining these tags), a closing tag counts only when the text opens with the
matching tag (after white space), or when no opening tag comes before it and it stands on a line of its own
(the DeepSeek-R1 form: "...\\n</think>\\n\\nanswer"). A text that opens a thought and never closes it (stopped at
max_tokens) has an empty final answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# (opening tag, closing tag) of each known family, most specific first
THOUGHT_TAGS: tuple[tuple[str, str], ...] = (
    ("<seed:think>", "</seed:think>"),
    ("<think>", "</think>"),
    ("[THINK]", "[/THINK]"),
    ("◁think▷", "◁/think▷"),
)

ReasoningMode = Literal["strip", "keep"]
_LINE_END = re.compile(r"[ \t]*(?:\n|\Z)")


@dataclass(frozen=True)
class Split:
    """One text as a thought (None when there is none) and the final answer."""

    thought: str | None
    answer: str

    @property
    def unfinished(self) -> bool:
        """The thought never closed: there is no final answer."""
        return self.thought is not None and not self.answer.strip()


def split_thought(text: str) -> Split:
    """The text's leading thought block and its final answer (see the module's rules)."""
    if not isinstance(text, str) or ("think" not in text and "THINK" not in text):
        return Split(None, text)
    body = text.lstrip()
    for opening, closing in THOUGHT_TAGS:
        if body.startswith(opening):
            end = body.find(closing, len(opening))
            if end < 0:
                return Split(body[len(opening):].strip(), "")
            return Split(body[len(opening):end].strip(), body[end + len(closing):].lstrip())
    for opening, closing in THOUGHT_TAGS:
        end = text.find(closing)
        if end < 0 or opening in text[:end]:
            continue
        before = text[:end].rstrip(" \t")
        if (before and not before.endswith("\n")) or not _LINE_END.match(text, end + len(closing)):
            continue
        return Split(text[:end].strip(), text[end + len(closing):].lstrip())
    return Split(None, text)


def final_answer(text: str) -> str:
    """The text without its leading thought block (unchanged when it has none)."""
    return split_thought(text).answer


def answer_view(turns: list[str], mode: ReasoningMode | str | None) -> list[str]:
    """The answer turns as judges read them: without thought blocks (`strip`), or as written (`keep`)."""
    if mode == "keep":
        return list(turns)
    return [final_answer(t) for t in turns]


def reasoning_mode(config: dict | None, model: str) -> str:
    """A candidate's `reasoning` setting in a run's recorded config (run.json "config"). Runs from before the
    setting existed, and models the config does not list (imported battles), read whole texts: "keep"."""
    cands = config.get("candidates") if isinstance(config, dict) else None
    for cand in cands if isinstance(cands, list) else []:
        if isinstance(cand, dict) and cand.get("name") == model:
            return "strip" if cand.get("reasoning") == "strip" else "keep"
    return "keep"
