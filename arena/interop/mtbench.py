"""FastChat llm_judge (MT-bench) files: questions, reference and model answers, single and pairwise judgments."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.interop.common import (
    Bundle,
    FileReport,
    classify_files,
    judgment,
    need,
    question_id,
    select_judge,
    source_info,
    turn_number,
    where,
)
from arena.questions import answer_turns, load_questions
from arena.rating.io import weight_problem
from arena.records import read_records
from judges.verdicts import Verdict, combine_orders

TOOL = "mt-bench"
PAIR_WINNERS = ("model_1", "model_2", "tie", "error", "inconsistent")
ROLE_ORDER = ("questions", "references", "answers", "single", "pairwise")
SCORE_RANGE = (1, 10)  # FastChat's single-v1 prompts ask for a rating from 1 to 10; -1 marks a failed grade
LATER_KEPT = "the later one kept (FastChat's load_model_answers keeps the last answer of a question)"


def file_role(path: Path, first: dict[str, Any]) -> str:
    """The role of an MT-bench file from its first record's fields (and `reference_answer/` in its path)."""
    if "g1_winner" in first or "g2_winner" in first:
        return "pairwise"
    if "score" in first and "judgment" in first:
        return "single"
    if "choices" in first:
        return "references" if "reference_answer" in path.parts else "answers"
    if "turns" in first and "question_id" in first:
        return "questions"
    raise DataError(f"{path}:1: not an MT-bench file (fields {sorted(first)})",
                    hint="expected questions (turns), answers (choices), single judgments (score, judgment) "
                         "or pairwise judgments (g1_winner, g2_winner)")


def read_answers(path: Path, bundle: Bundle, report: FileReport, tool: str = TOOL) -> None:
    """FastChat / arena-hard v0.1 answers: question_id, model_id, choices[0].turns (strings or {content}).
    An exact repeat of an answer is dropped; another answer to the same question replaces it (both tools keep
    the last one), with a note."""
    dups = bundle.dup_log("answers", LATER_KEPT.replace("FastChat's", "FastChat's and arena-hard's"))
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line)
        model = need(rec, "model_id", path, line, str)
        if dups.check((model, str(qid)), rec, path, line) == "exact":
            report.failed["exact duplicate"] += 1
            continue
        choices = need(rec, "choices", path, line, list)
        if not choices or not isinstance(choices[0], dict) or not isinstance(choices[0].get("turns"), list):
            raise DataError(f"{where(path, line, 'choices')} must be a non-empty list of {{'turns': [...]}}")
        turns, meta_turns = [], []
        for i, t in enumerate(choices[0]["turns"]):
            if isinstance(t, dict) and isinstance(t.get("content"), str):
                turns.append(t["content"])
                meta_turns.append({k: v for k, v in t.items() if k != "content"})
            elif isinstance(t, str):
                turns.append(t)
            else:
                raise DataError(f"{where(path, line, f'choices[0].turns[{i}]')} must be text or {{'content': text}}")
        meta = source_info(tool, path, line, rec, {"question_id", "model_id", "choices"})
        meta["choice_index"] = choices[0].get("index")
        if meta_turns:
            meta["turn_meta"] = meta_turns
        bundle.add_answer(model, qid, turns, meta)
        report.ok += 1


def _judge_name(rec: dict, path: Path, line: int) -> tuple[str, str | None]:
    """FastChat's judge field ["gpt-4", "single-v1"] as (judge model, template name)."""
    judge = need(rec, "judge", path, line, (list, str))
    if isinstance(judge, str):
        return judge, None
    if not judge or not isinstance(judge[0], str):
        raise DataError(f"{where(path, line, 'judge')} must be [judge model, prompt name]")
    return judge[0], judge[1] if len(judge) > 1 and isinstance(judge[1], str) else None


def _score(rec: dict, path: Path, line: int) -> float:
    """A single grade: -1 (failed) or a finite number from 1 to 10; DataError naming file, line and field."""
    score = need(rec, "score", path, line, (int, float))
    if isinstance(score, bool) or not math.isfinite(score):
        raise DataError(f"{where(path, line, 'score')} must be a grade from {SCORE_RANGE[0]} to {SCORE_RANGE[1]} "
                        f"or -1 (failed), got {score!r}")
    if score != -1 and not SCORE_RANGE[0] <= score <= SCORE_RANGE[1]:
        raise DataError(f"{where(path, line, 'score')} must be a grade from {SCORE_RANGE[0]} to {SCORE_RANGE[1]} "
                        f"or -1 (failed), got {score!r}", hint="MT-bench grades are 1-10; fix or remove the row")
    return score


def read_single(path: Path, bundle: Bundle, report: FileReport) -> None:
    """Single-answer grades; `-1` scores and `$ERROR$` judgments are kept as failed judgments.

    A grade must be a number from 1 to 10 or -1 (NaN, true/false and other values are bad records). An exact
    repeat of a row is dropped; two different grades of one judge, model, question and turn (a partial
    re-run) are both kept and averaged, as FastChat's show_result does, with a note."""
    used = {"question_id", "model", "score", "turn", "judgment"}
    dups = bundle.dup_log("single judgments", "both kept and averaged, as FastChat's show_result does")
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line)
        model = need(rec, "model", path, line, str)
        score = _score(rec, path, line)
        turn = turn_number(rec, path, line)
        text = need(rec, "judgment", path, line, str)
        judge, template = _judge_name(rec, path, line)
        if dups.check((judge, model, str(qid), turn), rec, path, line) == "exact":
            report.failed["exact duplicate"] += 1
            continue
        failed = score == -1 or text == "$ERROR$"
        j = judgment(judge=judge, mode="single", kind="score", question_id=qid, turn=turn, model_a=model,
                     model_b=None, order="AB", status="error" if failed else "ok",
                     label=None if failed else f"{score:g}", winner=None, raw=text,
                     category=bundle.category(qid), template=template, score=None if failed else float(score),
                     error=("judge error ($ERROR$, score -1)" if failed else None),
                     source=source_info(TOOL, path, line, rec, used))
        bundle.judgments.append(j)
        if failed:
            report.failed["score -1 / $ERROR$"] += 1
            continue
        report.ok += 1
        bundle.scores.append({"question_id": qid, "model": model, "turn": turn, "score": float(score),
                              "judge": judge, "category": bundle.category(qid), "key": j["key"]})


def _position_verdict(winner: str, first: str) -> Verdict | None:
    """A FastChat game winner (model terms) as a 3-way verdict in position terms; `first` is shown as A."""
    if winner in ("tie", "inconsistent"):
        return Verdict(kind="3way", label="tie", winner="tie")
    if winner == "error":
        return None
    pos = "A" if winner == first else "B"
    return Verdict(kind="3way", label=pos, winner=pos)


def read_pairwise(path: Path, bundle: Bundle, report: FileReport) -> None:
    """Pairwise judgments with both orders; a pair with an `error` game gives no battle, disagreement a tie."""
    common = {"question_id", "model_1", "model_2", "g1_winner", "g2_winner", "turn", "g1_judgment", "g2_judgment",
              "weight"}
    dups = bundle.dup_log("pairwise judgments", "both kept, as FastChat's show_result counts every row")
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line)
        m1, m2 = need(rec, "model_1", path, line, str), need(rec, "model_2", path, line, str)
        turn = turn_number(rec, path, line)
        judge, template = _judge_name(rec, path, line)
        if dups.check((judge, str(qid), turn, frozenset((m1, m2))), rec, path, line) == "exact":
            report.failed["exact duplicate"] += 1
            continue
        games, keys = [], []
        for g, first in (("g1", "model_1"), ("g2", "model_2")):
            winner = need(rec, f"{g}_winner", path, line, str)
            if winner not in PAIR_WINNERS:
                raise DataError(f"{where(path, line, g + '_winner')} must be one of {', '.join(PAIR_WINNERS)}, "
                                f"got {winner!r}")
            v = _position_verdict(winner, first)
            games.append(v)
            other = "g2" if g == "g1" else "g1"
            src = source_info(TOOL, path, line, rec, common | {f"{other}_user_prompt"})
            j = judgment(judge=judge, mode="pairwise", kind="3way", question_id=qid, turn=turn, model_a=m1,
                         model_b=m2, order="AB" if g == "g1" else "BA", status="ok" if v else "error",
                         label=v.label if v else None,
                         winner=None if v is None else {"tie": "tie", "model_1": "model_a",
                                                        "model_2": "model_b"}.get(winner, "tie"),
                         raw=rec.get(f"{g}_judgment"), category=bundle.category(qid), template=template,
                         error=None if v else "error", source=src)
            if winner == "inconsistent":
                j["label"] = "inconsistent"
            bundle.judgments.append(j)
            keys.append(j["key"])
        outcome = combine_orders(games[0], games[1])
        if outcome.winner is None:
            report.failed["error in a game"] += 1
            continue
        weight = rec.get("weight", 1)  # Arena's own field (strong verdicts); FastChat files have none
        problem = weight_problem(weight)
        if problem:
            raise DataError(f"{where(path, line, 'weight')} {problem}")
        report.ok += 1
        bundle.battles.append({
            "question_id": qid, "model_a": m1, "model_b": m2,
            "winner": {"A": "model_a", "B": "model_b"}.get(outcome.winner, "tie"), "judge": judge,
            "category": bundle.category(qid), "turn": turn, "weight": weight, "consistent": outcome.consistent,
            "games": keys, "mode": "pairwise"})


def read_references(path: Path, bundle: Bundle, report: FileReport) -> None:
    """Reference answers (FastChat's reference_answer/<model>.jsonl), kept as read with their model_id; a
    later answer to the same question replaces an earlier one (FastChat keeps the last)."""
    dups = bundle.dup_log("reference answers", LATER_KEPT)
    for line, rec in read_records(path):
        report.read += 1
        qid = question_id(rec, path, line)
        model = need(rec, "model_id", path, line, str)
        turns = answer_turns(rec, f"{path}:{line}")
        state = dups.check((model, str(qid)), rec, path, line)
        if state == "exact":
            report.failed["exact duplicate"] += 1
            continue
        if state == "conflict":
            bundle.references = [r for r in bundle.references
                                 if (r["model_id"], str(r["question_id"])) != (model, str(qid))]
        src = source_info(TOOL, path, line, rec, {"question_id", "model_id", "choices"})
        choices = rec.get("choices")
        src["choice_index"] = choices[0].get("index") if isinstance(choices, list) and choices else None
        bundle.references.append({"question_id": qid, "model_id": model, "turns": turns, "source": src})
        report.ok += 1


def _attach_references(bundle: Bundle) -> None:
    """Give each imported question its reference answer (what FastChat's judge saw); a question's own
    `reference` field is kept beside it as `question_reference`, so an export writes both back as read."""
    for ref in bundle.references:
        q = bundle.questions.get(str(ref["question_id"]))
        if q is None:
            continue
        if q.reference is not None and "question_reference" not in q.meta:
            q.meta["question_reference"] = q.reference
        q.reference = list(ref["turns"])
    if bundle.references and not bundle.questions:
        bundle.notes.append(f"{len(bundle.references)} reference answers kept in reference_answers.jsonl, not "
                            "attached to questions (no question file given)")


def read_files(paths: list[Path | str], bundle: Bundle, baseline: str | None = None, judge: str | None = None,
               **_: Any) -> Bundle:
    """Import MT-bench files of any role; questions and answers are read before judgments."""
    if baseline is not None:
        raise DataError("--baseline applies to arena-hard and alpaca-eval imports, not to mt-bench",
                        hint="MT-bench pair files (also FastChat's pairwise-baseline ones) import as pairwise "
                             "judgments: the pairwise table gives each model's record against every opponent")
    for role, path, _first in classify_files(paths, file_role, ROLE_ORDER, notes=bundle.notes):
        report = bundle.file_report(path, role)
        if role == "questions":
            bundle.add_questions(load_questions(path, "mt-bench"), report)
        elif role == "references":
            read_references(path, bundle, report)
        elif role == "answers":
            read_answers(path, bundle, report)
        elif role == "single":
            read_single(path, bundle, report)
        else:
            read_pairwise(path, bundle, report)
    _attach_references(bundle)
    bundle.note_duplicates()
    select_judge(bundle, judge, "FastChat's show_result (--judge-model)")
    return bundle
