"""Aggregates of one task's per-item results: standard errors, per-subject and per-category scores, macro and
micro averages, and counts of items that were missing, rejected or had no extractable answer.

Definitions (one task, items i = 1..n with value x_i in [0, 1] or any real for mean-type metrics):
- micro average = sum(x_i) / n over all scored items (item-weighted; evalscope's "weighted average accuracy");
- macro average = mean over subjects of each subject's micro average (every subject counts the same);
- binomial standard error of an accuracy p over n items = sqrt(p (1 - p) / n);
- standard error of a mean-type metric = sample standard deviation (n - 1) / sqrt(n);
- standard error of a macro average = sqrt(sum of the subjects' squared errors) / number of subjects
  (subjects treated as independent samples)."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from arena.bench.mmlu_categories import category_of

ROUND = 6
ACCURACY_METRICS = ("accuracy", "acc")


def binomial_stderr(p: float, n: int) -> float | None:
    """Standard error of an accuracy p measured on n items, sqrt(p(1-p)/n); None when n is 0."""
    if n <= 0:
        return None
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def sample_stderr(values: Sequence[float]) -> float | None:
    """Standard error of a mean: sample standard deviation (n-1 denominator) / sqrt(n); None below two items."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def summarize(values: Sequence[float], binary: bool) -> dict[str, Any]:
    """Score (mean), its standard error and n of a group of item values."""
    n = len(values)
    score = sum(values) / n if n else None
    err = (binomial_stderr(score, n) if binary else sample_stderr(values)) if score is not None else None
    return {"score": _r(score), "stderr": _r(err), "n": n}


def macro(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean of the groups' scores (each group counts once) and its standard error."""
    scored = [g for g in groups.values() if g.get("score") is not None]
    if not scored:
        return {"score": None, "stderr": None, "groups": 0}
    k = len(scored)
    errs = [g.get("stderr") for g in scored]
    err = math.sqrt(sum(e * e for e in errs)) / k if all(e is not None for e in errs) else None
    return {"score": _r(sum(g["score"] for g in scored) / k), "stderr": _r(err), "groups": k}


def item_values(details: Iterable[dict[str, Any]], metric: str) -> tuple[list[tuple[str, float]], bool] | None:
    """(item id, value) of each scored item for `metric`, and whether the values are 0/1; None when the task's
    score is not a mean of per-item values (corpus BLEU, perplexity, pass@k)."""
    rows = [d for d in details if isinstance(d, dict)]
    if not rows:
        return [], True
    if metric in ACCURACY_METRICS:
        key = "acc" if all("acc" in d for d in rows) else "correct"
        if all(key in d for d in rows):
            return [(str(d.get("id")), float(d[key])) for d in rows], True
        return None
    if metric.endswith("_corpus"):  # pooled statistics: not a mean of item values
        return None
    key = metric.removesuffix("_sentence_mean")  # items carry their sentence score under the base name
    if all(isinstance(d.get("metrics"), dict) and _number(d["metrics"].get(key)) for d in rows):
        values = [(str(d.get("id")), float(d["metrics"][key])) for d in rows]
        return values, all(v in (0.0, 1.0) for _, v in values)
    return None


def task_aggregate(details: list[dict[str, Any]], source: dict[str, Any], metas: dict[str, dict[str, Any]],
                   score: float | None, stderr: float | None) -> dict[str, Any]:
    """One task's aggregate block for bench/<model>.json (see the module docstring for each number)."""
    metric = str(source.get("metric") or "accuracy")
    out: dict[str, Any] = {
        "metric": metric, "higher_is_better": bool(source.get("higher_is_better", True)),
        "score": score, "stderr": stderr, "n": len(details),
        "missing": int(source.get("missing") or 0), "rejected": int(source.get("rejected") or 0),
        "unparsed": sum(1 for d in details if isinstance(d, dict) and "extracted" in d and d["extracted"] is None),
    }
    got = item_values(details, metric)
    if got is None:
        return out
    values, binary = got
    # A task that brings its own standard error (log-likelihood: sample SD / sqrt(n), as lm-eval) keeps that rule
    # in its breakdown, so its micro row (the same items) shows the same error as the task row.
    binary = binary and stderr is None
    if stderr is None and values and score is not None:
        out["stderr"] = summarize([v for _, v in values], binary)["stderr"]
    subjects: dict[str, list[float]] = {}
    categories: dict[str, list[float]] = {}
    cat_subjects: dict[str, set[str]] = {}
    subject_cat: dict[str, str] = {}
    for item_id, value in values:
        meta = metas.get(item_id) or {}
        subject = meta.get("subject")
        category = meta.get("category") or (category_of(subject) if isinstance(subject, str) else None)
        if isinstance(subject, str):
            subjects.setdefault(subject, []).append(value)
        if isinstance(category, str):
            categories.setdefault(category, []).append(value)
            if isinstance(subject, str):
                cat_subjects.setdefault(category, set()).add(subject)
                subject_cat.setdefault(subject, category)
    if not subjects and not categories:
        return out
    subj = {s: {**summarize(v, binary), **({"category": subject_cat[s]} if s in subject_cat else {})}
            for s, v in sorted(subjects.items())}
    out["micro"] = summarize([v for _, v in values], binary)
    if subj:
        out["macro"] = macro(subj)
        out["subjects"] = subj
    if categories:
        cats = {}
        for c, v in sorted(categories.items()):
            members = {s: subj[s] for s in sorted(cat_subjects.get(c, ()))}
            cats[c] = {**summarize(v, binary), "subjects": len(members),
                       **({"macro": macro(members)["score"]} if members else {})}
        out["categories"] = cats
        out["macro_categories"] = macro(cats)
    return out


def add_aggregates(result: dict[str, Any], metas: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Add `aggregates[task]` (and a missing accuracy `stderr[task]`) to a model's result; metas maps
    task -> item id -> the item's metadata (subject, category). Existing fields are left as they are."""
    sources = result.get("sources") or {}
    for task, details in (result.get("details") or {}).items():
        source = sources.get(task) or {}
        score = (result.get("scores") or {}).get(task)
        stderr = (result.get("stderr") or {}).get(task)
        agg = task_aggregate(list(details or []), source, metas.get(task, {}), score, stderr)
        result.setdefault("aggregates", {})[task] = agg
        if stderr is None and agg["stderr"] is not None:
            result.setdefault("stderr", {})[task] = agg["stderr"]
    return result


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, ROUND)
