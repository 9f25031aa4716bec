"""Import lm-evaluation-harness results JSON (`results: {task: {"acc,none": 0.71, ...}}`) as bench scores.

Assumed layout (lm-eval 0.4.x `results_<date>.json`, also what `simple_evaluate` returns): `results` and
`groups` map a task to `{"<metric>,<filter>": value, "<metric>_stderr,<filter>": value, "alias": ...}`;
`group_subtasks` maps a group to its subtasks; `n-samples` maps a task to `{"original", "effective"}`;
`n-shot` maps a task to its few-shot count; the model is `model_name`, else `pretrained=` in
`config.model_args`. Files of lm-eval 0.3 (`{"acc": 0.71, "acc_stderr": ...}`, no filter) read too.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena.bench.results import now, valid_score
from arena.errors import DataError

# Preferred metric when --metric is not given: accuracy, then GSM8K-style exact match.
METRIC_ORDER = ("acc,none", "exact_match,strict-match", "exact_match,flexible-extract", "exact_match,none",
                "acc_norm,none", "acc", "exact_match", "acc_norm")


def results_files(paths: list[Path], pattern: str = "results*.json",
                  keep: Callable[[Path], bool] | None = None) -> list[Path]:
    """The results files named, or found (`pattern`, passing `keep`; oldest name first) in the folders named."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted((f for f in p.rglob(pattern) if keep is None or keep(f)),
                           key=lambda f: (f.parent.as_posix(), f.name))
            if not found:
                raise DataError(f"{p}: no {pattern if keep is None else 'matching ' + pattern} under this folder")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise DataError(f"{p}: file not found")
    return out


def json_kind(value: Any) -> str:
    """How a JSON value is named in an error: 'a list', 'a number', ..."""
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a text", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def mapping(data: dict[str, Any], key: str, source: str, what: str) -> dict[str, Any]:
    """`data[key]` when it is a JSON object ({} when absent or null); else a DataError naming the file and
    the field."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{source}: field '{key}' must be an object mapping {what}, not {json_kind(value)}",
                        hint="expected the layout of lm-eval's results_<date>.json (lm-eval 0.4.x)")
    return value


def model_name(data: dict[str, Any], source: str = "the results file") -> str | None:
    """The evaluated model's name: `model_name`, else `pretrained=`/`model=` in `config.model_args`."""
    if isinstance(data.get("model_name"), str) and data["model_name"].strip():
        return data["model_name"].strip()
    args = mapping(data, "config", source, "settings such as model_args").get("model_args")
    if isinstance(args, dict):
        args = ",".join(f"{k}={v}" for k, v in args.items())
    if isinstance(args, str):
        pairs = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
        for key in ("pretrained", "model", "path"):
            if pairs.get(key):
                return pairs[key].strip()
    return None


def pick_metric(values: dict[str, Any], metric: str | None) -> tuple[str, float] | None:
    """The metric to import from one task's values: `metric` (with any filter), else the first of METRIC_ORDER."""
    if metric:
        keys = [metric] if "," in metric else [metric, *sorted(k for k in values if k.startswith(metric + ","))]
    else:
        keys = list(METRIC_ORDER)
    for key in keys:
        if valid_score(values.get(key)):
            return key, float(values[key])
    return None


def column_metric(key: str) -> str:
    """The metric name an lm-eval key is filed under (and named by in leaderboard columns): the default
    filter dropped (`acc,none` -> `acc`), another one kept after `@` (`exact_match,strict-match` ->
    `exact_match@strict-match`), so no column name holds a comma."""
    name, _, flt = str(key).partition(",")
    return name if flt in ("", "none") else f"{name}@{flt}"


def _stderr_key(key: str) -> str:
    name, _, flt = key.partition(",")
    return f"{name}_stderr,{flt}" if flt else f"{name}_stderr"


def parse_results(data: dict[str, Any], source: str, *, model: str | None = None, metric: str | None = None,
                  tasks: list[str] | None = None, all_subtasks: bool = False) -> dict[str, Any]:
    """One lm-eval results object as a bench result: {model, scores, n, stderr, sources, updated}. A field of
    the wrong JSON type is a DataError naming the file and the field."""
    missing = f"{source}: no 'results' mapping of tasks to metrics (is this an lm-eval results file?)"
    if "results" not in data:
        raise DataError(missing)
    results = mapping(data, "results", source, "each task to its metrics")
    table = {**mapping(data, "groups", source, "each group to its metrics"), **results}
    if not results or not table:
        raise DataError(missing)
    name = model or model_name(data, source)
    if not name:
        raise DataError(f"{source}: the file does not name the model", hint="pass --model NAME")
    groups = mapping(data, "group_subtasks", source, "each group to its list of subtasks")
    subtasks = {s for subs in groups.values() if isinstance(subs, list) for s in subs if isinstance(s, str)}
    wanted = set(tasks) if tasks else None
    n_samples = mapping(data, "n-samples", source, "each task to its item counts")
    n_shot = mapping(data, "n-shot", source, "each task to its few-shot count")
    out: dict[str, Any] = {"model": name, "scores": {}, "n": {}, "stderr": {}, "sources": {}}
    for task, values in table.items():
        if not isinstance(values, dict) or (wanted is not None and task not in wanted):
            continue
        if wanted is None and task in subtasks and not all_subtasks:
            continue
        picked = pick_metric(values, metric)
        if picked is None:
            continue
        key, value = picked
        out["scores"][task] = value
        if valid_score(values.get(_stderr_key(key))):
            out["stderr"][task] = float(values[_stderr_key(key)])
        effective = (n_samples.get(task) or {}).get("effective") if isinstance(n_samples.get(task), dict) else None
        if isinstance(effective, int) and not isinstance(effective, bool):
            out["n"][task] = effective
        shots, version = n_shot.get(task), data.get("lm_eval_version")
        out["sources"][task] = {
            "source": "lm-eval", "file": source, "metric": column_metric(key), "lm_eval_key": key,
            "num_fewshot": shots if isinstance(shots, int) and not isinstance(shots, bool) else None,
            "lm_eval_version": version if isinstance(version, str) else None}
    if not out["scores"]:
        raise DataError(f"{source}: no task has a usable metric" + (f" '{metric}'" if metric else ""),
                        hint="choose one with --metric (e.g. acc_norm) or check --tasks")
    out["updated"] = now()
    return out


def read_lm_eval(paths: list[Path], *, model: str | None = None, metric: str | None = None,
                 tasks: list[str] | None = None, all_subtasks: bool = False) -> list[dict[str, Any]]:
    """Read lm-eval results files; one result per model (a later file's task replaces an earlier one's)."""
    by_model: dict[str, dict[str, Any]] = {}
    for file in results_files(paths):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{file}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise DataError(f"{file}: expected a JSON object with 'results'")
        res = parse_results(data, str(file), model=model, metric=metric, tasks=tasks, all_subtasks=all_subtasks)
        prev = by_model.get(res["model"])
        if prev is None:
            by_model[res["model"]] = res
        else:
            for key in ("scores", "n", "stderr", "sources"):
                prev[key].update(res[key])
    return list(by_model.values())
