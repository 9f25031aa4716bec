"""Prompt templates for benchmark items, one per task kind (plain text with {placeholders}).

Zero-shot chat prompts (`render`) are the task's template as it has always been, so existing answer caches stay
valid. Few-shot, chain-of-thought and plain-completion prompts (`render_shots`) put the kind's instruction first,
then solved examples as "Question: ... / Answer: ..." blocks, then the item; a plain-completion prompt ends with an
open answer line ("Answer:", or "Answer: Let's think step by step." for CoT) and a chat prompt never does, so the
two never share an answer-cache entry."""
from __future__ import annotations

import re

from arena.bench.loaders import BenchItem

NUMERIC = """\
Solve the following problem. Reason step by step if it helps, then give the final answer on the last \
line in the form "Answer: <number>" (digits only, no units).

{question}"""

CHOICE = """\
Answer the following multiple-choice question. Reply with the letter of the correct option only \
({letters}).

{question}

{options}"""

EXACT = """\
{question}

Reply with the answer only, on one line, with no explanation."""

REFERENCE = "{question}"  # generation against references: the item's prompt as written

CODE = """\
Complete the following Python task. Reply with the complete code (imports and the full function, with the \
name and signature given) in one ```python code block.

{question}"""

TEMPLATES: dict[str, str] = {"numeric": NUMERIC, "choice": CHOICE, "exact": EXACT, "reference": REFERENCE,
                             "code": CODE}

# The instruction line of each kind when examples or a reasoning request come with it.
INSTRUCTIONS: dict[str, str] = {
    "numeric": NUMERIC.split("\n\n", 1)[0],
    "choice": CHOICE.split("\n\n", 1)[0],
    "exact": "Answer the following question. Reply with the answer only, on one line, with no explanation.",
}
COT_INSTRUCTIONS: dict[str, str] = {
    "numeric": 'Solve the following problem. Think step by step and show your reasoning, then give the final '
               'answer on the last line in the form "Answer: <number>" (digits only, no units).',
    "choice": "Answer the following multiple-choice question. Think step by step and show your reasoning, then "
              'give the final answer on the last line in the form "Answer: <letter>" ({letters}).',
    "exact": "Answer the following question. Think step by step and show your reasoning, then give the final "
             'answer on the last line in the form "Answer: <answer>".',
}
COT_CUE = "Let's think step by step."  # opens the model's turn in a plain-completion CoT prompt
SHOT_KINDS = tuple(INSTRUCTIONS)        # the kinds that take few-shot examples and CoT
_CALC = re.compile(r"<<[^<>]*>>")       # GSM8K calculator annotations: 'costs 2*3=<<2*3=6>>6'


def _letters(item: BenchItem) -> str:
    labels = [lab for lab, _ in item.choices]
    return ", ".join(labels[:-1]) + f" or {labels[-1]}" if len(labels) > 1 else "".join(labels)


def render(kind: str, item: BenchItem) -> str:
    """The zero-shot user message a candidate sees for one item of a task of this kind."""
    options = "\n".join(f"{lab}. {text}" for lab, text in item.choices)
    return TEMPLATES[kind].format(question=item.question.strip(), options=options, letters=_letters(item))


def question_block(item: BenchItem) -> str:
    """'Question: ...' with the options one per line (choice items)."""
    lines = [f"Question: {item.question.strip()}"] + [f"{lab}. {text}" for lab, text in item.choices]
    return "\n".join(lines)


def worked_answer(kind: str, item: BenchItem, cot: bool) -> str:
    """A solved example's answer: reasoning when the item has it (GSM8K worked answer, a rationale), then the
    fixed answer line 'Answer: <gold>'."""
    reasoning = ""
    if kind == "numeric" and isinstance(item.meta.get("worked_answer"), str):
        reasoning = _CALC.sub("", item.meta["worked_answer"].rsplit("####", 1)[0]).strip()
    elif cot and isinstance(item.meta.get("rationale"), str):
        reasoning = item.meta["rationale"].strip()
    return f"{reasoning}\nAnswer: {item.answer}" if reasoning else f"Answer: {item.answer}"


def render_shots(kind: str, item: BenchItem, examples: list[BenchItem], cot: bool, completion: bool) -> str:
    """Instruction, solved examples and the item: one chat message, or one plain text the model continues."""
    head = (COT_INSTRUCTIONS if cot else INSTRUCTIONS)[kind].format(letters=_letters(item))
    blocks = [head] + [f"{question_block(ex)}\n{worked_answer(kind, ex, cot)}" for ex in examples]
    tail = (f"\nAnswer: {COT_CUE}" if cot else "\nAnswer:") if completion else ""
    return "\n\n".join([*blocks, question_block(item) + tail])
