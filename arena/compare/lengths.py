"""Mean answer length per model in two runs, on the questions both runs share.

Read from the answer records each run used (runs/<run>/answers_index.json -> WORKSPACE/answers/<model>.jsonl):
characters of all turns (robust when a new model version has another tokenizer), and completion tokens
when every record has them. A thought block the run took off before judging (`reasoning: strip`) is not
counted, and tokens are then unknown (they include the thought). Runs without answer records (imported
battles) fall back to the battles' len_a / len_b (tokens of the judged turn). A model whose rating rose
significantly while its mean answer grew by more than LONGER_FLAG is flagged: part of its gain may be the
judge's preference for longer answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from arena.compare.runs import RunFacts
from arena.rating.counts import mean_lengths
from arena.reasoning import reasoning_mode, record_view
from arena.records import iter_jsonl, safe_filename

LONGER_FLAG = 0.20  # relative growth of the mean answer length that flags a model whose rating rose


def _index(run: RunFacts) -> dict[str, dict[str, str]]:
    """answers_index.json of a run ({} when absent or unreadable)."""
    path = run.path / "answers_index.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _answers_file(run: RunFacts, model: str) -> Path:
    """The workspace's answer file of `model` (WORKSPACE/answers/<model>.jsonl)."""
    return run.path.parent.parent / "answers" / f"{safe_filename(model)}.jsonl"


def _sizes(run: RunFacts, model: str, keys: dict[str, str]) -> dict[str, tuple[int, int | None]]:
    """question id -> (characters, completion tokens or None) of the answers `keys` names, as the run's judges
    read them: without a thought block the run took off (its tokens then cannot be told apart: None)."""
    path = _answers_file(run, model)
    if not path.is_file():
        return {}
    mode = reasoning_mode(run.config, model)
    wanted = {str(k): q for q, k in keys.items()}
    out: dict[str, tuple[int, int | None]] = {}
    for _, rec in iter_jsonl(path, strict=False):
        qid = wanted.get(str(rec.get("key")))
        if qid is None or qid in out or rec.get("status", "ok") != "ok":
            continue
        turns = rec.get("turns") if isinstance(rec.get("turns"), list) else [rec.get("turns") or ""]
        turns = [str(t) for t in turns]
        shown = record_view(rec, mode)
        tokens = rec.get("completion_tokens")
        tokens = tokens if isinstance(tokens, list) else [tokens]
        whole = all(isinstance(t, int) for t in tokens) and tokens and shown == turns and not rec.get("reasoning")
        out[qid] = (sum(len(t) for t in shown), sum(tokens) if whole else None)
    return out


def reading_differs(run: RunFacts, model: str, modes: tuple[str, str]) -> bool:
    """Whether any answer the run used for `model` reads differently to judges under the two `reasoning`
    settings (a thought block taken off under one and not the other)."""
    keys = {str(k) for k in (_index(run).get(model) or {}).values()}
    path = _answers_file(run, model)
    if not keys or not path.is_file():
        return False
    for _, rec in iter_jsonl(path, strict=False):
        if str(rec.get("key")) in keys and record_view(rec, modes[0]) != record_view(rec, modes[1]):
            return True
    return False


def _from_records(old: RunFacts, new: RunFacts, models: list[str], questions: set[str]) -> dict[str, Any] | None:
    """Per model mean characters (and tokens) over the shared questions both runs have an answer for."""
    idx_old, idx_new = _index(old), _index(new)
    if not idx_old or not idx_new:
        return None
    rows: dict[str, Any] = {}
    for model in models:
        sizes = []
        for run, idx in ((old, idx_old), (new, idx_new)):
            keys = {q: k for q, k in (idx.get(model) or {}).items() if q in questions}
            sizes.append(_sizes(run, model, keys))
        both = sorted(set(sizes[0]) & set(sizes[1]))
        if not both:
            continue
        chars = [sum(s[q][0] for q in both) / len(both) for s in sizes]
        toks = [[s[q][1] for q in both] for s in sizes]
        tokens = [sum(t) / len(t) for t in toks] if all(v is not None for t in toks for v in t) else [None, None]
        rows[model] = _row(chars[0], chars[1], len(both), tokens)
    if not rows:
        return None
    return {"source": "answer records (answers_index.json)", "unit": "characters", "models": rows}


def _row(old: float, new: float, n: int, tokens: list[float | None] | None = None) -> dict[str, Any]:
    """One model's lengths and the relative change."""
    # From empty answers the relative change has no finite value: None (strict JSON has no Infinity)
    change = (new - old) / old if old > 0 else (None if new > 0 else 0.0)
    row = {"old": old, "new": new, "change": change, "questions": n}
    if tokens and tokens[0] is not None:
        row.update(old_tokens=tokens[0], new_tokens=tokens[1])
    return row


def answer_lengths(old: RunFacts, new: RunFacts, models: list[str], questions: set[str]) -> dict[str, Any]:
    """{source, unit, models: {model: {old, new, change, ...}}}, or available False with the reason."""
    found = _from_records(old, new, models, questions)
    if found:
        return {"available": True, **found}
    means = []
    for run in (old, new):
        b = run.battles
        means.append(mean_lengths(b[b["question_id"].astype(str).isin(questions)]))
    if any(m is None for m in means):
        return {"available": False, "reason": "not available: no answer records and no len_a / len_b in the battles"}
    rows = {m: _row(float(means[0][m]), float(means[1][m]), 0) for m in models
            if m in means[0].index and m in means[1].index and pd.notna(means[0][m]) and pd.notna(means[1][m])}
    return {"available": True, "source": "battles' len_a / len_b (judged turn)", "unit": "tokens", "models": rows}


def longer_and_better(lengths: dict[str, Any], better: list[str]) -> list[str]:
    """Models significantly better whose mean answer grew by more than LONGER_FLAG."""
    rows = lengths.get("models") or {}
    return [m for m in better if m in rows and _grew(rows[m])]


def _grew(row: dict[str, Any]) -> bool:
    """Mean answer length up by more than LONGER_FLAG (from empty answers counts)."""
    return row["new"] > row["old"] if row["change"] is None else row["change"] > LONGER_FLAG

