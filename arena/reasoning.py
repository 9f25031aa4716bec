"""A reasoning model's thought block, told apart from its final answer.

A reasoning model served without a reasoning parser (vLLM's `--reasoning-parser`, or an API that returns the
thought in its own field) writes its chain of thought into the answer text: `<think>...</think>` then the
answer (Qwen3; DeepSeek-R1, QwQ and Qwen3-Thinking-2507, whose chat templates open the tag in the prompt, so
the text holds only the closing tag), `<seed:think>...</seed:think>` (Seed-OSS), `[THINK]...[/THINK]`
(Magistral) or `◁think▷...◁/think▷` (Kimi). Judges should read the final answer only, as they would from a
server with the parser: the thought is not the answer, it is long (billed judge tokens, style features
measuring the wrong text), and a draft verdict inside a judge's own thought is not its verdict.

Three modes (a candidate's or a judge's `reasoning` setting):

- `strip`: the model is known to think (as `--reasoning-parser deepseek_r1` assumes). The thought is
  everything up to the first closing tag (an opening tag before it is dropped). A text with no closing tag
  is an unfinished thought (empty final answer) when it opens with an opening tag or was cut at max_tokens;
  a finished text without any tag is an answer (thinking switched off, or a parser already took the
  thought apart).
- `auto` (the default): a thought is taken off only where the text shows one unmistakably, so ordinary
  answers that talk about these tags are left alone:
  * the text opens with an opening tag (after white space or a byte-order mark) whose edge looks like model
    output, not like prose that names the tag ("[THINK] and [/THINK] are...", "<think>: ..."): `<think>`
    (also an HTML-like word) must end its line (Qwen3: `<think>\\n...\\n</think>\\n\\nanswer`); the other
    families must end their line or run into a letter (Magistral: `[THINK]Okay...[/THINK]Here...`), or
    run into other text (a quote, a bracket; not white space or punctuation such as ":", "/", "...") with
    their closing tag doing the same. Never closed, it is an unfinished thought (empty answer) only when the
    text was cut at max_tokens and the opening tag ends its line or runs into a letter;
  * the R1 form: the first `</think>` or `</seed:think>` in the text (whose opening tag chat templates put
    in the prompt: DeepSeek-R1, QwQ, Qwen3-Thinking-2507, Seed-OSS with a thinking budget of 0) starts an
    unindented line and ends it or runs into a letter, no opening tag comes before it, and it lies outside
    fenced code blocks and raw HTML blocks such as `<pre>` (CommonMark: a line that starts with the tag
    opens one, the first line holding its closing tag ends it).
  A thought in the R1 form that was cut at max_tokens has no tag at all and cannot be told from an answer
  cut short: set `strip` for such models.
- `keep`: the whole text, as the model wrote it.

In every mode the thought ends at the first closing tag, as in vLLM's parsers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

# (opening tag, closing tag) of each known family, most specific first
THOUGHT_TAGS: tuple[tuple[str, str], ...] = (
    ("<seed:think>", "</seed:think>"),
    ("<think>", "</think>"),
    ("[THINK]", "[/THINK]"),
    ("◁think▷", "◁/think▷"),
)
TAG_TEXTS = tuple(tag for pair in THOUGHT_TAGS for tag in pair)
MODES = ("auto", "strip", "keep")
ReasoningMode = Literal["auto", "strip", "keep"]

_LINE_END = re.compile(r"[ \t]*(?:\r?\n|\Z)")
_FENCE_LINE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
# CommonMark's first kind of HTML block: a line that starts with <pre, <script, <style or <textarea (then a
# space, ">" or the line's end) opens it; the first line holding the matching closing tag ends it
_RAW_OPEN = re.compile(r" {0,3}<(pre|script|style|textarea)(?:[\s>]|$)", re.I)
_NAMING = ".,;:!?\u2026\u2014\u2013/`)]}>|"  # after a tag named in prose (beside white space): punctuation
R1_CLOSINGS = ("</think>", "</seed:think>")  # closing tags whose opening tag a chat template may put in the prompt
_LEAD = " \t\r\n\ufeff\u00a0"  # white space and a byte-order mark before an opening tag


@dataclass(frozen=True)
class Split:
    """One text as a thought (None when there is none) and the final answer; `closed`: the thought ended with
    its closing tag (False: it was cut off, and there is no final answer)."""

    thought: str | None
    answer: str
    closed: bool = True

    @property
    def unfinished(self) -> bool:
        """The thought never closed."""
        return self.thought is not None and not self.closed


def _ends_line(text: str, at: int) -> bool:
    return _LINE_END.match(text, at) is not None


def _starts_line(text: str, end: int) -> bool:
    """`end` is the start of a line (no indentation: an indented line may be a Markdown code block)."""
    return end == 0 or text[end - 1] == "\n" or text[:end].strip(_LEAD) == ""


def _in_code(text: str) -> bool:
    """The end of `text` lies inside a fenced code block (CommonMark fences: a run of 3+ backticks or tildes,
    closed by a longer-or-equal run of the same character) or a raw HTML block such as `<pre>` (CommonMark:
    opened by a line that starts with the tag, closed by the first line that holds its closing tag)."""
    fence, raw = None, None
    for line in text.split("\n"):
        if raw is not None:
            if f"</{raw}" in line.lower():
                raw = None
            continue
        m = _FENCE_LINE.match(line.rstrip("\r"))
        if m is not None:
            run, info = m.groups()
            if fence is None and not (run[0] == "`" and "`" in info):  # a backtick fence's info has no backtick
                fence = run
                continue
            if fence is not None and run[0] == fence[0] and len(run) >= len(fence) and not info.strip():
                fence = None
                continue
        if fence is None and (opened := _RAW_OPEN.match(line)):
            name = opened.group(1).lower()
            if f"</{name}" not in line.lower()[opened.end():]:
                raw = name
    return fence is not None or raw is not None


def _into_letter(text: str, at: int) -> bool:
    """Position `at` (just after a tag) runs straight into a letter or digit (model output, not a tag's name)."""
    return at < len(text) and text[at].isalnum()


def _into_text(text: str, at: int) -> bool:
    """Position `at` ends its line or runs straight into text that prose would not put after a tag's name
    (neither white space nor punctuation such as ":", "/", "...")."""
    return _ends_line(text, at) or (at < len(text) and not text[at].isspace() and text[at] not in _NAMING)


def _opened(body: str, opening: str, closing: str, strict: bool, cut: bool) -> Split | None:
    """`body` starts with `opening`: the thought up to the first `closing`. Strict (auto) reads the opening
    tag's edge: `<think>` (also an HTML-like word in prose) must end its line; the other families must end
    their line or run into a letter, or run into other text (a quote, a bracket) with the closing tag doing
    the same. Never closed, a thought only when the text was cut."""
    rest = body[len(opening):]
    end = rest.find(closing)
    after = end + len(closing)
    if strict:
        strong = _ends_line(rest, 0) or (opening != "<think>" and _into_letter(rest, 0))
        ok = strong or (opening != "<think>" and end >= 0 and _into_text(rest, 0) and _into_text(rest, after))
        if not ok or (end < 0 and not (cut and strong)):
            return None
    if end < 0:
        return Split(rest.strip(), "", closed=False)
    return Split(rest[:end].strip(), rest[after:].lstrip(_LEAD))


def split_thought(text: str, mode: ReasoningMode | str = "auto", cut: bool = False) -> Split:
    """The text's leading thought block and its final answer, by `mode` (see the module's rules); `cut`: the
    text stopped at max_tokens (finish_reason "length")."""
    if mode == "keep" or not isinstance(text, str):
        return Split(None, text)
    strict = mode != "strip"
    if strict and "think" not in text and "THINK" not in text:
        return Split(None, text)  # the fast path: no tag can be there
    body = text.lstrip(_LEAD)
    for opening, closing in THOUGHT_TAGS:
        if body.startswith(opening):
            found = _opened(body, opening, closing, strict, cut)
            if found is not None:
                return found
            return Split(None, text)
    if strict:  # the R1 form: a closing tag whose opening tag the chat template put in the prompt
        found = sorted((text.find(c), o, c) for o, c in THOUGHT_TAGS if c in R1_CLOSINGS and c in text)
        if found:
            end, opening, closing = found[0]  # the first closing tag in the text
            after = end + len(closing)
            if opening not in text[:end] and _starts_line(text, end) \
                    and (_ends_line(text, after) or _into_letter(text, after)) and not _in_code(text[:end]):
                return Split(text[:end].strip(), text[after:].lstrip(_LEAD))
        return Split(None, text)
    ends = sorted((text.find(c), o, c) for o, c in THOUGHT_TAGS if c in text)
    if ends:  # strip: the first closing tag anywhere ends the thought
        end, opening, closing = ends[0]
        thought = text[:end]
        thought = thought.partition(opening)[2] if opening in thought else thought
        return Split(thought.strip(), text[end + len(closing):].lstrip(_LEAD))
    if cut:  # a model that always thinks, stopped before it closed its thought
        return Split(text.strip(), "", closed=False)
    return Split(None, text)


def final_answer(text: str, mode: ReasoningMode | str = "auto", cut: bool = False,
                 apart: str | None = None) -> str:
    """The text without its leading thought block, by `mode` (unchanged when it has none). `apart`: a thought
    the server's reasoning parser returned on its own; the text is then the answer as it is."""
    return text if apart else split_thought(text, mode, cut).answer


def reply_answer(reply: Any, mode: ReasoningMode | str) -> str:
    """A model reply's (backends.base.Completion) final answer: its text without the thought, by `mode`."""
    return final_answer(reply.text, mode, reply.finish_reason == "length", reply.reasoning)


def _record_turns(rec: dict) -> list[tuple[str, bool, str | None]]:
    """(text, cut at max_tokens, the thought a server's parser returned apart or None) per turn of an answer
    record (`turns`, `finish_reason`, `reasoning`)."""
    turns = rec.get("turns")
    texts = [str(t) for t in turns] if isinstance(turns, list) else [str(turns or "")]
    finish = rec.get("finish_reason")
    finish = finish if isinstance(finish, list) else [finish] * len(texts)
    apart = rec.get("reasoning") if isinstance(rec.get("reasoning"), list) else []
    return [(text, i < len(finish) and finish[i] == "length",
             apart[i] if i < len(apart) and isinstance(apart[i], str) and apart[i] else None)
            for i, text in enumerate(texts)]


def split_record(rec: dict, mode: ReasoningMode | str | None) -> list[Split]:
    """Each turn of an answer record as thought and final answer."""
    return [Split(own, text) if own else split_thought(text, mode or "auto", cut)
            for text, cut, own in _record_turns(rec)]


def record_view(rec: dict, mode: ReasoningMode | str | None) -> list[str]:
    """An answer record's turns as judges read them: without thought blocks (`auto`, `strip`), or as written
    (`keep`; a thought a server returned apart is never part of them)."""
    return [part.answer for part in split_record(rec, mode)]


def reasoning_mode(config: dict | None, model: str) -> str:
    """A candidate's `reasoning` setting in a run's recorded config (run.json "config"). Runs from before the
    setting existed, and models the config does not list (imported battles), read whole texts: "keep"."""
    cands = config.get("candidates") if isinstance(config, dict) else None
    for cand in cands if isinstance(cands, list) else []:
        if isinstance(cand, dict) and cand.get("name") == model:
            value = cand.get("reasoning")
            return value if value in MODES else "keep"
    return "keep"


def strip_hint(records: list[dict], mode: str | None) -> str | None:
    """Why a candidate read under `auto` should be set to `strip`, or None: some of its answer turns end a
    thought in the R1 form (a closing tag, no opening one) and others stopped at max_tokens without any tag,
    so those were most likely thoughts cut short, which `auto` cannot tell from answers and judges read whole."""
    if (mode or "auto") != "auto":
        return None
    r1 = cut_untagged = 0
    openings = tuple(opening for opening, _ in THOUGHT_TAGS)
    for rec in records:
        for text, cut, own in _record_turns(rec):
            if own:
                continue  # the server's parser took the thought apart
            if split_thought(text, "auto", cut).thought is not None and not text.lstrip(_LEAD).startswith(openings):
                r1 += 1
            elif cut and not any(tag in text for tag in TAG_TEXTS):
                cut_untagged += 1
    if not (r1 and cut_untagged):
        return None
    return (f"{r1} answer turn(s) end a thought in the DeepSeek-R1 form (a closing tag with no opening one) and "
            f"{cut_untagged} stopped at max_tokens without any tag: under reasoning: auto those are read as "
            "answers, thought and all. Set reasoning: strip for this candidate (and raise max_tokens)")
