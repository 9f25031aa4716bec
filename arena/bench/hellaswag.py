"""HellaSwag-style continuation choice: a context and candidate endings, one of which continues it.

Records (JSONL): `ctx` (or `ctx_a` + `ctx_b`), `endings` (a list of 2-10 texts), `label` (the 0-based index of
the right ending, a number or a digit string), optional `activity_label`, `ind` / `id`. The text is cleaned
as HellaSwag's WikiHow items need: ' [title]' ends a sentence, other bracketed markers ('[header]', '[step]')
are dropped, runs of spaces become one; `ctx_b` starts with a capital letter; the activity label goes first
('Baking cookies: ...'). Log-likelihood scoring compares log P(' ' + ending | context) (acc, and acc_norm per
character); generate scoring shows the endings as lettered options."""
from __future__ import annotations

import re

from arena.bench.items import LETTERS, BenchItem, item_id

_MARKER = re.compile(r"\[[^\[\]]*\]")
_SPACES = re.compile(r"[ \t]{2,}")


def clean(text: str) -> str:
    """HellaSwag text made plain: ' [title]' -> '. ', other [markers] removed, repeated spaces collapsed."""
    text = text.strip().replace(" [title]", ". ")
    text = _MARKER.sub("", text)
    return _SPACES.sub(" ", text).strip()


def context_of(rec: dict) -> str | None:
    """The record's context: `ctx_a` + ' ' + `ctx_b` (str.capitalize: first letter up, the rest lower, as
    lm-evaluation-harness builds it, before the markers are cleaned), else `ctx`; None when neither is text."""
    a, b = rec.get("ctx_a"), rec.get("ctx_b")
    if isinstance(a, str) and isinstance(b, str) and (a.strip() or b.strip()):
        ctx = f"{a.strip()} {b.strip().capitalize()}".strip()
    elif isinstance(rec.get("ctx"), str) and rec["ctx"].strip():
        ctx = rec["ctx"]
    else:
        return None
    label = rec.get("activity_label")
    return clean(f"{label.strip()}: {ctx}" if isinstance(label, str) and label.strip() else ctx)


def parse_hellaswag(rec: dict, idx: int) -> BenchItem | str:
    """One HellaSwag record as a choice item, or why it is rejected (naming the field)."""
    context = context_of(rec)
    if context is None:
        return "needs a text field 'ctx' (or 'ctx_a' and 'ctx_b'): the text the endings continue"
    endings = rec.get("endings")
    if not isinstance(endings, list) or not 2 <= len(endings) <= len(LETTERS) \
            or not all(isinstance(e, str) and e.strip() for e in endings):
        return f"field 'endings' must be a list of 2-{len(LETTERS)} non-empty texts"
    label = rec.get("label")
    if label is None or (isinstance(label, str) and not label.strip()):
        return "field 'label' is missing (the index of the right ending; HellaSwag's test split has no labels)"
    if isinstance(label, bool) or not (isinstance(label, int) or (isinstance(label, str) and label.strip().isdigit())):
        return f"field 'label' must be the 0-based index of the right ending, got {label!r}"
    gold = int(label)
    if not 0 <= gold < len(endings):
        return f"field 'label' is {gold}, outside the item's {len(endings)} endings (0-{len(endings) - 1})"
    letters = LETTERS[: len(endings)]
    choices = [(letters[i], clean(e)) for i, e in enumerate(endings)]
    meta = {"style": "continuation", "ll_context": context}
    if isinstance(rec.get("activity_label"), str):
        meta["activity_label"] = rec["activity_label"].strip()
    return BenchItem(item_id(rec, idx, "ind", "id"), context, letters[gold], choices, meta=meta)
