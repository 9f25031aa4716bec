"""The human vote log: WORKSPACE/human/<run>/votes.jsonl, append-only, one lock per log.

Every vote, grade or withdrawal is one JSON line, appended under an OS file lock (`.votes.lock` beside the
log) with a single O_APPEND write, so several voters on one server never interleave or lose a line. A vote
is never edited: withdrawing it appends a `withdraw` record naming its `vote_id`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from arena.errors import ArenaError, DataError
from arena.records import JsonlAppender, content_hash, iter_jsonl, safe_filename

HUMAN_DIR = "human"
VOTES_FILE = "votes.jsonl"
LOCK_NAME = ".votes.lock"
LOCK_TIMEOUT_S = 120.0  # a hot log under heavy disk load can make one waiter wait long; never forever
CHOICES = ("1", "2", "tie", "bothbad")  # Answer 1 better, Answer 2 better, tie, both bad
CHOICE_LABELS = {"1": "Answer 1 is better", "2": "Answer 2 is better", "tie": "Tie", "bothbad": "Both are bad"}
MAX_VOTER_CHARS = 64
MAX_COMMENT_CHARS = 4000
KINDS = ("vote", "grade", "withdraw")


def votes_path(workspace: Path, run_id: str) -> Path:
    """WORKSPACE/human/<run>/votes.jsonl."""
    return Path(workspace) / HUMAN_DIR / safe_filename(run_id) / VOTES_FILE


def utc_now() -> str:
    """The current UTC time, ISO 8601 with milliseconds and a Z."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def check_voter(name: str) -> str:
    """The voter's name, stripped; an empty, over-long or control-character name is an ArenaError."""
    voter = " ".join(str(name or "").split())
    if not voter:
        raise ArenaError("a voter name is required", hint="type your name before voting")
    if len(voter) > MAX_VOTER_CHARS:
        raise ArenaError(f"the voter name is longer than {MAX_VOTER_CHARS} characters", hint="use a shorter name")
    if any(ord(c) < 32 or ord(c) == 127 for c in voter):
        raise ArenaError("the voter name has control characters", hint="use letters, digits and spaces")
    return voter


def winner_of(choice: str, swapped: bool) -> str:
    """The battle winner in model terms from the choice in shown terms (`swapped`: Answer 1 was model_b)."""
    if choice not in CHOICES:
        raise ArenaError(f"unknown choice {choice!r}", hint=f"use one of {', '.join(CHOICES)}")
    if choice == "tie":
        return "tie"
    if choice == "bothbad":
        return "tie (bothbad)"
    first_is_a = not swapped
    return "model_a" if (choice == "1") == first_is_a else "model_b"


def _record(kind: str, voter: str, item: dict[str, Any], comment: str, **fields: Any) -> dict[str, Any]:
    """The fields every vote and grade carries, then `fields`, then a unique vote_id."""
    record = {
        "kind": kind,
        "voter": check_voter(voter),
        "time": utc_now(),
        "battle": item["battle"],
        "judgments": list(item.get("judgments") or []),
        "question_id": item["question_id"],
        "turn": item.get("turn"),
        "category": item.get("category"),
        **fields,
        "comment": str(comment or "")[:MAX_COMMENT_CHARS],
    }
    record["vote_id"] = content_hash([record, os.getpid(), time.perf_counter_ns()])
    return record


def vote_record(voter: str, item: dict[str, Any], swapped: bool, choice: str, comment: str = "") -> dict[str, Any]:
    """A pairwise vote record: voter, UTC time, battle and judgment keys, the shown order, choice and winner."""
    shown = [item["model_b"], item["model_a"]] if swapped else [item["model_a"], item["model_b"]]
    return _record("vote", voter, item, comment, model_a=item["model_a"], model_b=item["model_b"], shown=shown,
                   choice=choice, winner=winner_of(choice, swapped))


def grade_record(voter: str, item: dict[str, Any], grade: int, comment: str = "") -> dict[str, Any]:
    """A single-mode grade record (1-10) for one answer."""
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 10:
        raise ArenaError(f"grade {grade!r} is not a whole number from 1 to 10")
    return _record("grade", voter, item, comment, model=item["model"], grade=grade)


def withdraw_record(voter: str, vote_id: str, reason: str = "") -> dict[str, Any]:
    """A withdrawal of an earlier vote or grade (the original line stays in the log)."""
    return {"kind": "withdraw", "voter": check_voter(voter), "time": utc_now(), "vote_id": str(vote_id),
            "comment": str(reason or "")[:MAX_COMMENT_CHARS]}


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record under the log's file lock (one complete line, fsync'd)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(LOCK_NAME)), timeout=LOCK_TIMEOUT_S), JsonlAppender(path) as out:
            out.append(record)
    except Timeout:
        raise ArenaError(f"{path}: another voter held the vote log for {LOCK_TIMEOUT_S:.0f} s",
                         hint="try again; nothing was recorded") from None
    except OSError as exc:
        raise ArenaError(f"{path}: cannot append the vote ({exc.strerror})",
                         hint="the app needs write access to the workspace's human/ folder") from None


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every record of a vote log in file order (a missing log is empty; damaged lines are skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    return [rec for _, rec in iter_jsonl(path, strict=False) if rec.get("kind") in KINDS]


@dataclass(frozen=True)
class VoteLog:
    """The votes of one run: records in file order, and the ids withdrawn."""

    records: tuple[dict[str, Any], ...]

    @property
    def withdrawn(self) -> frozenset[str]:
        """vote_ids withdrawn by their own voter."""
        owners = {r.get("vote_id"): r.get("voter") for r in self.records if r.get("kind") != "withdraw"}
        return frozenset(str(r["vote_id"]) for r in self.records if r.get("kind") == "withdraw"
                         and owners.get(r.get("vote_id")) == r.get("voter"))

    def active(self, kind: str = "vote", voter: str | None = None) -> list[dict[str, Any]]:
        """Votes (or grades) not withdrawn, optionally of one voter."""
        gone = self.withdrawn
        return [r for r in self.records if r.get("kind") == kind and str(r.get("vote_id")) not in gone
                and (voter is None or r.get("voter") == voter)]

    def counts(self, voter: str, kind: str = "vote") -> dict[str, int]:
        """How many active votes the voter has per battle key."""
        out: dict[str, int] = {}
        for rec in self.active(kind, voter):
            out[str(rec.get("battle"))] = out.get(str(rec.get("battle")), 0) + 1
        return out


def load_log(workspace: Path, run_id: str) -> VoteLog:
    """The vote log of a run (empty when nobody voted yet)."""
    return VoteLog(tuple(read_log(votes_path(workspace, run_id))))


def load_log_file(path: Path) -> VoteLog:
    """A vote log from an explicit file; a missing file is a DataError."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such vote log", hint="votes live in WORKSPACE/human/<run>/votes.jsonl")
    return VoteLog(tuple(read_log(path)))


def voters(records: Iterable[dict[str, Any]]) -> list[str]:
    """Distinct voter names in order of first appearance."""
    return list(dict.fromkeys(str(r.get("voter")) for r in records if r.get("voter")))
