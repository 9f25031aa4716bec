"""Shared pieces of the importers: the in-memory bundle, record builders, field checks and text statistics."""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.questions import Question
from arena.records import content_hash, read_records

FORMATS = ("mt-bench", "arena-hard", "alpaca-eval", "evalscope", "chatbot-arena")


@dataclass
class FileReport:
    """What one input file contributed: its role, records read, records usable and why others were not."""

    path: str
    role: str
    read: int = 0
    ok: int = 0
    failed: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for run.json and the benchmark script."""
        return {"path": self.path, "role": self.role, "read": self.read, "ok": self.ok,
                "failed": dict(self.failed)}


@dataclass
class Bundle:
    """Everything one import read, in Arena's record shapes, before it is written to a run folder."""

    tool: str
    paths: list[str] = field(default_factory=list)
    questions: dict[str, Question] = field(default_factory=dict)
    answers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    judgments: list[dict[str, Any]] = field(default_factory=list)
    battles: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    baseline: str | None = None
    baselines: dict[str, str] = field(default_factory=dict)  # category -> baseline, when they differ
    references: list[dict[str, Any]] = field(default_factory=list)  # reference answers, as read
    files: list[FileReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duplicates: dict[str, DuplicateLog] = field(default_factory=dict)

    def dup_log(self, what: str, resolution: str) -> DuplicateLog:
        """The duplicate log of one kind of record (created on first use)."""
        if what not in self.duplicates:
            self.duplicates[what] = DuplicateLog(what, resolution)
        return self.duplicates[what]

    def note_duplicates(self) -> None:
        """Turn the duplicate logs into notes (called once at the end of a read)."""
        for log in self.duplicates.values():
            self.notes.extend(log.notes())
        self.duplicates.clear()

    def add_answer(self, model: str, qid: Any, turns: list[str], meta: dict[str, Any] | None = None) -> None:
        """Record one model's answer turns for a question id (kept as in the source, indexed by str)."""
        self.answers.setdefault(model, {})[str(qid)] = {"question_id": qid, "turns": turns, "meta": meta or {}}

    def answer_text(self, model: str, qid: Any, turn: int = 1) -> str | None:
        """The text a model answered at a 1-based turn, if imported."""
        ans = self.answers.get(model, {}).get(str(qid))
        if not ans or turn < 1 or turn > len(ans["turns"]):
            return None
        return ans["turns"][turn - 1]

    def file_report(self, path: Path | str, role: str) -> FileReport:
        """Start (and keep) the report of one input file."""
        report = FileReport(str(path), role)
        self.files.append(report)
        return report

    def add_questions(self, questions: Iterable[Question], report: FileReport) -> None:
        """Keep parsed questions by id, counting each as read and usable."""
        for q in questions:
            self.questions[q.qid] = q
            report.read += 1
            report.ok += 1

    def category(self, qid: Any) -> str | None:
        """The question's category when the question file was imported."""
        q = self.questions.get(str(qid))
        return q.category if q else None

    @property
    def mode(self) -> str:
        """single, baseline or pairwise, from what was imported."""
        modes = {b.get("mode") for b in self.battles}
        if "pairwise" in modes:
            return "pairwise"
        if "baseline" in modes:
            return "baseline"
        return "single" if self.scores or self.judgments else "pairwise"


@dataclass
class DuplicateLog:
    """Records of one kind seen by key: an exact repeat of a record (same content) is dropped; a record with
    an earlier one's key but other content is a conflict, resolved by the caller as the source tool does."""

    what: str
    resolution: str
    seen: dict[Any, dict[str, str]] = field(default_factory=dict)  # key -> {content hash: first file:line}
    exact: int = 0
    exact_at: str | None = None
    conflicts: int = 0
    conflict_at: str | None = None

    def check(self, key: Any, record: Any, path: Path | str, line: int | None) -> str:
        """"new", "exact" (drop it) or "conflict" (same key, other content) for one record."""
        digest, at = content_hash(record), where(path, line)
        hashes = self.seen.setdefault(key, {})
        if not hashes:
            hashes[digest] = at
            return "new"
        if digest in hashes:
            self.exact += 1
            self.exact_at = self.exact_at or f"{at} (same as {hashes[digest]})"
            return "exact"
        self.conflicts += 1
        self.conflict_at = self.conflict_at or f"{at} (same key as {next(iter(hashes.values()))})"
        hashes[digest] = at
        return "conflict"

    def notes(self) -> list[str]:
        """One note per kind of duplicate found, with the count and the first place."""
        out = []
        if self.exact:
            out.append(f"{self.exact} exact duplicate {self.what} dropped (first: {self.exact_at})")
        if self.conflicts:
            out.append(f"{self.conflicts} {self.what} repeat an earlier one's key with different content "
                       f"(first: {self.conflict_at}): {self.resolution}")
        return out


def where(path: Path | str, line: int | None, field_name: str | None = None) -> str:
    """`file:line field 'x'` for error messages."""
    loc = f"{path}:{line}" if line is not None else str(path)
    return f"{loc}: field '{field_name}'" if field_name else loc


def need(rec: dict, name: str, path: Path | str, line: int, types: tuple[type, ...] | type | None = None) -> Any:
    """A required field, type-checked; DataError naming file, line and field otherwise."""
    if name not in rec:
        raise DataError(f"{where(path, line, name)} is missing", hint=f"fields present: {sorted(rec)}")
    value = rec[name]
    if types is not None and not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise DataError(f"{where(path, line, name)} must be {names}, got {type(value).__name__}: {value!r:.80}")
    return value


def question_id(rec: dict, path: Path | str, line: int, name: str = "question_id") -> str | int:
    """A question id (string or integer, kept as is)."""
    qid = need(rec, name, path, line, (str, int))
    if isinstance(qid, bool):
        raise DataError(f"{where(path, line, name)} must be a string or an integer, got {qid!r}")
    return qid


def turn_number(rec: dict, path: Path | str, line: int, name: str = "turn") -> int:
    """An optional 1-based turn number (absent or null: 1); DataError naming file, line and field otherwise."""
    value = rec.get(name)
    if value is None:
        return 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"{where(path, line, name)} must be a turn number (an integer from 1), got {value!r:.80}")
    return value


_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_HEADER_RE = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.MULTILINE)
_BOLD_RE = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def text_stats(text: str | None) -> dict[str, int] | None:
    """Approximate tokens, characters and markdown counts (headers, list items, bold) of an answer."""
    if text is None:
        return None
    return {"tokens": len(_TOKEN_RE.findall(text)), "chars": len(text), "header": len(_HEADER_RE.findall(text)),
            "list": len(_LIST_RE.findall(text)), "bold": len(_BOLD_RE.findall(text))}


def add_style(battle: dict[str, Any], text_a: str | None, text_b: str | None) -> None:
    """Fill len/header/list/bold (and chars) of both answers when both texts are known and not already set."""
    if battle.get("len_a") is not None or text_a is None or text_b is None:
        return
    sa, sb = text_stats(text_a), text_stats(text_b)
    battle.update({"len_a": sa["tokens"], "len_b": sb["tokens"], "chars_a": sa["chars"], "chars_b": sb["chars"],
                   "header_a": sa["header"], "header_b": sb["header"], "list_a": sa["list"],
                   "list_b": sb["list"], "bold_a": sa["bold"], "bold_b": sb["bold"]})


def judgment(*, judge: str, mode: str, kind: str, question_id: Any, turn: int, model_a: str,
             model_b: str | None, order: str, status: str, label: str | None, winner: str | None,
             raw: Any, category: str | None = None, template: str | None = None, judge_model: str | None = None,
             strength: int = 1, score: float | None = None, prob_a: float | None = None,
             error: str | None = None, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """A judgment record in the run-file contract; the key depends on content, not on where it was read."""
    rec: dict[str, Any] = {
        "judge": judge, "judge_model": judge_model or judge, "mode": mode, "verdict_kind": kind,
        "template": template, "template_hash": None, "question_id": question_id, "category": category,
        "turn": turn, "model_a": model_a, "model_b": model_b, "answer_a_hash": None, "answer_b_hash": None,
        "order": order, "status": status, "label": label, "winner": winner, "strength": strength,
        "score": score, "prob_a": prob_a, "raw": raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw)),
        "followup_raw": None, "error": error, "prompt_tokens": None, "completion_tokens": None,
        "cost_usd": None, "latency_s": None, "dry_run": False,
    }
    rec["key"] = content_hash({k: rec[k] for k in ("judge", "mode", "template", "question_id", "turn", "model_a",
                                                   "model_b", "order", "label", "raw", "score", "prob_a")})
    if source:
        rec["source"] = source
    return rec


def source_info(tool: str, path: Path | str, line: int, record: dict, used: Iterable[str]) -> dict[str, Any]:
    """Where a record came from, with its fields Arena did not map (kept exactly, for export)."""
    used = set(used)
    return {"tool": tool, "path": str(path), "line": line, "fields": list(record),
            "extra": {k: v for k, v in record.items() if k not in used}}


def finite(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def list_files(paths: Iterable[Path | str],
               patterns: tuple[str, ...] = ("*.jsonl", "*.json", "*.jsonl.gz", "*.json.gz"),
               notes: list[str] | None = None) -> list[Path]:
    """Expand folders into the data files under them (sorted); plain files pass through. A file named twice
    (the same path, or a file and its folder) is read once: `notes` gets a line saying so."""
    out: list[Path] = []
    seen: dict[Path, Path] = {}
    again: dict[Path, str] = {}  # each file read once though named again, by the name first given
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted({f for pat in patterns for f in p.rglob(pat) if f.is_file()})
            if not found:
                raise DataError(f"{p}: folder has no {', '.join(patterns)} files")
        elif p.is_file():
            found = [p]
        else:
            raise DataError(f"{p}: no such file or folder")
        for f in found:
            real = f.resolve()
            if real in seen:
                again.setdefault(real, str(seen[real]))
                continue
            seen[real] = f
            out.append(f)
    if again and notes is not None:
        names = list(again.values())
        notes.append(f"{len(names)} file(s) given more than once were read once: {', '.join(names[:5])}"
                     + (" ..." if len(names) > 5 else ""))
    return out


def classify_files(
    paths: Iterable[Path | str],
    file_role: Callable[[Path, dict[str, Any]], str],
    role_order: Sequence[str],
    patterns: tuple[str, ...] = ("*.jsonl", "*.json", "*.jsonl.gz", "*.json.gz"),
    notes: list[str] | None = None,
) -> list[tuple[str, Path, dict[str, Any]]]:
    """(role, path, first record) of every input file, in `role_order`; an empty file is a DataError."""
    files = []
    for path in list_files(paths, patterns, notes):
        records = read_records(path)
        if not records:
            raise DataError(f"{path}: empty file")
        files.append((file_role(path, records[0][1]), path, records[0][1]))
    files.sort(key=lambda f: role_order.index(f[0]))
    return files


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSONL through a temporary sibling (never a half-written file); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def select_judge(bundle: Bundle, judge: str | None, tool_script: str) -> None:
    """Keep one judge's judgments, battles and scores, as the tools' own show_result scripts rank one judge
    at a time: several judges in one mode without `--judge` is a DataError listing them; a `--judge` that
    no file holds is one too. Battles without judgments (battles files) are kept."""
    judges = Counter(j["judge"] for j in bundle.judgments)
    per_mode: dict[str, set[str]] = {}
    for j in bundle.judgments:
        per_mode.setdefault(j["mode"], set()).add(j["judge"])
    listing = ", ".join(f"{name} ({n} judgments)" for name, n in sorted(judges.items()))
    if judge is None:
        mixed = {m: names for m, names in per_mode.items() if len(names) > 1}
        if mixed:
            raise DataError(f"the files hold judgments of several judges: {listing}",
                            hint=f"pass --judge NAME to import one judge's ({tool_script} ranks one judge "
                                 "at a time; import each judge into its own run to compare them)")
        return
    if not judges:
        return
    if judge not in judges:
        raise DataError(f"--judge {judge!r}: no judgment by that judge in the files; judges found: {listing}")
    others = {name for name in judges if name != judge}
    if not others:
        return
    dropped = Counter(j["judge"] for j in bundle.judgments if j["judge"] != judge)
    bundle.judgments = [j for j in bundle.judgments if j["judge"] == judge]
    bundle.battles = [b for b in bundle.battles if not (b.get("games") and b.get("judge") in others)]
    bundle.scores = [s for s in bundle.scores if s.get("judge") not in others]
    bundle.notes.append(f"--judge {judge}: judgments of other judges left out: "
                        + ", ".join(f"{name} ({n})" for name, n in sorted(dropped.items())))
