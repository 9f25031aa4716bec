"""evalscope legacy arena files (evalscope/llmuses `run_arena.py`): questions, answers and reviews.

Shapes (from evalscope's arena workflow; other fields are kept as they are):
- questions: {"question_id", "text", "category"}
- answers: {"question_id", "text", "category", "model_id", "answer", "metadata"?}
- reviews, pairwise:        {"model_a", "model_b", "win": model_a|model_b|tie, "scores"?, "review_text", "question_id",
                             "category", "question", "anony", "tstamp", "language"}
- reviews, pairwise + swap: as above with "win_1", "win_2" (already in original order) and "review_text_1/2";
                            evalscope counts `win_1 == tie or win_1 != win_2` as a tie
- reviews, single:          {"model", "score", "review_text", "question_id", "category", ...}
The files name no judge; Arena records --judge (default "gpt-4", evalscope's default reviewer).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.interop.common import (
    Bundle,
    FileReport,
    classify_files,
    finite,
    judgment,
    need,
    question_id,
    source_info,
    where,
)
from arena.questions import Question
from arena.records import read_records

TOOL = "evalscope"
DEFAULT_JUDGE = "gpt-4"
WINS = ("model_a", "model_b", "tie")
ROLE_ORDER = ("questions", "answers", "single", "pairwise")


def file_role(path: Path, first: dict[str, Any]) -> str:
    """Role of an evalscope arena file from its first record."""
    if "model_a" in first and ("win" in first or "win_1" in first):
        return "pairwise"
    if "score" in first and "model" in first:
        return "single"
    if "answer" in first and "model_id" in first:
        return "answers"
    if "text" in first and "question_id" in first:
        return "questions"
    raise DataError(f"{path}:1: not an evalscope arena file (fields {sorted(first)})",
                    hint="expected questions (question_id, text), answers (model_id, answer) or reviews "
                         "(model_a, model_b, win / win_1, win_2; or model, score)")


def _category(bundle: Bundle, rec: dict[str, Any], qid: Any) -> str | None:
    """The record's own category, else the question's."""
    return rec["category"] if isinstance(rec.get("category"), str) else bundle.category(qid)


def read_single(path: Path, bundle: Bundle, report: FileReport, judge: str) -> None:
    """Single-mode reviews: a score per model answer (a missing or non-numeric score is a failed review)."""
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line)
        model = need(rec, "model", path, line, str)
        score = finite(rec.get("score"))
        j = judgment(judge=judge, mode="single", kind="score", question_id=qid, turn=1, model_a=model,
                     model_b=None, order="AB", status="ok" if score is not None else "unparsed",
                     label=None if score is None else f"{score:g}", winner=None, raw=rec.get("review_text"),
                     category=_category(bundle, rec, qid), score=score,
                     source=source_info(TOOL, path, line, rec, {"question_id", "model", "score", "review_text"}))
        bundle.judgments.append(j)
        if score is None:
            report.failed[f"score {rec.get('score')!r}"] += 1
            continue
        report.ok += 1
        bundle.scores.append({"question_id": qid, "model": model, "turn": 1, "score": score, "judge": judge,
                              "category": j["category"], "key": j["key"]})


def read_pairwise(path: Path, bundle: Bundle, report: FileReport, judge: str, baseline: str | None) -> None:
    """Pairwise reviews (one order, or both with win_1/win_2) -> judgments and battles."""
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line)
        ma, mb = need(rec, "model_a", path, line, str), need(rec, "model_b", path, line, str)
        fields = [("win", "review_text", "AB")] if "win" in rec else [("win_1", "review_text_1", "AB"),
                                                                       ("win_2", "review_text_2", "BA")]
        wins, keys = [], []
        cat = _category(bundle, rec, qid)
        mode = "baseline" if baseline in (ma, mb) else "pairwise"
        for wname, tname, order in fields:
            win = need(rec, wname, path, line)
            ok = win in WINS
            if win is not None and not isinstance(win, str):
                raise DataError(f"{where(path, line, wname)} must be one of {', '.join(WINS)}, got {win!r}")
            pos = None if not ok else ("tie" if win == "tie" else
                                       ("A" if (win == "model_a") == (order == "AB") else "B"))
            others = {f[0] for f in fields} | {f[1] for f in fields}
            j = judgment(judge=judge, mode=mode, kind="3way", question_id=qid, turn=1, model_a=ma, model_b=mb,
                         order=order, status="ok" if ok else "unparsed", label=pos, winner=win if ok else None,
                         raw=rec.get(tname), category=cat, error=None if ok else f"{wname} {win!r}",
                         source=source_info(TOOL, path, line, rec, others | {"question_id", "model_a", "model_b"}))
            bundle.judgments.append(j)
            wins.append(win if ok else None)
            keys.append(j["key"])
        if None in wins:
            report.failed["unusable win value"] += 1
            continue
        report.ok += 1
        consistent = None if len(wins) == 1 else wins[0] == wins[1]
        winner = wins[0] if len(wins) == 1 or consistent else "tie"
        extra = {k: rec[k] for k in ("anony", "tstamp", "language") if k in rec}
        bundle.battles.append({"question_id": qid, "model_a": ma, "model_b": mb, "winner": winner, "judge": judge,
                               "category": cat, "turn": 1, "weight": 1, "consistent": consistent, "games": keys,
                               "mode": mode, **extra})


def read_files(paths: list[Path | str], bundle: Bundle, baseline: str | None = None, judge: str | None = None,
               **_: Any) -> Bundle:
    """Import evalscope arena questions, answers and reviews."""
    judge = judge or DEFAULT_JUDGE
    files = classify_files(paths, file_role, ROLE_ORDER)
    bundle.baseline = baseline
    for role, path, _first in files:
        report = bundle.file_report(path, role)
        if role in ("questions", "answers"):
            for line, rec in read_records(path):
                report.read += 1
                qid = question_id(rec, path, line)
                text = need(rec, "text", path, line, str)
                if qid is not None and str(qid) not in bundle.questions:
                    cat = rec.get("category") if isinstance(rec.get("category"), str) else "general"
                    bundle.questions[str(qid)] = Question(qid, [text], cat)
                if role == "answers":
                    model = need(rec, "model_id", path, line, str)
                    bundle.add_answer(model, qid, [need(rec, "answer", path, line, str)],
                                      source_info(TOOL, path, line, rec, {"question_id", "text", "category",
                                                                          "model_id", "answer"}))
                report.ok += 1
        elif role == "single":
            read_single(path, bundle, report, judge)
        else:
            read_pairwise(path, bundle, report, judge, baseline)
    return bundle
