"""Import MT-bench's published human judgments (`mt_bench_human_judgments`: question_id, model_a, model_b,
winner, judge, turn) as votes of a run, so a new judge can be measured against those human labels.

Layouts read: JSONL (one judgment a line), a JSON list, and the published JSON object of splits
(`{"human": [...], "gpt4_pair": [...]}`). A row is human when its judge is named like FastChat's human judges
(`author_0`, `expert_12`); anything else (`gpt4_pair`, or FastChat's `["gpt-4", "pair-v2"]` list, whose first
element is the judge model) is an LLM judge's, skipped unless asked for. The whole file is checked before the
first vote is appended, so a bad row adds nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.human.items import battle_key
from arena.human.votes import append_record, load_log, utc_now, votes_path
from arena.records import content_hash, iter_jsonl, read_records, read_text

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
REQUIRED = ("question_id", "model_a", "model_b", "winner", "judge")
HUMAN_JUDGE = re.compile(r"(author|expert)_\w+")  # FastChat's names for its human judges
LAYOUT = ("MT-bench human judgments as JSONL, a JSON list of judgments, or the published JSON object "
          '{"human": [...], "gpt4_pair": [...]}; each judgment has question_id, model_a, model_b, winner, judge, turn')


def judge_name(judge: Any) -> str:
    """The judge of a row as text: FastChat's ["gpt-4", "pair-v2"] list gives its first element, the model."""
    if isinstance(judge, list):
        return str(judge[0]) if judge else ""
    return "" if judge is None else str(judge)


def is_human(judge: Any) -> bool:
    """Whether a row's judge is one of FastChat's human judges (author_N, expert_N); LLM judges are not."""
    return isinstance(judge, str) and HUMAN_JUDGE.fullmatch(judge.strip()) is not None


def _vote(rec: dict[str, Any], where: str, source: str) -> dict[str, Any]:
    """One MT-bench judgment as a vote record (its vote_id fixed by the row, so re-imports skip it)."""
    for name in REQUIRED:
        if rec.get(name) in (None, "", []):
            raise DataError(f"{where}: field '{name}' is missing", hint=LAYOUT)
    if rec["winner"] not in WINNERS:
        raise DataError(f"{where}: field 'winner' is {rec['winner']!r}", hint=f"use one of {', '.join(WINNERS)}")
    turn = rec.get("turn", 1)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise DataError(f"{where}: field 'turn' must be a positive whole number, got {turn!r}")
    qid = rec["question_id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise DataError(f"{where}: field 'question_id' must be a number or text, got {qid!r}")
    for name in ("model_a", "model_b"):
        if not isinstance(rec[name], str) or not rec[name].strip():
            raise DataError(f"{where}: field '{name}' must be a model name, got {rec[name]!r}")
    if rec["model_a"] == rec["model_b"]:
        raise DataError(f"{where}: model_a and model_b are both {rec['model_a']!r}")
    category = rec.get("category")
    if category is not None and not isinstance(category, str):
        raise DataError(f"{where}: field 'category' must be text, got {category!r}")
    a, b, voter = rec["model_a"], rec["model_b"], judge_name(rec["judge"])
    row = [str(qid), turn, a, b, rec["winner"],
           voter if isinstance(rec["judge"], str) else json.dumps(rec["judge"], ensure_ascii=False)]
    return {"kind": "vote", "voter": voter, "time": utc_now(),
            "battle": battle_key(qid, turn, a, b), "judgments": [],
            "question_id": str(qid), "turn": turn, "category": category or None,
            "model_a": a, "model_b": b, "shown": [a, b], "choice": None, "winner": rec["winner"], "comment": "",
            "imported_from": f"mt_bench_human_judgments:{source}",
            "vote_id": content_hash(["mtbench", *row])}


def read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) for every judgment of the file: "FILE:LINE" for JSONL and lists, "FILE:split[i]" for the
    published object of splits; any other layout is a DataError saying what is expected."""
    path = Path(path)
    if path.name.endswith(".json"):
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})", hint=LAYOUT) from None
        if isinstance(data, dict) and "question_id" not in data:
            splits = {k: v for k, v in data.items() if isinstance(v, list)}
            if not splits or not all(isinstance(r, dict) for rows in splits.values() for r in rows):
                raise DataError(f"{path}: a JSON object without judgment lists (keys: "
                                f"{', '.join(map(str, list(data)[:5])) or 'none'})", hint=LAYOUT)
            return [(f"{path}:{split}[{i}]", r) for split, rows in splits.items() for i, r in enumerate(rows)]
    return [(f"{path}:{line}", rec) for line, rec in read_records(path)]


def _categories(questions: Path) -> dict[str, str]:
    """Category per question id from the run's questions.jsonl (empty when the run has none)."""
    if not questions.is_file():
        return {}
    return {str(q.get("question_id")): str(q["category"]) for _, q in iter_jsonl(questions, strict=False)
            if q.get("category") is not None}


def import_mtbench(path: Path, workspace: Path, run_id: str, include_llm: bool = False) -> tuple[int, int, int]:
    """Append the file's human rows to the run's vote log (all rows checked first); returns (added, already
    there, LLM-judge rows skipped)."""
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{path}: no judgments in the file", hint=LAYOUT)
    categories = _categories(Path(workspace) / "runs" / run_id / "questions.jsonl")
    votes, llm = [], 0
    for where, rec in rows:
        if not include_llm and not is_human(rec.get("judge")):
            llm += 1
            continue
        vote = _vote(rec, where, path.name)
        vote["category"] = vote["category"] or categories.get(vote["question_id"])
        votes.append(vote)
    known = {str(r.get("vote_id")) for r in load_log(workspace, run_id).records}
    target = votes_path(workspace, run_id)
    added = present = 0
    for vote in votes:
        if vote["vote_id"] in known:
            present += 1
            continue
        append_record(target, vote)
        known.add(vote["vote_id"])
        added += 1
    return added, present, llm
