"""Benchmark files: GSM8K, ARC, HellaSwag, BBH, exact-match, reference and code JSONL; MMLU, C-Eval and CMMLU CSV
(arena.bench.loaders_csv). Every loader rejects bad records one by one (`file:line: field: why`) and keeps the rest."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from arena.bench.bbh import expand_examples, parse_bbh
from arena.bench.hellaswag import parse_hellaswag
from arena.bench.items import LETTERS, BenchItem, LoadResult, first_record, load_jsonl
from arena.bench.loaders_csv import load_ceval, load_cmmlu, load_mmlu, sniff_csv
from arena.bench.scoring import normalize_text, parse_number
from arena.errors import DataError


def gsm8k_gold(answer: str) -> str | None:
    """The number after '####' in a GSM8K worked answer, canonicalised ('1,000' -> '1000')."""
    if "####" not in answer:
        return None
    return parse_number(answer.rsplit("####", 1)[1])


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
    if len(set(labels)) < len(labels):
        return f"choice labels must differ; got {labels}"
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
    if not all(normalize_text(a) for a in answers):  # '' or 'The.' would match an empty or one-article reply
        return "field 'answer' must have text left after normalisation (not empty, not only punctuation/articles)"
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
        if not isinstance(tests, list):  # one text would be split into characters by the test runner
            return "field 'test_list' must be a list of assert lines ([\"assert f(1) == 2\"]), not a text"
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
    return load_jsonl(path, _reference)


def load_code(path: Path) -> LoadResult:
    """Code JSONL: HumanEval (`task_id, prompt, test, entry_point`) or MBPP (`task_id, text, test_list`)."""
    return load_jsonl(path, _code)


def load_gsm8k(path: Path) -> LoadResult:
    """GSM8K JSONL: `question`, `answer` ending in '#### N'."""
    return load_jsonl(path, _gsm8k)


def load_arc(path: Path) -> LoadResult:
    """ARC JSONL: `question.stem`, `question.choices[{text,label}]`, `answerKey`."""
    return load_jsonl(path, _arc)


def load_exact(path: Path) -> LoadResult:
    """Generic exact-match JSONL: `{id, prompt, answer}` (answer may be a list of accepted texts)."""
    return load_jsonl(path, _exact)


def load_bbh(path: Path) -> LoadResult:
    """BBH: JSONL `{input, target}` per line, or BIG-Bench Hard's JSON `{"examples": [...]}`."""
    return load_jsonl(path, parse_bbh, expand=expand_examples)


def load_hellaswag(path: Path) -> LoadResult:
    """HellaSwag JSONL: `ctx` (or `ctx_a` + `ctx_b`), `endings`, `label`, optional `activity_label`."""
    return load_jsonl(path, parse_hellaswag)


LOADERS: dict[str, Callable[[Path], LoadResult]] = {
    "gsm8k": load_gsm8k,
    "arc": load_arc,
    "mmlu": load_mmlu,
    "mmlu-original": lambda p: load_mmlu(p, original=True),
    "ceval": load_ceval,
    "cmmlu": load_cmmlu,
    "hellaswag": load_hellaswag,
    "bbh": load_bbh,
    "jsonl": load_exact,
    "reference": load_reference,
    "humaneval": load_code,
    "mbpp": load_code,
}
DEFAULT_KIND: dict[str, str] = {"gsm8k": "numeric", "arc": "choice", "mmlu": "choice",
                                "mmlu-original": "choice", "ceval": "choice", "cmmlu": "choice",
                                "hellaswag": "choice", "bbh": "exact", "jsonl": "exact",
                                "reference": "reference", "humaneval": "code", "mbpp": "code"}
ZH_FORMATS = ("ceval", "cmmlu")  # their prompts are in Chinese unless the task says `language: en`


def detect_format(path: Path) -> str:
    """Guess a benchmark file's format from its name and first usable record (CSV: from the header)."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".csv":
        return sniff_csv(path)
    rec = first_record(path)
    if isinstance(rec.get("examples"), list):  # BIG-Bench Hard's JSON: {"examples": [{input, target}]}
        rec = next((ex for ex in rec["examples"] if isinstance(ex, dict)), {})
    if isinstance(rec.get("question"), dict) and "answerKey" in rec:
        return "arc"
    if "question" in rec and isinstance(rec.get("answer"), str) and "####" in rec["answer"]:
        return "gsm8k"
    if "endings" in rec and ("ctx" in rec or "ctx_a" in rec):
        return "hellaswag"
    if "input" in rec and "target" in rec:
        return "bbh"
    if "prompt" in rec and "answer" in rec:
        return "jsonl"
    if "entry_point" in rec and "test" in rec:
        return "humaneval"
    if "test_list" in rec:
        return "mbpp"
    if "prompt" in rec and ("reference" in rec or "references" in rec):
        return "reference"
    raise DataError(f"{path}: cannot tell the benchmark format from fields {sorted(rec)}",
                    hint="set 'format' on the task: " + ", ".join(LOADERS))


def load_items(path: Path, fmt: str = "auto", limit: int | None = None) -> tuple[str, LoadResult]:
    """Load a benchmark file in `fmt` (or the detected format); returns (format, items and rejects).

    Bad records (malformed JSON lines, missing fields, an answer outside the options, a repeated id) are
    rejected one by one with `file:line: why`; the other items load."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: benchmark file not found")
    if fmt == "auto":
        fmt = detect_format(path)
    result = LOADERS[fmt](path)
    seen: dict[str, str] = {}
    unique = []
    for item in result.items:
        if item.id in seen:
            result.rejected.append(f"{item.where or path}: duplicate id '{item.id}' (first at {seen[item.id]}; "
                                   "only the first is kept)")
            continue
        seen[item.id] = item.where or str(path)
        unique.append(item)
    result.items = unique
    if limit is not None:
        result.items = result.items[:limit]
    return fmt, result
