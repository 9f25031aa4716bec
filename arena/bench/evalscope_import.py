"""Import evalscope report JSON files (`outputs/<time>/reports/<model>/<dataset>.json`) as bench scores.

Assumed layout (evalscope's `Report.to_dict()`, 0.1x-1.x): `model_name`, `dataset_name`, `score` (the first
metric's micro mean), and `metrics: [{name, num, score, macro_score, categories: [{name, num, score,
macro_score, subsets: [{name, score, num, is_aggregate?}]}]}]`. A category's `name` is a list of levels (older
files: one text). Scores are 0-1. A dataset becomes one task whose value is the chosen metric's `score`: the
item-weighted (micro) mean over subsets, which evalscope reports as its weighted average; the macro mean, the
per-category and per-subset scores go to `sources[task]`. Subsets marked `is_aggregate` (summary rows) are not
counted. evalscope reports no standard errors, so none are imported."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arena.bench.lmeval import json_kind, results_files
from arena.bench.results import now, valid_score
from arena.errors import DataError


def report_files(paths: list[Path]) -> list[Path]:
    """The report files named, or every report JSON found under the folders named."""
    try:
        return results_files(paths, "*.json", _looks_like_report)
    except DataError as exc:
        raise DataError(f"{exc} (evalscope reports: outputs/<time>/reports/<model>/<dataset>.json)") from None


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def _looks_like_report(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("metrics"), list) and "dataset_name" in data


def _list(value: Any, source: str, field: str) -> list[Any]:
    """A list field ([] when absent or null); another JSON type is a DataError naming the file and field."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"{source}: field '{field}' must be a list, not {json_kind(value)}",
                        hint="is this an unmodified evalscope report?")
    return value


def _subsets(metric: dict[str, Any], source: str,
             where: str = "metrics[]") -> list[tuple[str, str, float, int]]:
    """(category, subset, score, num) of a metric's real subsets (summary rows left out); `where` names the
    metric in errors (e.g. metrics[0])."""
    rows = []
    for i, cat in enumerate(_list(metric.get("categories"), source, f"{where}.categories")):
        if not isinstance(cat, dict):
            raise DataError(f"{source}: field '{where}.categories[{i}]' must be an object, "
                            f"not {json_kind(cat)}")
        name = cat.get("name")
        label = "/".join(map(str, name)) if isinstance(name, list) else str(name or "default")
        for sub in _list(cat.get("subsets"), source, f"{where}.categories[{i}].subsets"):
            if not isinstance(sub, dict) or not valid_score(sub.get("score")) or not _count(sub.get("num")):
                raise DataError(f"{source}: subset {sub!r:.80} needs a numeric 'score' and an integer 'num' "
                                f"(field '{where}.categories[{i}].subsets')")
            if not sub.get("is_aggregate"):
                rows.append((label, str(sub.get("name", "default")), float(sub["score"]), sub["num"]))
    return rows


def _count(value: Any) -> bool:
    """Whether a value is an item count (an integer, not true/false)."""
    return isinstance(value, int) and not isinstance(value, bool)


def pick(metrics: list[Any], metric: str | None) -> dict[str, Any] | None:
    """The metric to import: the one named `metric` (case-insensitive), else the first (evalscope's own choice)."""
    usable = [m for m in metrics if isinstance(m, dict) and valid_score(m.get("score"))]
    if metric is None:
        return usable[0] if usable else None
    return next((m for m in usable if str(m.get("name", "")).lower() == metric.lower()), None)


def parse_report(data: dict[str, Any], source: str, *, model: str | None = None, metric: str | None = None,
                 tasks: list[str] | None = None, all_subtasks: bool = False) -> dict[str, Any]:
    """One evalscope report as a bench result: {model, scores, n, sources, updated} (empty scores when the
    dataset is not among `tasks` or lacks the metric)."""
    if not isinstance(data.get("metrics"), list) or not isinstance(data.get("dataset_name"), str):
        raise DataError(f"{source}: no 'dataset_name' and 'metrics' list (is this an evalscope report JSON?)")
    name = model or (data.get("model_name") if isinstance(data.get("model_name"), str) else None)
    if not name or not name.strip():
        raise DataError(f"{source}: the report does not name the model", hint="pass --model NAME")
    dataset = data["dataset_name"]
    out: dict[str, Any] = {"model": name.strip(), "scores": {}, "n": {}, "sources": {}}
    chosen = pick(data["metrics"], metric)
    if chosen is None:
        return out
    at = next(i for i, m in enumerate(data["metrics"]) if m is chosen)
    rows = _subsets(chosen, source, f"metrics[{at}]")
    entries = [(dataset, float(chosen["score"]), sum(r[3] for r in rows) or chosen.get("num"))]
    if all_subtasks and len(rows) > 1:
        entries += [(f"{dataset}_{sub}", score, num) for _, sub, score, num in rows]
    categories: dict[str, list[tuple[float, int]]] = {}
    for cat, _, score, num in rows:
        categories.setdefault(cat, []).append((score, num))
    for task, score, num in entries:
        if tasks and task not in tasks:
            continue
        out["scores"][task] = score
        if _count(num) and num > 0:
            out["n"][task] = num
        pretty = data.get("dataset_pretty_name")
        out["sources"][task] = {"source": "evalscope", "file": source, "metric": str(chosen.get("name")),
                                "dataset_pretty_name": pretty if isinstance(pretty, str) and pretty else None}
        if task == dataset:
            macro = chosen.get("macro_score")
            out["sources"][task].update({
                "macro_score": float(macro) if valid_score(macro) else None,
                "subsets": {sub: {"score": s, "n": n, "category": cat} for cat, sub, s, n in rows},
                "categories": {c: {"score": round(sum(s * n for s, n in v) / max(1, sum(n for _, n in v)), 6),
                                   "n": sum(n for _, n in v)} for c, v in categories.items()}})
    return out


def read_evalscope(paths: list[Path], *, model: str | None = None, metric: str | None = None,
                   tasks: list[str] | None = None, all_subtasks: bool = False) -> list[dict[str, Any]]:
    """Read evalscope reports; one result per model (a later file's dataset replaces an earlier one's)."""
    by_model: dict[str, dict[str, Any]] = {}
    for file in report_files(paths):
        data = _load(file)
        if not isinstance(data, dict):
            raise DataError(f"{file}: expected a JSON object (an evalscope report)")
        res = parse_report(data, str(file), model=model, metric=metric, tasks=tasks, all_subtasks=all_subtasks)
        prev = by_model.setdefault(res["model"], {**res, "scores": {}, "n": {}, "sources": {}})
        for key in ("scores", "n", "sources"):
            prev[key].update(res[key])
    results = [r for r in by_model.values() if r["scores"]]
    if not results:
        raise DataError(f"no report in {', '.join(map(str, paths))} has a usable metric"
                        + (f" '{metric}'" if metric else ""), hint="check --metric (e.g. AverageAccuracy) and --tasks")
    for r in results:
        r["updated"] = now()
    return results
