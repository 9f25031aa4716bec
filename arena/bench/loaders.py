"""Benchmark files: GSM8K JSONL, ARC JSONL, MMLU CSV (with or without header) and generic exact-match JSONL."""
from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.bench.scoring import parse_number
from arena.errors import DataError
from arena.records import read_records

LETTERS = "ABCDEFGHIJ"
MMLU_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]


@dataclass
class BenchItem:
    """One benchmark item: the question text, its options (choice tasks) and the gold answer."""

    id: str
    question: str
    answer: str
    choices: list[tuple[str, str]] = field(default_factory=list)  # (label, text)
    accept: list[str] = field(default_factory=list)  # further accepted answers (exact match)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadResult:
    """The items read from a file and the records rejected (with file:line and the reason)."""

    items: list[BenchItem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def gsm8k_gold(answer: str) -> str | None:
    """The number after '####' in a GSM8K worked answer, canonicalised ('1,000' -> '1000')."""
    if "####" not in answer:
        return None
    return parse_number(answer.rsplit("####", 1)[1])


def _jsonl(path: Path, parse: Callable[[dict, int], BenchItem | str]) -> LoadResult:
    out = LoadResult()
    for idx, (lineno, rec) in enumerate(read_records(path)):
        got = parse(rec, idx)
        if isinstance(got, str):
            out.rejected.append(f"{path}:{lineno}: {got}")
        else:
            out.items.append(got)
    return out


def _gsm8k(rec: dict, idx: int) -> BenchItem | str:
    q, a = rec.get("question"), rec.get("answer")
    if not isinstance(q, str) or not isinstance(a, str):
        return "needs text fields 'question' and 'answer'"
    gold = gsm8k_gold(a)
    if gold is None:
        return "field 'answer' has no number after '####'"
    return BenchItem(str(rec.get("id", idx)), q, gold, meta={"worked_answer": a})


def _arc(rec: dict, idx: int) -> BenchItem | str:
    q = rec.get("question")
    if not isinstance(q, dict) or not isinstance(q.get("stem"), str) or not isinstance(q.get("choices"), list):
        return "needs 'question.stem' and 'question.choices'"
    raw = [(str(c.get("label", "")).strip(), c.get("text")) for c in q["choices"] if isinstance(c, dict)]
    if len(raw) < 2 or len(raw) > len(LETTERS) or any(not lab or not isinstance(t, str) for lab, t in raw):
        return "choices must be 2-10 objects with 'label' and 'text'"
    key = str(rec.get("answerKey", "")).strip()
    labels = [lab for lab, _ in raw]
    if key not in labels:
        return f"answerKey '{key}' is not one of the labels {labels}"
    # Some ARC items are labelled 1-4: shown to the model as A-D so one letter scorer fits all.
    letters = list(LETTERS[: len(raw)])
    choices = [(letters[i], text) for i, (_, text) in enumerate(raw)]
    meta = {"labels": labels} if labels != letters else {}
    return BenchItem(str(rec.get("id", idx)), q["stem"], letters[labels.index(key)], choices, meta=meta)


def _exact(rec: dict, idx: int) -> BenchItem | str:
    prompt, ans = rec.get("prompt"), rec.get("answer")
    if not isinstance(prompt, str):
        return "needs a text field 'prompt'"
    answers = ans if isinstance(ans, list) else [ans]
    if not answers or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in answers):
        return "field 'answer' must be text (or a list of accepted texts)"
    answers = [str(a) for a in answers]
    return BenchItem(str(rec.get("id", idx)), prompt, answers[0], accept=answers[1:])


def _texts(value: object) -> list[str] | None:
    """A non-empty text or list of non-empty texts as a list; None for anything else."""
    vals = value if isinstance(value, list) else [value]
    if vals and all(isinstance(v, str) and v.strip() for v in vals):
        return list(vals)  # type: ignore[arg-type]
    return None


def _reference(rec: dict, idx: int) -> BenchItem | str:
    prompt = rec.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "needs a text field 'prompt'"
    key = "references" if "references" in rec else "reference"
    refs = _texts(rec.get(key))
    if refs is None:
        return f"field '{key}' must be a non-empty text or a list of them (the reference answers)"
    return BenchItem(str(rec.get("id", idx)), prompt, refs[0], accept=refs[1:])


def _code(rec: dict, idx: int) -> BenchItem | str:
    item_id = str(rec.get("task_id", rec.get("id", idx)))
    if "test_list" in rec:  # MBPP: text, test_list, optional test_setup_code
        tests, text = rec.get("test_list"), rec.get("text", rec.get("prompt"))
        if not isinstance(text, str) or _texts(tests) is None:
            return "needs 'text' and a non-empty 'test_list' of assert lines"
        question = f"{text}\nYour code should pass these tests:\n" + "\n".join(tests)
        return BenchItem(item_id, question, str(rec.get("code", "")), meta={
            "style": "mbpp", "test_list": tests, "test_setup_code": str(rec.get("test_setup_code") or "")})
    for name in ("prompt", "test", "entry_point"):
        if not isinstance(rec.get(name), str) or not rec[name].strip():
            return f"needs a text field '{name}' (HumanEval: prompt, test with check(candidate), entry_point)"
    return BenchItem(item_id, rec["prompt"], str(rec.get("canonical_solution", "")),
                     meta={"style": "humaneval", "test": rec["test"], "entry_point": rec["entry_point"].strip()})


def load_reference(path: Path) -> LoadResult:
    """Generation-with-references JSONL: `{id, prompt, reference}` (or `references`: a list of texts)."""
    return _jsonl(path, _reference)


def load_code(path: Path) -> LoadResult:
    """Code JSONL: HumanEval (`task_id, prompt, test, entry_point`) or MBPP (`task_id, text, test_list`)."""
    return _jsonl(path, _code)


def load_gsm8k(path: Path) -> LoadResult:
    """GSM8K JSONL: `question`, `answer` ending in '#### N'."""
    return _jsonl(path, _gsm8k)


def load_arc(path: Path) -> LoadResult:
    """ARC JSONL: `question.stem`, `question.choices[{text,label}]`, `answerKey`."""
    return _jsonl(path, _arc)


def load_exact(path: Path) -> LoadResult:
    """Generic exact-match JSONL: `{id, prompt, answer}` (answer may be a list of accepted texts)."""
    return _jsonl(path, _exact)


def _mmlu_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise DataError(f"{path}: no .csv files in this folder")
        return files
    if not path.exists():
        raise DataError(f"{path}: file not found")
    return [path]


def _mmlu_subject(path: Path) -> str:
    stem = path.stem
    for suffix in ("_test", "_dev", "_val"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _mmlu_row(row: list[str], letters_answer: bool) -> tuple[str, list[str], str] | str:
    if len(row) != 6:
        return f"expected 6 columns (question, 4 choices, answer), got {len(row)}"
    q, *opts, ans = row
    ans = ans.strip()
    if letters_answer:
        if ans not in LETTERS[:4]:
            return f"answer '{ans}' is not a letter A-D"
        return q, opts, ans
    if ans not in ("0", "1", "2", "3"):
        return f"answer '{ans}' is not a 0-based index 0-3"
    return q, opts, LETTERS[int(ans)]


def load_mmlu(path: Path, original: bool | None = None) -> LoadResult:
    """MMLU CSV (a file or a folder of subject files): header `question,choice0..3,answer` with a 0-based
    index, or the original header-less layout with letter answers (`original=None`: detected per file)."""
    out = LoadResult()
    for file in _mmlu_files(Path(path)):
        subject = _mmlu_subject(file)
        with open(file, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        has_header = bool(rows) and [c.strip().lower() for c in rows[0]] == MMLU_HEADER
        letters = (not has_header) if original is None else original
        start = 1 if has_header else 0
        for lineno, row in enumerate(rows[start:], start=start + 1):
            if not any(c.strip() for c in row):
                continue
            got = _mmlu_row(row, letters)
            if isinstance(got, str):
                out.rejected.append(f"{file}:{lineno}: {got}")
                continue
            q, opts, gold = got
            choices = [(LETTERS[i], o) for i, o in enumerate(opts)]
            out.items.append(BenchItem(f"{subject}-{lineno - start}", q, gold, choices, meta={"subject": subject}))
    return out


LOADERS: dict[str, Callable[[Path], LoadResult]] = {
    "gsm8k": load_gsm8k,
    "arc": load_arc,
    "mmlu": load_mmlu,
    "mmlu-original": lambda p: load_mmlu(p, original=True),
    "jsonl": load_exact,
    "reference": load_reference,
    "humaneval": load_code,
    "mbpp": load_code,
}
DEFAULT_KIND: dict[str, str] = {"gsm8k": "numeric", "arc": "choice", "mmlu": "choice",
                                "mmlu-original": "choice", "jsonl": "exact",
                                "reference": "reference", "humaneval": "code", "mbpp": "code"}


def detect_format(path: Path) -> str:
    """Guess a benchmark file's format from its name and first record."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".csv":
        return "mmlu"
    records = read_records(path)
    if not records:
        raise DataError(f"{path}: no records in the file")
    rec = records[0][1]
    if isinstance(rec.get("question"), dict) and "answerKey" in rec:
        return "arc"
    if "question" in rec and isinstance(rec.get("answer"), str) and "####" in rec["answer"]:
        return "gsm8k"
    if "prompt" in rec and "answer" in rec:
        return "jsonl"
    if "entry_point" in rec and "test" in rec:
        return "humaneval"
    if "test_list" in rec:
        return "mbpp"
    if "prompt" in rec and ("reference" in rec or "references" in rec):
        return "reference"
    raise DataError(f"{path}: cannot tell the benchmark format from fields {sorted(rec)}",
                    hint="set 'format' on the task: gsm8k, arc, mmlu, mmlu-original, jsonl, reference, humaneval or mbpp")


def load_items(path: Path, fmt: str = "auto", limit: int | None = None) -> tuple[str, LoadResult]:
    """Load a benchmark file in `fmt` (or the detected format); returns (format, items and rejects)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: benchmark file not found")
    if fmt == "auto":
        fmt = detect_format(path)
    result = LOADERS[fmt](path)
    seen: set[str] = set()
    unique = []
    for item in result.items:
        if item.id in seen:
            result.rejected.append(f"{path}: duplicate id '{item.id}' (only the first is kept)")
            continue
        seen.add(item.id)
        unique.append(item)
    result.items = unique
    if limit is not None:
        result.items = result.items[:limit]
    return fmt, result
