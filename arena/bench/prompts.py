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

# Continuation choice (HellaSwag-style items: the question is a text to continue, the options its endings).
CONTINUATION = """\
Which ending continues the text below most plausibly? Reply with the letter of that ending only ({letters}).

{question}

{options}"""
CONTINUATION_INSTRUCTION = CONTINUATION.split("\n\n", 1)[0]
CONTINUATION_COT = ("Which ending continues each text most plausibly? Think step by step and show your reasoning, "
                    'then give the final answer on the last line in the form "Answer: <letter>" ({letters}).')

# Chinese prompts (`language: zh`, and C-Eval / CMMLU files by default): the same structure, own wording.
ZH = {
    "choice": "下面是一道单项选择题，请只回复正确选项的字母（{letters}），不要解释。\n\n{question}\n\n{options}",
    "numeric": "请解答下面的题目。可以先写出推理过程，最后一行按“答案：<数字>”的格式给出最终答案（只写数字，不带单位）。"
               "\n\n{question}",
    "exact": "{question}\n\n请只在一行内给出答案，不要解释。",
}
ZH_INSTRUCTIONS = {
    "choice": "下面是单项选择题，请只回复正确选项的字母（{letters}）。",
    "numeric": ZH["numeric"].split("\n\n", 1)[0],
    "exact": "请回答下面的问题，只在一行内给出答案，不要解释。",
}
ZH_COT_INSTRUCTIONS = {
    "choice": "下面是单项选择题。请一步一步地分析并写出推理过程，最后一行按“答案：<字母>”的格式给出答案（{letters}）。",
    "numeric": "请解答下面的题目。请一步一步地思考并写出推理过程，最后一行按“答案：<数字>”的格式给出最终答案（只写数字）。",
    "exact": "请回答下面的问题。请一步一步地思考并写出推理过程，最后一行按“答案：<答案>”的格式给出答案。",
}
ZH_COT_CUE = "让我们一步一步地思考。"
ZH_WORDS = {"question": "题目：", "answer": "答案："}
EN_WORDS = {"question": "Question: ", "answer": "Answer: "}


def _letters(item: BenchItem, lang: str = "en") -> str:
    labels = [lab for lab, _ in item.choices]
    if lang == "zh":
        return "、".join(labels[:-1]) + f" 或 {labels[-1]}" if len(labels) > 1 else "".join(labels)
    return ", ".join(labels[:-1]) + f" or {labels[-1]}" if len(labels) > 1 else "".join(labels)


def _continuation(kind: str, item: BenchItem) -> bool:
    return kind == "choice" and item.meta.get("style") == "continuation"


def render(kind: str, item: BenchItem, lang: str = "en") -> str:
    """The zero-shot user message a candidate sees for one item of a task of this kind."""
    options = "\n".join(f"{lab}. {text}" for lab, text in item.choices)
    if lang == "zh" and kind in ZH:
        template = ZH[kind]
    else:
        template = CONTINUATION if _continuation(kind, item) else TEMPLATES[kind]
    return template.format(question=item.question.strip(), options=options, letters=_letters(item, lang))


def question_block(item: BenchItem, lang: str = "en") -> str:
    """'Question: ...' (zh: '题目：...') with the options one per line (choice items)."""
    words = ZH_WORDS if lang == "zh" else EN_WORDS
    lines = [f"{words['question']}{item.question.strip()}"] + [f"{lab}. {text}" for lab, text in item.choices]
    return "\n".join(lines)


def worked_answer(kind: str, item: BenchItem, cot: bool, lang: str = "en") -> str:
    """A solved example's answer: reasoning when the item has it (GSM8K worked answer, a rationale such as
    C-Eval's explanation), then the fixed answer line 'Answer: <gold>' (zh: '答案：<gold>')."""
    reasoning = ""
    if kind == "numeric" and isinstance(item.meta.get("worked_answer"), str):
        reasoning = _CALC.sub("", item.meta["worked_answer"].rsplit("####", 1)[0]).strip()
    elif cot and isinstance(item.meta.get("rationale"), str):
        reasoning = item.meta["rationale"].strip()
    line = f"{(ZH_WORDS if lang == 'zh' else EN_WORDS)['answer']}{item.answer}"
    return f"{reasoning}\n{line}" if reasoning else line


def instruction(kind: str, item: BenchItem, cot: bool, lang: str = "en") -> str:
    """The instruction that opens a few-shot / CoT / completion prompt."""
    if lang == "zh":
        table = ZH_COT_INSTRUCTIONS if cot else ZH_INSTRUCTIONS
    elif _continuation(kind, item):
        return (CONTINUATION_COT if cot else CONTINUATION_INSTRUCTION).format(letters=_letters(item))
    else:
        table = COT_INSTRUCTIONS if cot else INSTRUCTIONS
    return table[kind].format(letters=_letters(item, lang))


def render_shots(kind: str, item: BenchItem, examples: list[BenchItem], cot: bool, completion: bool,
                 lang: str = "en", prefix: str | None = None) -> str:
    """Instruction, a fixed example text (`prefix`), solved examples and the item: one chat message, or one plain
    text the model continues."""
    head = instruction(kind, item, cot, lang)
    blocks = [head] + ([prefix] if prefix else [])
    blocks += [f"{question_block(ex, lang)}\n{worked_answer(kind, ex, cot, lang)}" for ex in examples]
    answer = (ZH_WORDS if lang == "zh" else EN_WORDS)["answer"].rstrip()
    cue = ZH_COT_CUE if lang == "zh" else COT_CUE
    tail = (f"\n{answer}{'' if lang == 'zh' else ' '}{cue}" if cot else f"\n{answer}") if completion else ""
    return "\n\n".join([*blocks, question_block(item, lang) + tail])
