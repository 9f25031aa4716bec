"""The human vote log: WORKSPACE/human/<run>/votes.jsonl, append-only, one lock per log.

Every vote, grade or withdrawal is one JSON line, appended under an OS file lock (`.votes.lock` beside the
log) with a single O_APPEND write, so several voters on one server never interleave or lose a line. A vote
is never edited: withdrawing it appends a `withdraw` record naming its `vote_id`.

Reading checks every record (fields and types): a bad one is skipped with a problem naming file:line and
field, and the rest is used, so one hand-edited or damaged line never hides every good vote.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from arena.errors import ArenaError, DataError
from arena.records import JsonlAppender, content_hash, safe_filename, scan_jsonl

HUMAN_DIR = "human"
VOTES_FILE = "votes.jsonl"
LOCK_NAME = ".votes.lock"
LOCK_TIMEOUT_S = 120.0  # a hot log under heavy disk load can make one waiter wait long; never forever
CHOICES = ("1", "2", "tie", "bothbad")  # Answer 1 better, Answer 2 better, tie, both bad
CHOICE_LABELS = {"1": "Answer 1 is better", "2": "Answer 2 is better", "tie": "Tie", "bothbad": "Both are bad"}
MAX_VOTER_CHARS = 64
MAX_COMMENT_CHARS = 4000
KINDS = ("vote", "grade", "withdraw")
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
MAX_SHOWN_PROBLEMS = 5


class VoteRefused(ArenaError):
    """A vote or grade not recorded because the voter already has their K on that item (another tab, a
    repeated click or key press): nothing was written."""


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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the log's file lock (ArenaError when it cannot be had or the folder cannot be written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(LOCK_NAME)), timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout:
        raise ArenaError(f"{path}: another voter held the vote log for {LOCK_TIMEOUT_S:.0f} s",
                         hint="try again; nothing was recorded") from None
    except OSError as exc:
        raise ArenaError(f"{path}: cannot append the vote ({exc.strerror})",
                         hint="the app needs write access to the workspace's human/ folder") from None


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record under the log's file lock (one complete line, fsync'd)."""
    path = Path(path)
    with _locked(path), JsonlAppender(path) as out:
        out.append(record)


def append_limited(path: Path, record: dict[str, Any], k: int, seen: int) -> None:
    """Append a vote or grade only while its voter has fewer than `k` active ones on its item and exactly
    `seen` (the count when the item was shown), both re-read under the lock: a second tab, a double click or
    a repeated key press can never store a vote beyond K or one the voter did not see (VoteRefused)."""
    path = Path(path)
    with _locked(path):
        log = VoteLog(tuple(read_log(path)))
        have = log.counts(record["voter"], record["kind"]).get(str(record["battle"]), 0)
        noun = "vote" if record["kind"] == "vote" else "grade"
        if have >= k:
            raise VoteRefused(f"not recorded: you already have {have} {noun}(s) on this item and the limit is "
                              f"{k} per item (a second tab, or a repeated click or key press)",
                              hint="withdraw a vote, or raise 'Votes per battle (K)', to vote on it again")
        if have != seen:
            raise VoteRefused(f"not recorded: this item got another {noun} of yours (in a second tab, or by a "
                              "repeated click or key press) after it was shown here",
                              hint="the page now shows your current votes")
        with JsonlAppender(path) as out:
            out.append(record)


def _is_name(value: Any) -> bool:
    """A non-empty string."""
    return isinstance(value, str) and bool(value.strip())


def _is_whole(value: Any, low: int, high: int | None = None) -> bool:
    """An int (not a bool) in [low, high]."""
    return (isinstance(value, int) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _field(name: str, value: Any, expected: str) -> str:
    """"field 'x' is 'y' (expected ...)", the value cut short."""
    shown = repr(value)
    return f"field '{name}' is {shown[:60] + '...' if len(shown) > 60 else shown} (expected {expected})"


def record_problem(rec: Any) -> str | None:
    """Why a vote log record cannot be used (the first bad field), or None for a good one."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    kind = rec.get("kind")
    if kind not in KINDS:
        return _field("kind", kind, "one of " + ", ".join(KINDS))
    checks: list[tuple[str, bool, str]] = [
        ("voter", _is_name(rec.get("voter")), "a voter name"),
        ("vote_id", _is_name(rec.get("vote_id")), "the vote's id, a string"),
    ]
    if kind != "withdraw":
        qid = rec.get("question_id")
        checks += [
            ("battle", _is_name(rec.get("battle")), "the item key, a string"),
            ("question_id", _is_name(qid) or _is_whole(qid, 0), "a question id"),
            ("turn", rec.get("turn") is None or _is_whole(rec.get("turn"), 1), "a whole number from 1"),
            ("category", rec.get("category") is None or isinstance(rec.get("category"), str), "text or null"),
        ]
    if kind == "vote":
        checks += [
            ("model_a", _is_name(rec.get("model_a")), "a model name"),
            ("model_b", _is_name(rec.get("model_b")) and rec.get("model_b") != rec.get("model_a"),
             "a model name other than model_a's"),
            ("winner", rec.get("winner") in WINNERS, "one of " + ", ".join(WINNERS)),
            ("choice", rec.get("choice") is None or rec.get("choice") in CHOICES, "one of " + ", ".join(CHOICES)),
        ]
    elif kind == "grade":
        checks += [("model", _is_name(rec.get("model")), "a model name"),
                   ("grade", _is_whole(rec.get("grade"), 1, 10), "a whole number from 1 to 10")]
    for name, ok, expected in checks:
        if not ok:
            return _field(name, rec.get(name), expected)
    return None


def scan_log(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Good records of a vote log in file order, and one problem per bad line ("FILE:LINE: why; skipped")."""
    path = Path(path)
    if not path.exists():
        return [], []
    good, bad = scan_jsonl(path)
    problems = {line: why for line, why in bad}
    records = []
    for line, rec in good:
        why = record_problem(rec)
        if why is None:
            records.append(rec)
        else:
            problems[line] = why
    return records, [f"{path}:{line}: {problems[line]}; record skipped" for line in sorted(problems)]


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every good record of a vote log in file order (a missing log is empty; bad lines are skipped)."""
    return scan_log(path)[0]


def problems_note(problems: Iterable[str]) -> str | None:
    """'N bad record(s) skipped: first ones' for a warning, or None when there are none."""
    problems = list(problems)
    if not problems:
        return None
    more = f" (and {len(problems) - MAX_SHOWN_PROBLEMS} more)" if len(problems) > MAX_SHOWN_PROBLEMS else ""
    return (f"{len(problems)} bad record(s) in the vote log skipped; the rest is used: "
            + " | ".join(problems[:MAX_SHOWN_PROBLEMS]) + more)


@dataclass(frozen=True)
class VoteLog:
    """The votes of one run: records in file order, the ids withdrawn, and the bad records skipped on read.

    Only good records (record_problem) count, also when the records come from elsewhere than read_log.
    """

    records: tuple[dict[str, Any], ...]
    problems: tuple[str, ...] = ()

    def good(self) -> list[dict[str, Any]]:
        """The records that pass record_problem."""
        return [r for r in self.records if record_problem(r) is None]

    @property
    def withdrawn(self) -> frozenset[str]:
        """vote_ids withdrawn by their own voter."""
        good = self.good()
        owners = {r.get("vote_id"): r.get("voter") for r in good if r.get("kind") != "withdraw"}
        return frozenset(str(r["vote_id"]) for r in good if r.get("kind") == "withdraw"
                         and owners.get(r.get("vote_id")) == r.get("voter"))

    def active(self, kind: str = "vote", voter: str | None = None) -> list[dict[str, Any]]:
        """Good votes (or grades) not withdrawn, optionally of one voter."""
        gone = self.withdrawn
        return [r for r in self.good() if r.get("kind") == kind and str(r.get("vote_id")) not in gone
                and (voter is None or r.get("voter") == voter)]

    def counts(self, voter: str, kind: str = "vote") -> dict[str, int]:
        """How many active votes the voter has per battle key."""
        out: dict[str, int] = {}
        for rec in self.active(kind, voter):
            out[str(rec.get("battle"))] = out.get(str(rec.get("battle")), 0) + 1
        return out


def load_log(workspace: Path, run_id: str) -> VoteLog:
    """The vote log of a run (empty when nobody voted yet)."""
    records, problems = scan_log(votes_path(workspace, run_id))
    return VoteLog(tuple(records), tuple(problems))


def load_log_file(path: Path) -> VoteLog:
    """A vote log from an explicit file; a missing file is a DataError."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such vote log", hint="votes live in WORKSPACE/human/<run>/votes.jsonl")
    records, problems = scan_log(path)
    return VoteLog(tuple(records), tuple(problems))


def voters(records: Iterable[dict[str, Any]]) -> list[str]:
    """Distinct voter names in order of first appearance."""
    return list(dict.fromkeys(str(r.get("voter")) for r in records if r.get("voter")))
