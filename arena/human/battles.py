"""Human votes as battles (`judge: human`, Chatbot Arena convention) that the rating engine fits like any
judge's battles, alone or pooled with the run's LLM-judge battles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.human.votes import VoteLog
from arena.records import iter_jsonl

HUMAN_JUDGE = "human"


def human_battles(log: VoteLog, voter: str | None = None) -> list[dict[str, Any]]:
    """One battle per active (not withdrawn) pairwise vote, judged by 'human' (only records that pass the
    log's checks, so every battle written has two model names and a known winner)."""
    out = []
    for vote in log.active("vote", voter):
        out.append({
            "question_id": vote.get("question_id"),
            "model_a": vote.get("model_a"),
            "model_b": vote.get("model_b"),
            "winner": vote.get("winner"),
            "judge": HUMAN_JUDGE,
            "category": vote.get("category"),
            "turn": vote.get("turn"),
            "weight": 1,
            "voter": vote.get("voter"),
            "vote_id": vote.get("vote_id"),
            "time": vote.get("time"),
        })
    return out


def run_battles(run_dir: Path) -> list[dict[str, Any]]:
    """The LLM-judge battles of a run folder (battles.jsonl), for pooling."""
    path = Path(run_dir) / "battles.jsonl"
    if not path.is_file():
        raise DataError(f"{run_dir}: no battles.jsonl (the LLM judge's battles)",
                        hint="judge the run first (arena run with a judge: section); human-only battles need no --pool")
    return [{k: v for k, v in rec.items() if k != "games"} for _, rec in iter_jsonl(path)]


def pooled_battles(run_dir: Path, log: VoteLog, voter: str | None = None) -> list[dict[str, Any]]:
    """The run's LLM-judge battles followed by the human battles (of one voter when `voter` is given)."""
    return run_battles(run_dir) + human_battles(log, voter)


def human_grades(log: VoteLog) -> list[dict[str, Any]]:
    """Active 1-10 grades as score records (single mode), judged by 'human'."""
    return [{"question_id": g.get("question_id"), "model": g.get("model"), "turn": g.get("turn"),
             "category": g.get("category"), "score": float(g["grade"]), "judge": HUMAN_JUDGE,
             "voter": g.get("voter"), "vote_id": g.get("vote_id")} for g in log.active("grade")]
