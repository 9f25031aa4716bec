"""Answer records: the content-keyed answer cache in the workspace, and replay of existing answer files."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.questions import Question, answer_turns
from arena.records import JsonlAppender, content_hash, read_records, safe_filename
from arena.redaction import mask_secrets


def answer_key(model_identity: dict[str, Any], question: Question, params: dict[str, Any]) -> str:
    """Cache key: the candidate's identity, the question's content and the generation parameters."""
    return content_hash({"model": model_identity, "question": question.content_hash(), "params": params})


class AnswerStore:
    """`answers/<model>.jsonl` in the workspace: appended as answers arrive, read back by key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, model: str) -> Path:
        """File holding one model's answers."""
        return self.root / f"{safe_filename(model)}.jsonl"

    def load(self, model: str) -> dict[str, dict]:
        """All cached answers of a model by key (a damaged line is skipped with a warning, not fatal).

        A key resolves to its first ok record, forever: a later record with the same key (left by a second
        writer) never changes the text that runs already indexed and judged."""
        path = self.path(model)
        if not path.exists():
            return {}
        out: dict[str, dict] = {}
        for _, rec in read_records(path, strict=False):
            if rec.get("key") and rec.get("status", "ok") == "ok":
                out.setdefault(rec["key"], rec)
        return out

    def appender(self, model: str) -> JsonlAppender:
        """An appender for this model's file (one writer per file)."""
        return JsonlAppender(self.path(model), background_sync=True)

    def models(self) -> list[str]:
        """Models that have an answer file (the names as the records hold them)."""
        if not self.root.exists():
            return []
        names = set()
        for p in self.root.glob("*.jsonl"):
            first = next(iter(read_records(p, strict=False)), None)
            names.add(first[1].get("model", p.stem) if first else p.stem)
        return sorted(names)


def make_record(*, key: str, model: str, question: Question, turns: list[str], params: dict[str, Any],
                backend: str, run_id: str, per_turn: list[dict[str, Any]] | None = None,
                source: dict[str, Any] | None = None) -> dict[str, Any]:
    """An answer record as stored in `answers/<model>.jsonl`."""
    per_turn = per_turn or [{} for _ in turns]
    turns = [mask_secrets(t) if isinstance(t, str) else t for t in turns]  # an endpoint may echo its key
    rec: dict[str, Any] = {
        "key": key, "model": model, "question_id": question.question_id, "category": question.category,
        "question_hash": question.content_hash(), "turns": turns, "params": params, "backend": backend,
        "status": "ok", "run_id": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for field in ("latency_s", "ttft_s", "prompt_tokens", "completion_tokens", "finish_reason", "attempts"):
        rec[field] = [t.get(field) for t in per_turn]
    rec["truncated"] = any(t.get("finish_reason") == "length" for t in per_turn)  # a turn cut at max_tokens
    thoughts = [t.get("reasoning") for t in per_turn]  # a reasoning parser's thought per turn, kept apart
    if any(isinstance(x, str) and x for x in thoughts):
        rec["reasoning"] = [mask_secrets(x) if isinstance(x, str) and x else None for x in thoughts]
    if source:
        rec["source"] = source
    return rec


def read_answer_file(path: Path, model_id: str | None = None) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """Read answers in Arena, FastChat MT-bench or arena-hard-auto (v0.1 / 2025) form.

    Returns (model id found in the file, {question id: {"turns": [...], "meta": {...}}}).
    """
    found_model: str | None = None
    answers: dict[str, dict[str, Any]] = {}
    models: dict[str, int] = {}  # model id -> first line, when the file names several and model_id is not set
    for lineno, rec in read_records(Path(path)):
        where = f"{path}:{lineno}"
        model = rec.get("model_id") or rec.get("model")
        if model is not None and not isinstance(model, str):
            raise DataError(f"{where}: field '{'model_id' if rec.get('model_id') else 'model'}' must be a string, "
                            f"got {type(model).__name__}")
        if model_id and model and model != model_id:
            continue
        if model is not None:
            models.setdefault(model, lineno)
        if found_model is None:
            found_model = model
        if "uid" in rec and "messages" in rec:
            qid, turns = _qid(rec, "uid", where), _turns_2025(rec["messages"], where)
        elif "question_id" in rec:
            qid, turns = _qid(rec, "question_id", where), answer_turns(rec, where)
        else:
            raise DataError(f"{where}: missing field 'question_id' (or 'uid' for arena-hard 2025 answers)")
        meta = {k: rec[k] for k in ("answer_id", "ans_id", "tstamp", "conv_metadata", "metadata") if k in rec}
        answers[str(qid)] = {"turns": turns, "meta": meta}
    if len(models) > 1:  # one question's answers would overwrite another model's, under the first model's name
        shown = ", ".join(f"{m!r} (line {n})" for m, n in list(models.items())[:8]) + (" ..." if len(models) > 8 else "")
        raise DataError(f"{path}: holds answers of {len(models)} models: {shown}",
                        hint="set the candidate's `model_id` to the one to replay")
    return found_model, answers


def _qid(rec: dict, name: str, where: str) -> str | int:
    """A question id field: a string or an integer."""
    qid = rec[name]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise DataError(f"{where}: field '{name}' must be a string or an integer, got {type(qid).__name__}")
    return qid


def _turns_2025(messages: Any, where: str) -> list[str]:
    """The assistant turns of an arena-hard 2025 answer's `messages`."""
    if not isinstance(messages, list):
        raise DataError(f"{where}: field 'messages' must be a list")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise DataError(f"{where}: field 'messages[{i}]' must be an object with 'role' and 'content', "
                            f"got {type(m).__name__}")
        if m.get("role") != "assistant":
            continue
        content = m.get("content")
        if isinstance(content, dict):
            content = content.get("answer")
        if not isinstance(content, str):
            raise DataError(f"{where}: field 'messages[{i}].content': assistant message without text content")
        out.append(content)
    if not out:
        raise DataError(f"{where}: field 'messages' has no assistant message")
    return out
