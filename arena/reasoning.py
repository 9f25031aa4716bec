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
  * the text opens with an opening tag (after white space or a byte-order mark) that is closed later, and
    the tags' edges look like model output, not like prose that names them ("[THINK] and [/THINK] are...",
    "closed by </think>."): for `<think>`, one of its tags ends its line (Qwen3:
    `<think>\\n...\\n</think>\\n\\nanswer`); for the other families, both tags run straight into text or end
    their lines (Magistral: `[THINK]...[/THINK]Here...`), or one of them runs into text that prose would
    not put after a tag's name (a letter, not a space or sentence punctuation). Never closed, it is an
    unfinished thought (empty answer) only when the text was cut at max_tokens;
  * the R1 form: `</think>` or `</seed:think>` (whose opening tag chat templates put in the prompt: DeepSeek-R1,
    QwQ, Qwen3-Thinking-2507, Seed-OSS with a thinking budget of 0) starts an unindented line, ends it or
    runs into a letter, has no opening tag before it, and lies outside fenced code blocks and `<pre>` elements
    (one that starts its line).
  A thought in the R1 form that was cut at max_tokens has no tag at all and cannot be told from an answer
  cut short: set `strip` for such models.
- `keep`: the whole text, as the model wrote it.

In every mode the thought ends at the first closing tag, as in vLLM's parsers.
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
MODES = ("auto", "strip", "keep")
ReasoningMode = Literal["auto", "strip", "keep"]

_LINE_END = re.compile(r"[ \t]*(?:\r?\n|\Z)")
_FENCE_LINE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_BACKTICKS = re.compile(r"`+")
_PRE_OPEN = re.compile(r" {0,3}<pre(?:\s[^<>]*)?>", re.I)  # an element starts its line; mid-line, a mention
_PRE_CLOSE = re.compile(r"</pre\s*>", re.I)
_SENTENCE = " \t\r\n\u00a0.,;:!?)]}>\"'"  # what follows a tag named in prose: a space or punctuation
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


def _without_code_spans(line: str) -> str:
    """The line with its inline code spans removed (a backtick run opens a span that the next run of the same
    length closes, as in CommonMark); linear in the line's length."""
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(line)]
    following: dict[int, int] = {}  # run index -> the next run of the same length
    last: dict[int, int] = {}
    for i in range(len(runs) - 1, -1, -1):
        size = runs[i][1] - runs[i][0]
        if size in last:
            following[i] = last[size]
        last[size] = i
    out, pos, i = [], 0, 0
    while i < len(runs):
        j = following.get(i)
        if j is None:
            i += 1
            continue
        out.append(line[pos:runs[i][0]])
        pos, i = runs[j][1], j + 1
    return "".join(out) + line[pos:]


def _in_code(text: str) -> bool:
    """The end of `text` lies inside a fenced code block (CommonMark fences: a run of 3+ backticks or tildes,
    closed by a longer-or-equal run of the same character) or an HTML `<pre>` element (one that starts its
    line; `</pre>` outside inline code closes it)."""
    fence, pre = None, 0
    for line in text.split("\n"):
        m = _FENCE_LINE.match(line.rstrip("\r"))
        if m is not None:
            run, info = m.groups()
            if fence is None and not (run[0] == "`" and "`" in info):  # a backtick fence's info has no backtick
                fence = run
                continue
            if fence is not None and run[0] == fence[0] and len(run) >= len(fence) and not info.strip():
                fence = None
                continue
        if fence is not None or "<" not in line:
            continue
        if _PRE_OPEN.match(line):
            pre += 1
        if "/" in line and _PRE_CLOSE.search(line):
            pre = max(0, pre - len(_PRE_CLOSE.findall(_without_code_spans(line))))
    return fence is not None or pre > 0


def _glued(text: str, at: int) -> bool:
    """Position `at` (just after a tag) ends its line or runs straight into text (not white space)."""
    return _ends_line(text, at) or (at < len(text) and not text[at].isspace())


def _word_glued(text: str, at: int) -> bool:
    """Position `at` ends its line or runs straight into text that prose would not put after a tag's name
    (a space or sentence punctuation)."""
    return _ends_line(text, at) or (at < len(text) and text[at] not in _SENTENCE)


def _opened(body: str, opening: str, closing: str, strict: bool, cut: bool) -> Split | None:
    """`body` starts with `opening`: the thought up to the first `closing`. Strict (auto) reads the tags' edges:
    `<think>` (also an HTML-like word in prose) needs one of its tags to end its line; the others need both
    tags glued to text or line ends, or one of them glued to text that prose would not put after a tag's
    name. Never closed, a thought only when the text was cut."""
    rest = body[len(opening):]
    end = rest.find(closing)
    after = end + len(closing)
    if strict:
        if end < 0:
            ok = cut and (_ends_line(rest, 0) if opening == "<think>" else _word_glued(rest, 0))
        elif opening == "<think>":
            ok = _ends_line(rest, 0) or _ends_line(rest, after)
        else:
            ok = (_glued(rest, 0) and _glued(rest, after)) or _word_glued(rest, 0) or _word_glued(rest, after)
        if not ok:
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
        for opening, closing in THOUGHT_TAGS:
            end = text.find(closing)
            if closing not in R1_CLOSINGS or end < 0 or opening in text[:end] or not _starts_line(text, end):
                continue
            if _word_glued(text, end + len(closing)) and not _in_code(text[:end]):
                return Split(text[:end].strip(), text[end + len(closing):].lstrip(_LEAD))
        return Split(None, text)
    ends = [(text.find(closing), opening, closing) for opening, closing in THOUGHT_TAGS]
    for end, opening, closing in sorted(e for e in ends if e[0] >= 0)[:1]:  # the first closing tag anywhere
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


def split_record(rec: dict, mode: ReasoningMode | str | None) -> list[Split]:
    """Each turn of an answer record (`turns`, `finish_reason`, `reasoning`) as thought and final answer."""
    turns = rec.get("turns")
    texts = [str(t) for t in turns] if isinstance(turns, list) else [str(turns or "")]
    finish = rec.get("finish_reason")
    finish = finish if isinstance(finish, list) else [finish] * len(texts)
    apart = rec.get("reasoning") if isinstance(rec.get("reasoning"), list) else []
    out = []
    for i, text in enumerate(texts):
        own = apart[i] if i < len(apart) and isinstance(apart[i], str) and apart[i] else None
        cut = i < len(finish) and finish[i] == "length"
        out.append(Split(own, text) if own else split_thought(text, mode or "auto", cut))
    return out


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
