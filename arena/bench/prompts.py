"""Zero-shot prompt templates for benchmark items, one per task kind (plain text with {placeholders})."""
from __future__ import annotations

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


def render(kind: str, item: BenchItem) -> str:
    """The user message a candidate sees for one item of a task of this kind."""
    labels = [lab for lab, _ in item.choices]
    options = "\n".join(f"{lab}. {text}" for lab, text in item.choices)
    letters = ", ".join(labels[:-1]) + f" or {labels[-1]}" if len(labels) > 1 else "".join(labels)
    return TEMPLATES[kind].format(question=item.question.strip(), options=options, letters=letters)
