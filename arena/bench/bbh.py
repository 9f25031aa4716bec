"""BBH-style few-shot chain-of-thought tasks: items `{input, target}`, a fixed prompt of worked examples, and
the answer read from "the answer is X".

Files: JSONL with `input` and `target` per line (optional `id`, and `rationale` - worked reasoning used when
the item serves as a few-shot example), or BIG-Bench Hard's own JSON `{"examples": [{input, target}, ...]}`.
The fixed prompt (`fewshot_prompt:` on the task, BBH's `cot-prompts/<task>.txt`) is plain text: a task
description and solved examples as "Q: ... / A: Let's think step by step. ... So the answer is X."; anything
up to a line of `-----` (BBH's files start with a canary line and one) is left out.

Scoring: the text after the last "the answer is" (else the last `Answer:` line, else a one-line reply; a longer
reply with neither is unparsed and wrong, as lm-evaluation-harness's "[invalid]"), and
  - an option target such as "(B)": the first "(B)" in it, or a bare leading letter ("B", "B)"), must be B;
  - any other target: equal after normalisation (NFKC, case folded, spaces collapsed, surrounding quotes,
    `**`, brackets of markdown emphasis and a final period removed): "True", "valid", "24", ") ] }".
An option target whose letter is not among the item's "(A) ..." options is rejected when the file is read."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from arena.bench.items import BenchItem, item_id
from arena.bench.scoring import Score
from arena.errors import ConfigError
from arena.records import read_text

OPTION_TARGET = re.compile(r"^\(([A-Z])\)$")
_OPTION_IN_INPUT = re.compile(r"^\s*\(([A-Z])\)\s", re.MULTILINE)
_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*", re.IGNORECASE)  # the answer follows the last one
_ANSWER_LINE = re.compile(r"^[ \t>*_#-]*answer[*_]*\s*[:=][*_\s]*(.*)$", re.IGNORECASE | re.MULTILINE)
_FIRST_OPTION = re.compile(r"\(([A-Z])\)")
_LEAD_LETTER = re.compile(r"^[*_\s]*([A-Z])(?:[).:\s*_]|$)")
RATIONALE_FIELDS = ("rationale", "cot", "explanation")
COT_CUE = "Let's think step by step."


def parse_bbh(rec: dict, idx: int) -> BenchItem | str:
    """One BBH record as an exact-match item, or why it is rejected (naming the field)."""
    text = rec.get("input")
    if not isinstance(text, str) or not text.strip():
        return "needs a text field 'input' (the question)"
    target = rec.get("target")
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        target = str(target)
    if not isinstance(target, str) or not target.strip():
        return "field 'target' is missing or empty (the reference answer)"
    target = target.strip()
    meta: dict[str, object] = {"match": "bbh"}
    if (m := OPTION_TARGET.match(target)) and (labels := _OPTION_IN_INPUT.findall(text)) \
            and m.group(1) not in labels:
        return (f"field 'target' is '{target}', not one of the item's options "
                f"({', '.join(f'({x})' for x in labels)})")
    rationale = next((rec[k] for k in RATIONALE_FIELDS if isinstance(rec.get(k), str) and rec[k].strip()), None)
    if rationale:
        meta["rationale"] = rationale.strip()
    return BenchItem(item_id(rec, idx), text.strip(), target, meta=meta)


def expand_examples(records: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
    """BIG-Bench Hard's JSON layout (one object with an `examples` list) as (example number, record) pairs."""
    if len(records) == 1 and isinstance(records[0][1].get("examples"), list):
        return [(i + 1, ex if isinstance(ex, dict) else {}) for i, ex in enumerate(records[0][1]["examples"])]
    return records


def read_prompt(path: Path, task: str) -> str:
    """A fixed few-shot prompt file: its text after the last '-----' line, stripped; an empty one is an error."""
    if not Path(path).exists():
        raise ConfigError(f"bench task '{task}': fewshot_prompt not found: {path}",
                          hint="give the prompt file's path (relative to the config or absolute)")
    text = read_text(path, ConfigError)
    parts = re.split(r"^-----\s*$", text, flags=re.MULTILINE)
    body = parts[-1].strip()
    if not body:
        raise ConfigError(f"bench task '{task}': fewshot_prompt {path} has no text (after its last '-----' line)")
    return body


def example_block(item: BenchItem, cot: bool) -> str:
    """A solved example in BBH's form: 'Q: ...\\nA: ... So the answer is X.'"""
    reasoning = item.meta.get("rationale")
    if cot and isinstance(reasoning, str):
        return f"Q: {item.question}\nA: {COT_CUE} {reasoning} So the answer is {item.answer}."
    return f"Q: {item.question}\nA: {item.answer}"


CHAT_HEAD = ('Answer the last question the way the examples are answered, and end with '
             '"So the answer is <answer>."')
CHAT_HEAD_NO_COT = "Answer the last question the way the examples are answered: the answer only."


def render_bbh(item: BenchItem, prefix: str | None, examples: list[BenchItem], cot: bool, completion: bool) -> str:
    """The BBH prompt: the fixed prompt text and/or drawn examples, then 'Q: <input>\\nA:' (completion) or the
    same after a one-line instruction (chat, so the two never share an answer-cache entry)."""
    blocks = ([prefix] if prefix else []) + [example_block(ex, cot) for ex in examples]
    cot = cot or prefix is not None  # a worked-example prompt asks for worked answers
    tail = f"Q: {item.question}\nA:" + (f" {COT_CUE}" if cot else "")
    body = "\n\n".join([*blocks, tail])
    return body if completion else f"{CHAT_HEAD if cot else CHAT_HEAD_NO_COT}\n\n{body}"


def answer_span(reply: str) -> str | None:
    """The part of a reply that holds its answer: after the last 'the answer is', else the last 'Answer:' line,
    else a one-line reply as a whole; None for a longer reply with neither (counted as unparsed, and wrong)."""
    said = list(_ANSWER_IS.finditer(reply))
    if said:  # the rest of the line after the last "answer is", even when one line says it twice
        return reply[said[-1].end():].split("\n", 1)[0].strip()
    lines = _ANSWER_LINE.findall(reply)
    if lines:
        return lines[-1].strip()
    rest = [ln for ln in reply.strip().splitlines() if ln.strip()]
    return rest[0].strip() if len(rest) == 1 else None


def normalize_target(text: str) -> str:
    """NFKC, case folded, spaces collapsed, outer quotes / markdown emphasis and a final period removed."""
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip("*_`\"'").strip()
        text = text.removesuffix(".")
    return text


def score_bbh(reply: str, gold: str) -> Score:
    """A reply scored against a BBH target (see the module docstring)."""
    span = answer_span(reply)
    if not span:
        return Score(False, None, gold)
    m = OPTION_TARGET.match(gold)
    if m:
        found = _FIRST_OPTION.search(span) or _LEAD_LETTER.match(span)
        got = f"({found.group(1)})" if found else None
        return Score(got == gold, got, gold)
    return Score(normalize_target(span) == normalize_target(gold), span, gold)
