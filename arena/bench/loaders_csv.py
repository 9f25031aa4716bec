"""Multiple-choice CSV benchmarks: MMLU, C-Eval and CMMLU (a file, a folder of subject files, or a dataset root
with `dev/`, `val/`, `test/` split folders).

| format | header | answer | subject from |
|---|---|---|---|
| `mmlu` | `question,choice0,choice1,choice2,choice3,answer` (or none: the original layout) | 0-based index (letters without header) | `<subject>_test.csv` |
| `ceval` | `id,question,A,B,C,D,answer[,explanation]` | letter | `<subject>_val.csv`, `<subject>_dev.csv` |
| `cmmlu` | `,Question,A,B,C,D,Answer` (the first column is an unnamed row index) | letter | `<subject>.csv` |

A dataset root is read from its evaluation split: `val` for C-Eval (its test answers are not public), `test`
for MMLU and CMMLU; its `dev` split is where few-shot examples come from (`dev_split`). C-Eval's
`explanation` column (dev split) is kept as the example's worked reasoning for chain-of-thought prompts."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from arena.bench.categories import ceval_category, cmmlu_category
from arena.bench.items import LETTERS, BenchItem, LoadResult
from arena.errors import DataError
from arena.records import read_text

MMLU_HEADER = ["question", "choice0", "choice1", "choice2", "choice3", "answer"]
CSV_FORMATS = ("mmlu", "mmlu-original", "ceval", "cmmlu")
EVAL_SPLITS = {"ceval": ("val", "test"), "cmmlu": ("test",), "mmlu": ("test",), "mmlu-original": ("test",)}
SPLITS = ("dev", "val", "test")
OPTIONS = ["A", "B", "C", "D"]
# Chinese formats: the context a log-likelihood option continues lists the options and ends with "答案："
# (letters are the continuations, as lm-evaluation-harness scores C-Eval and CMMLU).
ZH_CONTEXT = "{question}\n{options}\n答案："


@dataclass(frozen=True)
class Layout:
    """Where the columns of one CSV file are (None: the column is absent)."""

    question: int
    options: list[int]
    answer: int | None
    row_id: int | None = None
    explanation: int | None = None
    letters: bool = True   # answers are letters A-D (else 0-based indexes)
    header: bool = True

    @property
    def width(self) -> int:
        """How many columns a row needs to reach every required column."""
        cols = [self.question, *self.options] + ([self.answer] if self.answer is not None else [])
        return max(cols) + 1


def _norm(cells: list[str]) -> list[str]:
    return [c.strip().lstrip("\ufeff").lower() for c in cells]


def detect_csv(header: list[str]) -> str:
    """The CSV format a header row belongs to: ceval, cmmlu, else mmlu (whose loader tells a header from none)."""
    cells = _norm(header)
    if cells[:len(MMLU_HEADER)] == MMLU_HEADER:
        return "mmlu"
    if cells[:6] == ["id", "question", "a", "b", "c", "d"]:
        return "ceval"
    if len(cells) >= 6 and cells[0] == "" and cells[1:6] == ["question", "a", "b", "c", "d"]:
        return "cmmlu"
    return "mmlu"


def _layout(fmt: str, header: list[str], file: Path) -> Layout:
    cells = _norm(header)
    if fmt == "mmlu-original" or (fmt == "mmlu" and cells[:6] != MMLU_HEADER):
        return Layout(0, [1, 2, 3, 4], 5, header=False)
    if fmt == "mmlu":
        return Layout(0, [1, 2, 3, 4], 5, letters=False)
    if "question" not in cells or any(o.lower() not in cells for o in OPTIONS):
        want = "id,question,A,B,C,D,answer[,explanation]" if fmt == "ceval" else ",Question,A,B,C,D,Answer"
        raise DataError(f"{file}:1: not a {fmt} header ({','.join(header)}); expected {want}",
                        hint="set the task's format to the file's layout (mmlu, ceval or cmmlu), or fix the header")
    pick = {c: i for i, c in reversed(list(enumerate(cells)))}  # first occurrence wins
    row_id = pick.get("id", 0 if cells[0] == "" else None)
    return Layout(pick["question"], [pick[o.lower()] for o in OPTIONS], pick.get("answer"), row_id,
                  pick.get("explanation"))


def csv_files(path: Path, fmt: str = "mmlu") -> list[Path]:
    """The subject files of a CSV task: the file itself, a folder's `*.csv`, or a dataset root's eval split."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_dir():
        return [path]
    files = sorted(path.glob("*.csv"))
    if files:
        return _eval_split_files(files, fmt)
    splits = [s for s in EVAL_SPLITS.get(fmt, ("test",)) if (path / s).is_dir()]
    if splits:
        return csv_files(path / splits[0], fmt)
    found = [s for s in SPLITS if (path / s).is_dir()]
    raise DataError(f"{path}: no .csv files in this folder"
                    + (f" (split folders: {', '.join(found)}; {fmt} is evaluated on "
                       f"{' or '.join(EVAL_SPLITS.get(fmt, ('test',)))})" if found else ""),
                    hint="point the task at a folder of subject CSV files or at one file")


def _split_of(file: Path) -> str | None:
    """`val` for `logic_val.csv`; None when the name has no split suffix."""
    stem = file.stem
    return next((s for s in SPLITS if stem.endswith(f"_{s}")), None)


def _eval_split_files(files: list[Path], fmt: str) -> list[Path]:
    """In a flat folder that mixes splits (`logic_dev.csv` beside `logic_val.csv`), only the evaluated split's
    files: dev examples are for few-shot prompts, never scored as test items."""
    splits = {_split_of(f) for f in files}
    if len(splits - {None}) < 2:
        return files
    wanted = next((s for s in EVAL_SPLITS.get(fmt, ("test",)) if s in splits), None)
    if wanted is None:
        raise DataError(f"{files[0].parent}: this folder mixes the {', '.join(sorted(splits - {None}))} splits "
                        f"and has none that {fmt} is evaluated on ({' or '.join(EVAL_SPLITS.get(fmt, ('test',)))})",
                        hint="point the task at one split's files")
    return [f for f in files if _split_of(f) in (wanted, None)]


def dev_split(path: Path) -> Path | None:
    """The dev split beside a CSV task's path: `<root>/dev` for a dataset root, a split folder, or a file in one."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if (folder / "dev").is_dir() and not any(folder.glob("*.csv")):
        return folder / "dev"
    if folder.name in SPLITS and folder.name != "dev" and (folder.parent / "dev").is_dir():
        return folder.parent / "dev"
    return None


def subject_of(file: Path) -> str:
    """The subject of a subject file: its name without `_test` / `_dev` / `_val` (MMLU and C-Eval names)."""
    stem = file.stem
    for suffix in ("_test", "_dev", "_val"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _rows(file: Path) -> Iterator[tuple[int, list[str] | str]]:
    """(first line of the row, its cells) for each CSV row, or (line, why) when the CSV itself is broken there
    (reading stops at that point: later rows cannot be told apart reliably)."""
    text = read_text(file)
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"not valid CSV ({exc}); the rest of the file is not read"
            return
        yield start, row
        start = reader.line_num + 1


def _row_item(fmt: str, lay: Layout, row: list[str], subject: str, n: int) -> BenchItem | str:
    """One row as an item, or why it is rejected (naming the column)."""
    if not any(c.strip() for c in row):
        return ""
    if len(row) < lay.width:
        names = MMLU_HEADER if fmt == "mmlu" and lay.header else ["question", *OPTIONS, "answer"]
        cols = [lay.question, *lay.options, lay.answer]
        absent = [name for name, col in zip(names, cols) if col is not None and col >= len(row)]
        return f"missing column(s) {', '.join(repr(a) for a in absent)} (the row has {len(row)} of {lay.width})"
    question = row[lay.question]
    if not question.strip():
        return "field 'question' is empty"
    if lay.answer is None:
        return ("no 'answer' column (C-Eval's test split has no public answers: use the val split)"
                if fmt == "ceval" else "no 'answer' column")
    answer = row[lay.answer].strip().upper() if lay.letters else row[lay.answer].strip()
    labels = OPTIONS if lay.letters else ["0", "1", "2", "3"]
    if not answer:
        return "field 'answer' is empty"
    if answer not in labels:
        kind = "a letter A-D" if lay.letters else "a 0-based index 0-3"
        return f"field 'answer' is '{row[lay.answer].strip()}', not one of the options ({kind})"
    gold = answer if lay.letters else LETTERS[int(answer)]
    options = [row[i] for i in lay.options]
    raw_id = row[lay.row_id].strip() if lay.row_id is not None and lay.row_id < len(row) else ""
    meta: dict[str, object] = {"subject": subject}
    if fmt in ("ceval", "cmmlu"):
        meta["language"] = "zh"
        meta["category"] = (ceval_category if fmt == "ceval" else cmmlu_category)(subject)
        listed = "\n".join(f"{lab}. {text}" for lab, text in zip(OPTIONS, options))
        meta["ll_context"] = ZH_CONTEXT.format(question=question.strip(), options=listed)
        meta["ll_continuations"] = list(OPTIONS)
    if lay.explanation is not None and lay.explanation < len(row) and row[lay.explanation].strip():
        meta["rationale"] = row[lay.explanation].strip()
    return BenchItem(f"{subject}-{raw_id or n}", question, gold, list(zip(OPTIONS, options)), meta=meta)


def load_csv(path: Path, fmt: str) -> LoadResult:
    """A CSV task in `fmt` (mmlu: header detected per file; mmlu-original: never a header; ceval; cmmlu)."""
    out = LoadResult()
    for file in csv_files(Path(path), fmt):
        subject = subject_of(file)
        rows = iter(_rows(file))
        first = next(rows, None)
        if first is None:
            out.rejected.append(f"{file}: empty file (no header, no rows)")
            continue
        head = first[1] if isinstance(first[1], list) else []
        lay = _layout(fmt, head, file)
        body = rows if lay.header else iter([first, *rows])
        for n, (lineno, row) in enumerate(body, start=1):  # ids <subject>-<n>: n counts every data row
            if isinstance(row, str):
                out.rejected.append(f"{file}:{lineno}: {row}")
                continue
            got = _row_item(fmt, lay, row, subject, n)
            if got == "":
                continue
            if isinstance(got, str):
                out.rejected.append(f"{file}:{lineno}: {got}")
                continue
            got.where = f"{file}:{lineno}"
            out.items.append(got)
    return out


def load_mmlu(path: Path, original: bool | None = None) -> LoadResult:
    """MMLU CSV (a file, a folder of subject files or a dataset root): header `question,choice0..3,answer`
    with a 0-based index, or the original header-less layout with letter answers (`original=None`: per file)."""
    return load_csv(path, "mmlu-original" if original else "mmlu")


def load_ceval(path: Path) -> LoadResult:
    """C-Eval CSV: `id,question,A,B,C,D,answer[,explanation]`, one file per subject (`<subject>_val.csv`)."""
    return load_csv(path, "ceval")


def load_cmmlu(path: Path) -> LoadResult:
    """CMMLU CSV: `,Question,A,B,C,D,Answer` (unnamed index column), one file per subject (`<subject>.csv`)."""
    return load_csv(path, "cmmlu")


def sniff_csv(path: Path) -> str:
    """The format of a CSV task from the header of its first subject file."""
    first = csv_files(Path(path), "ceval")[0]  # a dataset root: its val split, else test
    for _, row in _rows(first):
        return detect_csv(row) if isinstance(row, list) else "mmlu"
    return "mmlu"
