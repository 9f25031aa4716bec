"""AlpacaEval files: model outputs (`model_outputs.json`, reference outputs) and annotations.

An annotation compares the reference output (`output_1`, `generator_1`: the baseline) with the model's
(`output_2`); `preference` is in [1, 2] (soft for weighted annotators), 1.5 a draw, 2 the model better.
A preference of 0 (older AlpacaEval files) is read as a draw; a missing/NaN preference is kept as a failed
judgment. AlpacaEval has no question ids: Arena uses a hash of the instruction text as the question id.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.interop.common import (
    Bundle,
    FileReport,
    classify_files,
    judgment,
    need,
    select_judge,
    source_info,
    where,
)
from arena.questions import Question
from arena.records import content_hash, read_records

TOOL = "alpaca-eval"
DEFAULT_JUDGE = "alpaca_eval"
LATER_KEPT = "the later one kept (alpaca_eval keeps the last annotation of an instruction and pair of outputs)"


def instruction_id(text: str) -> str:
    """Stable question id of an AlpacaEval instruction (its content hash)."""
    return "ae-" + content_hash(text, 12)


def file_role(path: Path, first: dict[str, Any]) -> str:
    """annotations (output_1/output_2/preference) or outputs (instruction, output, generator)."""
    if "output_1" in first or "preference" in first:
        return "annotations"
    if "output" in first and "instruction" in first:
        return "outputs"
    raise DataError(f"{path}: record 1: not an AlpacaEval file (fields {sorted(first)})",
                    hint="expected model outputs (instruction, output, generator) or annotations "
                         "(instruction, output_1, generator_1, output_2, generator_2, preference)")


def _question(bundle: Bundle, instruction: str, rec: dict[str, Any]) -> str:
    """Register the instruction as a question (category = dataset) and return its id."""
    qid = instruction_id(instruction)
    if qid not in bundle.questions:
        dataset = rec.get("dataset") if isinstance(rec.get("dataset"), str) else "alpaca_eval"
        bundle.questions[qid] = Question(qid, [instruction], dataset)
    return qid


def read_outputs(path: Path, bundle: Bundle, report: FileReport) -> None:
    """Outputs of one or more generators (model_outputs.json or reference_outputs.json); an exact repeat is
    dropped, another output of a generator for the same instruction replaces the earlier one (with a note)."""
    dups = bundle.dup_log("outputs", "the later one kept")
    for line, rec in read_records(path):
        report.read += 1
        instruction = need(rec, "instruction", path, line, str)
        output = need(rec, "output", path, line, str)
        generator = need(rec, "generator", path, line, str)
        if dups.check((generator, instruction), rec, path, line) == "exact":
            report.failed["exact duplicate"] += 1
            continue
        qid = _question(bundle, instruction, rec)
        bundle.add_answer(generator, qid, [output], source_info(TOOL, path, line, rec, {"instruction", "output",
                                                                                       "generator"}))
        report.ok += 1


def _preference(rec: dict[str, Any], path: Path, line: int) -> float | None:
    """The preference as a float in [1, 2] (0 read as 1.5), None when missing/NaN; DataError otherwise."""
    value = rec.get("preference")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where(path, line, 'preference')} must be a number in [1, 2], got {value!r}")
    if value == 0:
        return 1.5
    if not 1.0 <= value <= 2.0:
        raise DataError(f"{where(path, line, 'preference')} must be in [1, 2] (1.5 a draw), got {value!r}")
    return float(value)


def read_annotations(path: Path, bundle: Bundle, report: FileReport, judge: str | None,
                     kept: dict[tuple, tuple[FileReport, int, int | None]] | None = None) -> None:
    """Annotations -> answers of both generators, one judgment and one soft battle each.

    An exact repeat of an annotation is dropped; a later annotation of the same instruction and generators
    by the same annotator replaces the earlier one (alpaca_eval keeps the last), with a note. `kept` maps
    those keys to (file report, judgment index, battle index) across files; a replaced record becomes None
    in bundle.judgments / bundle.battles (read_files removes them)."""
    used = {"instruction", "output_1", "generator_1", "output_2", "generator_2", "preference", "annotator"}
    dups = bundle.dup_log("annotations", LATER_KEPT)
    kept = {} if kept is None else kept
    for line, rec in read_records(path):
        report.read += 1
        instruction = need(rec, "instruction", path, line, str)
        gens = [need(rec, f"generator_{i}", path, line, str) for i in (1, 2)]
        outs = [need(rec, f"output_{i}", path, line, str) for i in (1, 2)]
        name = rec.get("annotator") if isinstance(rec.get("annotator"), str) else (judge or DEFAULT_JUDGE)
        key = (name, instruction, gens[0], gens[1])
        state = dups.check(key, rec, path, line)
        if state == "exact":
            report.failed["exact duplicate"] += 1
            continue
        if state == "conflict" and key in kept:
            old_report, old_j, old_b = kept.pop(key)
            bundle.judgments[old_j] = None  # type: ignore[call-overload]
            if old_b is not None:
                bundle.battles[old_b] = None  # type: ignore[call-overload]
                old_report.ok -= 1
            old_report.failed["replaced by a later annotation"] += 1
        qid = _question(bundle, instruction, rec)
        for gen, out in zip(gens, outs):
            if str(qid) not in bundle.answers.get(gen, {}):
                bundle.add_answer(gen, qid, [out], {"tool": TOOL, "path": str(path), "line": line,
                                                    "from": "annotations"})
        pref = _preference(rec, path, line)
        winner = None if pref is None else ("model_b" if pref > 1.5 else "model_a" if pref < 1.5 else "tie")
        j = judgment(judge=name, mode="baseline", kind="reward", question_id=qid, turn=1, model_a=gens[0],
                     model_b=gens[1], order="AB", status="ok" if pref is not None else "error",
                     label=None if pref is None else f"{pref:g}", winner=winner, raw=rec.get("raw_completion"),
                     category=bundle.category(qid), prob_a=None if pref is None else 2.0 - pref,
                     error=None if pref is not None else "no preference",
                     source=source_info(TOOL, path, line, rec, used | {"annotator"}))
        j["source"]["annotator"] = rec.get("annotator")
        bundle.judgments.append(j)
        if pref is None:
            kept[key] = (report, len(bundle.judgments) - 1, None)
            report.failed["missing preference"] += 1
            continue
        kept[key] = (report, len(bundle.judgments) - 1, len(bundle.battles))
        report.ok += 1
        bundle.battles.append({"question_id": qid, "model_a": gens[0], "model_b": gens[1], "winner": winner,
                               "prob_a": 2.0 - pref, "preference": pref, "judge": name,
                               "category": bundle.category(qid), "turn": 1, "weight": 1, "games": [j["key"]],
                               "mode": "baseline"})


def read_files(paths: list[Path | str], bundle: Bundle, baseline: str | None = None, judge: str | None = None,
               **_: Any) -> Bundle:
    """Import AlpacaEval outputs and annotations; the baseline is the annotations' generator_1."""
    files = classify_files(paths, file_role, ("outputs", "annotations"),
                           ("*.json", "*.jsonl", "*.json.gz", "*.jsonl.gz"), notes=bundle.notes)
    kept: dict[tuple, tuple[FileReport, int, int | None]] = {}
    for role, path, _first in files:
        report = bundle.file_report(path, role)
        if role == "outputs":
            read_outputs(path, bundle, report)
        else:
            read_annotations(path, bundle, report, judge, kept)
    bundle.judgments = [j for j in bundle.judgments if j is not None]
    bundle.battles = [b for b in bundle.battles if b is not None]
    bundle.note_duplicates()
    select_judge(bundle, judge, "alpaca_eval's leaderboard (one annotator config)")
    refs = Counter(b["model_a"] for b in bundle.battles)
    bundle.baseline = baseline or (refs.most_common(1)[0][0] if refs else None)
    if len(refs) > 1:
        bundle.notes.append(f"annotations have several reference generators {sorted(refs)}; "
                            f"baseline {bundle.baseline!r}")
    return bundle


def dumps(records: list[dict[str, Any]]) -> str:
    """AlpacaEval's JSON style: a list of objects, indented."""
    return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
