"""Cached loading of workspace and run files (FORMATS.md) for the app; reads files only, never models.

Every cached loader takes a file stamp (path, mtime, size) so a rewritten file is read again, and
returns plain data (dicts, tuples, DataFrames) that st.cache_data can copy cheaply.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from arena.errors import DataError
from arena.rating.head_to_head import HEAD_TO_HEAD_CSV, read_head_to_head
from arena.records import iter_jsonl, safe_filename
from arena.run_status import run_kind, shown_status

DEFAULT_WORKSPACE = "arena-workspace"
Stamp = tuple[str, int, int]
GAMES_SEP = "\x1f"


def workspace_from_args(argv: list[str] | None = None) -> Path:
    """The workspace from `-- --workspace DIR`, else $ARENA_WORKSPACE, else ./arena-workspace."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    chosen = known.workspace or os.environ.get("ARENA_WORKSPACE") or DEFAULT_WORKSPACE
    return Path(chosen).expanduser().resolve()


def stamp(path: Path) -> Stamp | None:
    """(path, mtime_ns, size) of a file, or None when it does not exist."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (str(path), info.st_mtime_ns, info.st_size)


@dataclass(frozen=True)
class RunInfo:
    """What the app needs to know about one run folder before opening its files."""

    run_id: str
    path: str
    started: str | None
    status: str
    mode: str | None
    dry_run: bool
    judge_names: tuple[str, ...]
    files: frozenset[str] = field(default_factory=frozenset)
    n_models: int = 0
    errors: int = 0
    first_error: str | None = None
    run_name: str | None = None
    judge_label: str | None = None
    is_bench: bool = False
    status_reasons: tuple[str, ...] = ()
    process: tuple[tuple[str, Any], ...] = ()  # who runs it (pid, host, start time), to tell `killed`

    def has(self, name: str) -> bool:
        """Whether the run folder holds this file."""
        return name in self.files

    def battles_file(self) -> Path:
        """battles.jsonl, or battles.jsonl.gz when only the gzipped file is there (a run archived by hand)."""
        gz = "battles.jsonl.gz"
        return self.file(gz if self.has(gz) and not self.has("battles.jsonl") else "battles.jsonl")

    def file(self, name: str) -> Path:
        """Path of one of the run's files."""
        return Path(self.path) / name

    def load_json(self, name: str) -> Any:
        """One of the run's JSON files, parsed (cached); None when the run has no such file."""
        return read_json(self.file(name)) if self.has(name) else None

    @property
    def series(self) -> str:
        """Which comparable series the run belongs to: run name, mode and judge (for the History page)."""
        return " · ".join((self.run_name or "(unnamed)", self.mode or "?", self.judge_label or "?"))

    @property
    def label(self) -> str:
        """Short text for run pickers."""
        parts = [self.run_id, self.mode or "?", self.status]
        return " · ".join(parts) + (" · dry run" if self.dry_run else "")


def _judge_names(config: dict[str, Any]) -> tuple[str, ...]:
    """Judge names named in a run's config (one judge, or a list under 'judges')."""
    names: list[str] = []
    for item in [config.get("judge")] + list(config.get("judges") or []):
        if isinstance(item, dict):
            name = item.get("name") or item.get("model")
            if name:
                names.append(str(name))
    return tuple(dict.fromkeys(names))


def _judge_label(judge: dict[str, Any]) -> str | None:
    """The judge's name as in files: name, else model (a panel without a name is 'panel')."""
    if judge.get("name"):
        return str(judge["name"])
    if judge.get("panel"):
        return "panel"
    return str(judge["model"]).replace("/", "_") if judge.get("model") else None


def _first_error(errors: Any) -> str | None:
    """The first recorded error's message."""
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0]
    return str(first.get("message", first) if isinstance(first, dict) else first)


def _run_info(folder: Path, files: frozenset[str]) -> RunInfo:
    """Read one run.json into a RunInfo (a broken run.json gives status 'unreadable')."""
    try:
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {"status": "unreadable"}
    if not isinstance(info, dict):
        info = {"status": "unreadable"}
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    judge = config.get("judge") if isinstance(config.get("judge"), dict) else {}
    stages = info.get("stages") if isinstance(info.get("stages"), dict) else {}
    models = (stages.get("answers") or {}).get("models") or {}
    imported = config.get("import") if isinstance(config.get("import"), dict) else {}
    run_name = config.get("run_name") or (f"imported {imported['format']}" if imported.get("format") else None)
    errors = info.get("errors") if isinstance(info.get("errors"), list) else []
    return RunInfo(
        run_id=folder.name,
        path=str(folder),
        started=info.get("started"),
        status=str(info.get("status", "unknown")),
        mode=judge.get("mode"),
        dry_run=bool(config.get("dry_run", info.get("dry_run", False))),
        judge_names=_judge_names(config),
        files=files,
        n_models=len(models) if isinstance(models, dict) else 0,
        errors=len(errors),
        first_error=_first_error(errors),
        run_name=str(run_name) if run_name else None,
        judge_label=_judge_label(judge),
        is_bench=run_kind(info) == "bench",
        status_reasons=tuple(str(r) for r in info.get("status_reasons") or [] if r),
        process=tuple(sorted(info["process"].items())) if isinstance(info.get("process"), dict) else (),
    )


def live_status(run: RunInfo) -> RunInfo:
    """The run with a `running` status checked against its process: `killed` when it is gone."""
    if run.status != "running":
        return run
    return replace(run, status=shown_status({"status": run.status, "process": dict(run.process) or None}))


@st.cache_data(show_spinner=False, max_entries=64)
def _runs_cached(runs_dir: str, signature: tuple) -> list[RunInfo]:
    """Run infos for a given listing signature (recomputed when any run file changes)."""
    return [_run_info(Path(runs_dir) / name, frozenset(f for f, _, _ in files)) for name, files in signature]


def list_runs(workspace: Path) -> list[RunInfo]:
    """Runs of a workspace (folders with a run.json), oldest first."""
    runs_dir = Path(workspace) / "runs"
    if not runs_dir.is_dir():
        return []
    signature = []
    for entry in sorted(_entries(runs_dir), key=lambda e: e.name):
        try:
            if not entry.is_dir():
                continue
        except OSError:
            continue
        files = _file_stamps(entry.path)
        if any(name == "run.json" for name, _, _ in files):
            signature.append((entry.name, files))
    return [live_status(r) for r in _runs_cached(str(runs_dir), tuple(signature))]


def _entries(folder: str | Path) -> list[os.DirEntry]:
    """Folder entries without dotfiles (temp files of atomic writes); empty when it vanished."""
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if not e.name.startswith(".")]
    except OSError:
        return []


def _file_stamps(folder: str) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime_ns, size) of a run folder's files; a file renamed or deleted meanwhile is skipped."""
    out = []
    for entry in _entries(folder):
        try:
            if entry.is_file():
                info = entry.stat()
                out.append((entry.name, info.st_mtime_ns, info.st_size))
        except OSError:
            continue
    return tuple(sorted(out))


def default_run(runs: list[RunInfo]) -> RunInfo | None:
    """The latest run with a leaderboard (or battles, or scores), else the latest run."""
    for wanted in ("leaderboard.json", "battles.jsonl", "scores.jsonl"):
        with_file = [r for r in runs if r.has(wanted)]
        if with_file:
            return with_file[-1]
    return runs[-1] if runs else None


@st.cache_data(show_spinner=False, max_entries=256)
def _json_cached(file: Stamp) -> Any:
    """Parsed JSON of a file at a given stamp."""
    try:
        return json.loads(Path(file[0]).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{file[0]}: not valid JSON ({exc})") from None


def read_json(path: Path) -> Any:
    """Parsed JSON file (cached), or None when the file is absent."""
    file = stamp(Path(path))
    return None if file is None else _json_cached(file)


def _records(path: str) -> list[dict[str, Any]]:
    """Records of a JSONL file; malformed lines are skipped (the app shows what it can)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [rec for _, rec in iter_jsonl(Path(path), strict=False)]


def _battles_arrow(path: str) -> pd.DataFrame | None:
    """All battles of a file read by pyarrow's JSON reader (the whole file in C++, about 10x faster than line
    by line; text columns stay Arrow-backed, which the cache also pickles fast), with the same columns and
    values as the line reader; None when pyarrow cannot take the file as it is (a malformed line, a field
    whose type changes between lines, a timestamp-looking text), and the line reader takes over."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    from arena.rating.stream import check_utf8

    try:
        table = pajson.read_json(path)
        check_utf8(table)
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        return None
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if name in ("question_id", "category", "judge") and pa.types.is_integer(kind):
            table = table.set_column(table.schema.get_field_index(name), name, pc.cast(column, pa.string()))
        elif name in ("question_id", "category", "judge") and not (pa.types.is_string(kind) or pa.types.is_null(kind)):
            return None  # e.g. float ids: str() of a Python float is what the line reader shows
        elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return None
    if "games" in table.column_names:
        games = table.column("games")
        if not (pa.types.is_list(games.type) and pa.types.is_string(games.type.value_type)):
            return None
        joined = pc.fill_null(pc.binary_join(games, GAMES_SEP), "")
        table = table.set_column(table.schema.get_field_index("games"), "games", joined)
    return table.to_pandas()


@st.cache_data(show_spinner="Loading battles…", max_entries=8)
def _battles_cached(file: Stamp) -> pd.DataFrame:
    """All battles of one file as a table (question_id as text, games kept)."""
    fast = _battles_arrow(file[0])
    return fast if fast is not None else _battles_lines(file[0])


def _battles_lines(path: str) -> pd.DataFrame:
    """All battles of a file read line by line (malformed lines skipped)."""
    frame = pd.DataFrame.from_records(_records(path))
    if frame.empty:
        return frame
    for column in ("question_id", "category", "judge"):  # absent on a line: missing, not the text "nan"
        if column in frame:
            frame[column] = frame[column].map(lambda v: None if v is None or _is_nan(v) else str(v))
    if "games" in frame:  # one string per battle pickles much faster than 200k small lists
        frame["games"] = frame["games"].map(
            lambda g: GAMES_SEP.join(map(str, g)) if isinstance(g, list) else ""
        )
    return frame


def _is_nan(value: object) -> bool:
    """A float NaN (what pandas puts where a record lacks a field)."""
    return isinstance(value, float) and value != value  # noqa: PLR0124


def battle_games(value: object) -> list[str]:
    """The judgment keys of a battle row's 'games' cell."""
    return [k for k in str(value or "").split(GAMES_SEP) if k]


def load_battles(run: RunInfo) -> pd.DataFrame:
    """The run's battles (empty table when there are none)."""
    file = stamp(run.battles_file())
    return pd.DataFrame() if file is None else _battles_cached(file)


@st.cache_data(show_spinner=False, max_entries=16)
def _head_to_head_cached(file: Stamp) -> pd.DataFrame | None:
    """A precomputed head-to-head table (arena.rating.head_to_head)."""
    return read_head_to_head(Path(file[0]))


def load_head_to_head(run: RunInfo) -> pd.DataFrame | None:
    """The run's head_to_head.csv (battles, points, weight per ordered pair and category) when it is at
    least as new as battles.jsonl; None otherwise (the page then reads the battles)."""
    table, battles = stamp(run.file(HEAD_TO_HEAD_CSV)), stamp(run.battles_file())
    if table is None or (battles is not None and battles[1] > table[1]):
        return None
    return _head_to_head_cached(table)


_KEY_FIRST = b'{"key": "'  # how Arena writes each judgment: its key first


@st.cache_resource(show_spinner="Indexing judgments…", max_entries=8)  # shared, not copied: read only
def _judgment_spans(file: Stamp) -> dict[str, tuple[int, int]]:
    """Byte offset and length of each judgment key's last line (the last record of a key wins), from one
    pass over the lines that parses only lines whose key is not written first (700 MB of judgments: about
    1 s and 60 MB, where parsing every record took 12.6 s and 2.9 GB)."""
    spans: dict[str, tuple[int, int]] = {}
    offset, skip = 0, len(_KEY_FIRST)
    with open(file[0], "rb", buffering=1 << 20) as handle:  # a large buffer: lines come 3x faster
        for line in handle:
            end = line.find(b'"', skip) if line.startswith(_KEY_FIRST) else -1
            if end >= 0 and b"\\" not in line[skip:end]:
                spans[line[skip:end].decode("utf-8", "replace")] = (offset, len(line))
            else:  # another layout, or an escape inside the key: parse the line
                record = _record(line)
                if record is not None and record.get("key") is not None:
                    spans[str(record["key"])] = (offset, len(line))
            offset += len(line)
    return spans


class Judgments:
    """The judgments of one file by key, each parsed from its line when asked for (a run of 200k battles
    holds 400k judgments with the judges' full text: parsing them all would take seconds and gigabytes).
    The key index (`_judgment_spans`) is built on the first lookup, once per file version."""

    def __init__(self, file: Stamp | None) -> None:
        self.file = file

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of a key (None when absent or its line is damaged)."""
        if self.file is None:
            return None
        span = _judgment_spans(self.file).get(key)
        if span is None:
            return None
        with open(self.file[0], "rb") as handle:
            handle.seek(span[0])
            return _record(handle.read(span[1]))


def _record(line: bytes) -> dict[str, Any] | None:
    """One JSONL line's object (None when damaged or not an object)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def load_judgments(run: RunInfo) -> Judgments:
    """The run's judgments by key (empty when absent)."""
    return Judgments(stamp(run.file("judgments.jsonl")))


@st.cache_data(show_spinner=False, max_entries=32)
def _questions_cached(file: Stamp) -> dict[str, dict[str, Any]]:
    """Questions by question_id as text."""
    return {str(rec.get("question_id")): rec for rec in _records(file[0])}


def load_questions(run: RunInfo) -> dict[str, dict[str, Any]]:
    """The run's questions by id (empty when absent)."""
    file = stamp(run.file("questions.jsonl"))
    return {} if file is None else _questions_cached(file)


@st.cache_data(show_spinner=False, max_entries=64)
def _answers_cached(file: Stamp) -> dict[str, dict[str, Any]]:
    """Answer records of one model by key, without the bulky bookkeeping fields."""
    keep = ("key", "model", "question_id", "turns", "status", "finish_reason", "truncated")
    keep += ("completion_tokens", "reasoning")  # reasoning: a parser's thought per turn, shown collapsed
    out: dict[str, dict[str, Any]] = {}
    for rec in _records(file[0]):  # a key resolves to its first ok record, as in arena.answers.AnswerStore
        if rec.get("status", "ok") == "ok":
            out.setdefault(str(rec.get("key")), {k: rec.get(k) for k in keep})
    return out


def find_answer(workspace: Path, run: RunInfo, model: str, question_id: str) -> dict[str, Any] | None:
    """The answer a run used for (model, question): via answers_index.json, else by question id."""
    file = stamp(Path(workspace) / "answers" / f"{safe_filename(model)}.jsonl")
    if file is None:
        return None
    answers = _answers_cached(file)
    index = read_json(run.file("answers_index.json")) or {}
    key = (index.get(model) or {}).get(str(question_id))
    if key is not None and str(key) in answers:
        return answers[str(key)]
    matches = [a for a in answers.values() if str(a.get("question_id")) == str(question_id)]
    return matches[-1] if matches else None


def judged_turns(run: RunInfo, model: str, answer: dict[str, Any]) -> tuple[list[str], list[str | None]]:
    """An answer's turns as the run's judges read them, and each turn's thought, which judges did not read
    (None where there was none): the thought a server's reasoning parser returned apart (`reasoning` in the
    record) and the thought block taken off the text (unless the run kept whole texts: `reasoning: keep`, or a
    run from before the setting)."""
    from arena.reasoning import reasoning_mode, split_record

    info = run.load_json("run.json") or {}
    parts = split_record(answer, reasoning_mode(info.get("config"), model))
    return [p.answer for p in parts], [p.thought for p in parts]


@st.cache_data(show_spinner="Loading scores…", max_entries=8)
def _scores_cached(file: Stamp) -> pd.DataFrame:
    """Single-mode scores as a table."""
    frame = pd.DataFrame.from_records(_records(file[0]))
    if not frame.empty:
        frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
        for column in ("question_id", "category", "judge"):
            if column in frame:
                frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    return frame


def load_scores(run: RunInfo) -> pd.DataFrame:
    """The run's single-mode scores (empty table when absent)."""
    file = stamp(run.file("scores.jsonl"))
    return pd.DataFrame() if file is None else _scores_cached(file)
