"""Question sets: Arena's own JSONL, MT-bench, arena-hard-auto (v0.1 and 2025) and AlpacaEval."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from arena.errors import DataError
from arena.records import content_hash, read_records


@dataclass
class Question:
    """One question: one or more user turns, a category and optional per-turn references."""

    question_id: str | int
    turns: list[str]
    category: str = "general"
    reference: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def qid(self) -> str:
        """The id as a string (the key used in file names and caches)."""
        return str(self.question_id)

    def content_hash(self) -> str:
        """Hash of what a model sees: the turns (and the id, so two equal prompts stay distinct)."""
        return content_hash({"id": self.qid, "turns": self.turns})


def _text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    raise DataError(f"{where}: expected text, got {type(value).__name__}")


def _turn_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected a non-empty list of turns")
    return [_text(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _from_arena(rec: dict, where: str, idx: int) -> Question:
    qid = rec.get("question_id", rec.get("id"))
    if qid is None:
        raise DataError(f"{where}: missing field 'question_id'")
    if "turns" not in rec:
        raise DataError(f"{where}: missing field 'turns'")
    ref = rec.get("reference")
    if isinstance(ref, str):
        ref = [ref]
    if ref is not None and not (isinstance(ref, list) and all(isinstance(r, str) for r in ref)):
        raise DataError(f"{where}: field 'reference' must be a list of strings (one per turn)")
    known = {"question_id", "id", "turns", "category", "reference"}
    return Question(qid, _turn_list(rec["turns"], f"{where} field 'turns'"), str(rec.get("category") or "general"),
                    ref, {k: v for k, v in rec.items() if k not in known})


def _check_question(q: Question, where: str, fmt: str) -> None:
    """An id that names one question (text or an integer) and turns with text: a null, list, boolean or
    fractional id, or an empty prompt, would be sent on or written as it is."""
    field = "uid" if fmt == "arena-hard-2025" else "question_id"
    qid = q.question_id
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or (isinstance(qid, str) and not qid.strip()):
        shown = "null" if qid is None else repr(qid)
        raise DataError(f"{where}: field '{field}' must be a text or an integer id, got {shown}")
    for k, turn in enumerate(q.turns, 1):
        if not turn.strip():
            raise DataError(f"{where}: turn {k} is empty: a model would be sent no question")


def _from_arena_hard_2025(rec: dict, where: str, idx: int) -> Question:
    known = {"uid", "prompt", "category"}
    return Question(rec["uid"], [_text(rec["prompt"], f"{where} field 'prompt'")],
                    str(rec.get("category") or "general"), None, {k: v for k, v in rec.items() if k not in known})


def _from_alpaca(rec: dict, where: str, idx: int) -> Question:
    known = {"instruction", "dataset"}
    meta = {k: v for k, v in rec.items() if k not in known}
    return Question(rec.get("question_id", idx), [_text(rec["instruction"], f"{where} field 'instruction'")],
                    str(rec.get("dataset") or "alpaca_eval"), None, meta)


_PARSERS: dict[str, Callable[[dict, str, int], Question]] = {
    "arena": _from_arena,
    "mt-bench": _from_arena,  # same field names; ids are integers there
    "arena-hard": _from_arena,  # v0.1: turns are [{"content": ...}]
    "arena-hard-2025": _from_arena_hard_2025,
    "alpaca-eval": _from_alpaca,
}


def detect_format(rec: dict, where: str = "<questions>") -> str:
    """Guess a question file's format from its first record's fields (`where` is its file:line)."""
    if "uid" in rec and "prompt" in rec:
        return "arena-hard-2025"
    if "instruction" in rec:
        return "alpaca-eval"
    if "turns" in rec:
        return "arena"
    raise DataError(
        f"{where}: cannot tell the question format: no field 'turns', 'uid'+'prompt' or 'instruction' "
        f"(fields present: {sorted(rec)})",
        hint="expected 'turns' (Arena, MT-bench, arena-hard v0.1), 'uid'+'prompt' (arena-hard 2025) "
        "or 'instruction' (AlpacaEval)",
    )


def load_questions(path: Path, fmt: str = "auto", references: Path | None = None,
                   categories: list[str] | None = None, limit: int | None = None) -> list[Question]:
    """Load, filter by category and limit a question file; attach references if a file is given."""
    path = Path(path)
    records = read_records(path)
    if not records:
        raise DataError(f"{path}: no questions in the file")
    if fmt == "auto":
        fmt = detect_format(records[0][1], f"{path}:{records[0][0]}")
    elif fmt == "arena-hard" and "uid" in records[0][1]:
        fmt = "arena-hard-2025"
    parser = _PARSERS[fmt]
    questions: list[Question] = []
    seen: set[str] = set()
    for idx, (lineno, rec) in enumerate(records):
        where = f"{path}:{lineno}"
        try:
            q = parser(rec, where, idx)
        except KeyError as exc:
            raise DataError(f"{where}: missing field {exc} for format '{fmt}'") from None
        _check_question(q, where, fmt)
        if q.qid in seen:
            raise DataError(f"{where}: duplicate question_id {q.question_id!r}")
        if q.reference is not None and len(q.reference) not in (0, len(q.turns)):
            raise DataError(f"{where}: 'reference' has {len(q.reference)} entries for {len(q.turns)} turns")
        seen.add(q.qid)
        questions.append(q)
    if references:
        attach_references(questions, Path(references))
    if categories:
        wanted = {c.lower() for c in categories}
        known = {q.category.lower() for q in questions}
        missing = wanted - known
        if missing:
            raise DataError(f"{path}: no question has category {sorted(missing)}; categories here: {sorted(known)}")
        questions = [q for q in questions if q.category.lower() in wanted]
    return questions[:limit] if limit else questions


def attach_references(questions: list[Question], path: Path) -> int:
    """Attach reference answers from a FastChat reference-answer file (or Arena answers); returns count."""
    by_id = {q.qid: q for q in questions}
    n = 0
    for lineno, rec in read_records(path):
        qid = str(rec.get("question_id"))
        if qid not in by_id:
            continue
        turns = answer_turns(rec, f"{path}:{lineno}")
        by_id[qid].reference = turns
        n += 1
    return n


def answer_turns(rec: dict, where: str) -> list[str]:
    """Turns of an answer record in FastChat/arena-hard v0.1 (`choices[0].turns`) or Arena form."""
    if "choices" in rec:
        choices = rec["choices"]
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise DataError(f"{where}: field 'choices' must be a non-empty list of objects, "
                            f"got {type(choices).__name__}: {choices!r:.60}")
        if "turns" not in choices[0]:
            raise DataError(f"{where}: field 'choices[0].turns' missing")
        return _turn_list(choices[0]["turns"], f"{where} field 'choices[0].turns'")
    if "turns" in rec:
        return _turn_list(rec["turns"], f"{where} field 'turns'")
    raise DataError(f"{where}: no answer turns (expected 'choices[0].turns' or 'turns')")
