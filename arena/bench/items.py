"""The benchmark item and load-result types shared by every loader, and tolerant reading of task files.

A task file's bad records never stop the task: each is set aside with one message `file:line: field ...: why`
(in `LoadResult.rejected`), the good records are loaded, and the count of rejected records is reported with
the task's scores. Only a file with no usable record at all is an error (raised by the task loader)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.records import read_records, scan_jsonl

LETTERS = "ABCDEFGHIJ"


@dataclass
class BenchItem:
    """One benchmark item: the question text, its options (choice tasks) and the gold answer."""

    id: str
    question: str
    answer: str
    choices: list[tuple[str, str]] = field(default_factory=list)  # (label, text)
    accept: list[str] = field(default_factory=list)  # further accepted answers (exact match)
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # 'file:line' the item was read from (for messages about it)


@dataclass
class LoadResult:
    """The items read from a file and the records rejected (with file:line and the reason)."""

    items: list[BenchItem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def json_records(path: Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """(line, record) pairs of a JSONL file (or a JSON list / object file) and one message per bad line.

    A malformed JSONL line is `file:line: not valid JSON (...)`; the other lines are read. A `.json` file is
    one document, so a syntax error there is an error for the whole file (DataError with its line)."""
    good, bad = _scan_records(Path(path))
    return good, [_bad_line(path, lineno, why) for lineno, why in bad]


def _scan_records(path: Path) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    if path.name.removesuffix(".gz").endswith(".json"):
        return read_records(path), []
    return scan_jsonl(path)


def _bad_line(path: Path, lineno: int, why: str) -> str:
    return f"{path}:{lineno}: {why} (fix or delete that line; every line must be one JSON object)"


def first_record(path: Path) -> dict:
    """The first good record of a JSON/JSONL file (for format detection); a file without one is an error."""
    good, bad = json_records(path)
    if not good:
        raise DataError(f"{path}: no usable JSON record in the file" + (f"; first problem: {bad[0]}" if bad else ""))
    return good[0][1]


Parser = Callable[[dict, int], "BenchItem | str"]


def load_jsonl(path: Path, parse: Parser,
               expand: Callable[[list[tuple[int, dict]]], list[tuple[int, dict]]] | None = None) -> LoadResult:
    """Every record of a JSON/JSONL file through `parse(record, index)`, which returns an item or the reason it
    is rejected (naming the field); bad lines and rejected records become `file:line: ...` messages.
    `expand` turns the file's records into the item records (a JSON file holding an `examples` list)."""
    path = Path(path)
    out = LoadResult()
    records, bad = _scan_records(path)
    out.rejected = [_bad_line(path, lineno, why) for lineno, why in bad]
    # an item's index (its id when it has none) counts the malformed lines too: fixing one later shifts no
    # other item's id (ids key the answer cache and the few-shot draws)
    position = {lineno: i for i, lineno in enumerate(sorted([n for n, _ in records] + [n for n, _ in bad]))}
    if expand is not None and (expanded := expand(records)) is not records:
        records, position = expanded, {}
    for idx, (lineno, rec) in enumerate(records):
        got = parse(rec, position.get(lineno, idx) if bad else idx)
        if isinstance(got, str):
            out.rejected.append(f"{path}:{lineno}: {got}")
        else:
            got.where = f"{path}:{lineno}"
            out.items.append(got)
    out.rejected.sort(key=lambda msg: _line_of(msg, str(path)))
    return out


def _line_of(message: str, prefix: str) -> int:
    rest = message[len(prefix) + 1:] if message.startswith(prefix + ":") else ""
    head = rest.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


def item_id(rec: dict, idx: int, *keys: str) -> str:
    """The record's id from the first of `keys` present (default 'id'), else its 0-based index in the file."""
    for key in keys or ("id",):
        value = rec.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return str(idx)
