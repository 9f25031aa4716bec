"""Import MT-bench's published human judgments (`mt_bench_human_judgments`: question_id, model_a, model_b,
winner, judge, turn) as votes of a run, so a new judge can be measured against those human labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.human.items import battle_key
from arena.human.votes import append_record, load_log, utc_now, votes_path
from arena.records import content_hash, iter_jsonl, read_records

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
REQUIRED = ("question_id", "model_a", "model_b", "winner", "judge")


def _vote(rec: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    """One MT-bench human judgment as a vote record (its vote_id fixed by the row, so re-imports skip it)."""
    for name in REQUIRED:
        if rec.get(name) in (None, ""):
            raise DataError(f"{path}:{line}: field '{name}' is missing",
                            hint="MT-bench human judgments have question_id, model_a, model_b, winner, judge, turn")
    if rec["winner"] not in WINNERS:
        raise DataError(f"{path}:{line}: field 'winner' is {rec['winner']!r}", hint=f"use one of {', '.join(WINNERS)}")
    turn = rec.get("turn", 1)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise DataError(f"{path}:{line}: field 'turn' must be a positive whole number, got {turn!r}")
    a, b = str(rec["model_a"]), str(rec["model_b"])
    row = [str(rec["question_id"]), turn, a, b, rec["winner"], str(rec["judge"])]
    return {"kind": "vote", "voter": str(rec["judge"]), "time": utc_now(),
            "battle": battle_key(rec["question_id"], turn, a, b), "judgments": [],
            "question_id": str(rec["question_id"]), "turn": turn, "category": rec.get("category"),
            "model_a": a, "model_b": b, "shown": [a, b], "choice": None, "winner": rec["winner"], "comment": "",
            "imported_from": f"mt_bench_human_judgments:{path.name}", "vote_id": content_hash(["mtbench", *row])}


def _categories(questions: Path) -> dict[str, str]:
    """Category per question id from the run's questions.jsonl (empty when the run has none)."""
    if not questions.is_file():
        return {}
    return {str(q.get("question_id")): str(q["category"]) for _, q in iter_jsonl(questions, strict=False)
            if q.get("category") is not None}


def import_mtbench(path: Path, workspace: Path, run_id: str, include_llm: bool = False) -> tuple[int, int, int]:
    """Append the file's human rows to the run's vote log; returns (added, already there, LLM rows skipped)."""
    path = Path(path)
    rows = read_records(path)
    if not rows:
        raise DataError(f"{path}: no judgments in the file")
    known = {str(r.get("vote_id")) for r in load_log(workspace, run_id).records}
    categories = _categories(Path(workspace) / "runs" / run_id / "questions.jsonl")
    added = present = llm = 0
    target = votes_path(workspace, run_id)
    for line, rec in rows:
        if not include_llm and str(rec.get("judge", "")).lower().startswith("gpt"):
            llm += 1
            continue
        vote = _vote(rec, path, line)
        vote["category"] = vote["category"] or categories.get(vote["question_id"])
        if vote["vote_id"] in known:
            present += 1
            continue
        append_record(target, vote)
        known.add(vote["vote_id"])
        added += 1
    return added, present, llm
