"""`WORKSPACE/bench/<model>.json`: one model's objective scores, merged task by task, written atomically."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from arena.records import safe_filename, write_json_atomic

MERGED_KEYS = ("scores", "n", "stderr", "sources", "details", "metrics", "aggregates", "errors")  # per task


def now() -> str:
    """UTC time stamp as written in bench files."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def file_name(model: str) -> str:
    """A safe file name for a model name (hub ids like org/model become org__model)."""
    return safe_filename(model) + ".json"


def bench_path(workspace: Path, model: str) -> Path:
    """Where a model's merged scores live in the workspace."""
    return Path(workspace) / "bench" / file_name(model)


def read_result(path: Path) -> dict[str, Any]:
    """A bench result file as a dict ({} when it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Tasks in `new` replace the same tasks in `old` whole (score, stderr, n, details, breakdowns: nothing of
    the old measurement stays beside the new one); other tasks of `old` are kept. `arena bench` first puts
    back the old entries of a task its run could not score at all (keep_unscored)."""
    replaced = {task for key in MERGED_KEYS if isinstance(new.get(key), dict) for task in new[key]}
    out: dict[str, Any] = {"model": new.get("model") or old.get("model")}
    for key in MERGED_KEYS:
        before = old.get(key) if isinstance(old.get(key), dict) else {}
        merged = {**{t: v for t, v in before.items() if t not in replaced}, **(new.get(key) or {})}
        if merged:
            out[key] = merged
    rest = {**old, **new}
    out.update({k: v for k, v in rest.items() if k not in out and k not in MERGED_KEYS and k != "updated"})
    out["updated"] = new.get("updated") or now()
    sources = out.get("sources") or {}
    for task in replaced:  # each task keeps the date it was scored
        src = sources.get(task)
        if src is None or isinstance(src, dict):
            sources[task] = {**(src or {}), "updated": (src or {}).get("updated") or out["updated"]}
    if sources:
        out["sources"] = sources
    return out


def keep_unscored(old: dict[str, Any], new: dict[str, Any], reasons: dict[str, str],
                  run_id: str) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """`new` with each task it has no score for, but `old` has for the same items and prompts, taken back from
    `old` whole (score, n, details, breakdowns, source with its run and date): a re-run that scored no item of
    a task (endpoint down, a missing extra) does not wipe a stored score. `sources[task].kept` records this
    run, when, and why it scored nothing (`reasons[task]`). A task `new` scored, even partly, stays as it is;
    so does a task whose stored score measured other items or prompts (other_task). Returns (result, tasks
    kept, {task: why its stored score was not kept})."""
    old_scores = old.get("scores") if isinstance(old.get("scores"), dict) else {}
    new_scores = new.get("scores") if isinstance(new.get("scores"), dict) else {}
    tasks = {t for key in MERGED_KEYS if isinstance(new.get(key), dict) for t in new[key]}
    unscored = sorted((t for t in tasks if not valid_score(new_scores.get(t))
                       and valid_score(old_scores.get(t))), key=str)
    old_sources = old.get("sources") if isinstance(old.get("sources"), dict) else {}
    new_sources = new.get("sources") if isinstance(new.get("sources"), dict) else {}
    old_n = old.get("n") if isinstance(old.get("n"), dict) else {}
    refused: dict[str, str] = {}
    for task in unscored:
        why = other_task(old_sources.get(task), new_sources.get(task), old_n.get(task))
        if why:
            refused[task] = why
    kept = [t for t in unscored if t not in refused]
    if not kept:
        return new, [], refused
    out = dict(new)
    for key in MERGED_KEYS:
        before = old.get(key) if isinstance(old.get(key), dict) else {}
        part = {t: v for t, v in (new.get(key) or {}).items() if t not in kept}
        part.update({t: before[t] for t in kept if t in before})
        if part:
            out[key] = part
        else:
            out.pop(key, None)
    sources = out.setdefault("sources", {})
    for task in kept:
        src = dict(sources[task]) if isinstance(sources.get(task), dict) else {}
        src["updated"] = src.get("updated") or old.get("updated") or now()  # the date of the score kept
        src["kept"] = {"run_id": run_id, "date": now(), "reason": reasons.get(task) or "no item scored"}
        sources[task] = src
    return out, kept, refused


FINGERPRINT = ("items", "items_hash", "prompt_hash")  # what a task's source says about its items, prompts


def other_task(old_src: Any, new_src: Any, old_n: Any) -> str | None:
    """Why a stored task entry did not measure the task a run has just run (None: it did): another item
    count (`items`, or n + missing in files written before `items` was), other items (`items_hash`), other
    prompts (`prompt_hash`: the template and system prompt). An entry that records none of them (an imported
    report) cannot be matched to the task's items."""
    old_src = old_src if isinstance(old_src, dict) else {}
    new_src = new_src if isinstance(new_src, dict) else {}
    if not any(old_src.get(k) is not None for k in FINGERPRINT):
        return f"is from {old_src.get('source') or 'an import'}, not matched to this task's items"
    before = old_src.get("items")
    if not valid_score(before) and valid_score(old_n) and valid_score(old_src.get("missing")):
        before = old_n + old_src["missing"]
    now_items = new_src.get("items")
    if valid_score(before) and valid_score(now_items) and int(before) != int(now_items):
        return f"is for other items ({int(before)} then, {int(now_items)} now)"
    if None not in (old_src.get("items_hash"), new_src.get("items_hash")) \
            and old_src["items_hash"] != new_src["items_hash"]:
        return "is for other items"
    if None not in (old_src.get("prompt_hash"), new_src.get("prompt_hash")) \
            and old_src["prompt_hash"] != new_src["prompt_hash"]:
        return "is for other prompts"
    return None


def write_bench(workspace: Path, result: dict[str, Any]) -> Path:
    """Merge one model's result into WORKSPACE/bench/<model>.json (atomic rename); returns the path."""
    path = bench_path(workspace, result["model"])
    old = read_result(path)
    if old.get("model") not in (None, result["model"]):  # 'org/model' and 'org__model' name the same file
        from arena.errors import DataError

        raise DataError(f"{path} holds the scores of model '{old['model']}'; '{result['model']}' has the same "
                        "file name and would be merged into it", hint="rename one of the two models")
    write_json_atomic(path, merge(old, result))
    return path


def valid_score(value: Any) -> bool:
    """A number usable as a score (not a bool, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_label(metric: str, higher_is_better: bool = True) -> str:
    """How a metric is named in tables: lower-is-better metrics (perplexity) say so."""
    return metric if higher_is_better else f"{metric} (lower is better)"


def score_rows(result: dict[str, Any], breakdown: bool = True, subjects: bool = False) -> list[dict[str, Any]]:
    """One row per task of a bench result (metric, value, stderr, n, missing, date, why a task could not be
    scored, a score kept from an earlier run and why, a demo-backend placeholder), and with `breakdown`
    its micro/macro averages and per-category rows (`subjects`: per-subject rows too); works on files
    written before aggregates existed."""
    rows: list[dict[str, Any]] = []
    scores = result.get("scores") if isinstance(result.get("scores"), dict) else {}
    counts = result.get("n") if isinstance(result.get("n"), dict) else {}
    errors = result.get("stderr") if isinstance(result.get("stderr"), dict) else {}
    sources = result.get("sources") if isinstance(result.get("sources"), dict) else {}
    aggs = result.get("aggregates") if isinstance(result.get("aggregates"), dict) else {}
    for task in sorted(set(scores) | set(counts), key=str):
        src = sources.get(task) if isinstance(sources.get(task), dict) else {}
        agg = aggs.get(task) if isinstance(aggs.get(task), dict) else _imported_breakdown(src, scores.get(task))
        metric = str(src.get("metric") or agg.get("metric") or "accuracy")
        higher = bool(src.get("higher_is_better", agg.get("higher_is_better", True)))
        date = str(src.get("updated") or result.get("updated") or "")[:10] or None  # when the task was scored
        base = {"model": str(result.get("model") or ""), "task": str(task), "metric": metric,
                "higher_is_better": higher, "updated": date}
        value, err, n = scores.get(task), errors.get(task), counts.get(task)
        unscored = src.get("unscored") if value is None else None
        rows.append({**base, "group": "", "value": value if valid_score(value) else None,
                     "stderr": err if valid_score(err) else None, "n": n if valid_score(n) else None,
                     "missing": None if unscored else agg.get("missing", src.get("missing")),
                     "unparsed": agg.get("unparsed"), "unscored": unscored,
                     "kept": src["kept"] if isinstance(src.get("kept"), dict) else None,
                     "demo": bool(src.get("demo")),
                     "limit": src.get("limit") if valid_score(src.get("limit")) else None})
        if not breakdown:
            continue
        extra = [("micro", agg.get("micro")), ("macro", agg.get("macro"))]
        extra += [(f"category {c}", v) for c, v in sorted((agg.get("categories") or {}).items())]
        if subjects:
            extra += [(f"subject {c}", v) for c, v in sorted((agg.get("subjects") or {}).items())]
        for label, block in extra:
            if isinstance(block, dict) and valid_score(block.get("score")):
                rows.append({**base, "group": label + (f" ({block['groups']} subjects)" if "groups" in block
                                                       else ""), "value": block["score"],
                             "stderr": block.get("stderr"), "n": block.get("n"), "missing": None, "unparsed": None,
                             "unscored": None})
    return rows


def _imported_breakdown(source: dict[str, Any], score: Any) -> dict[str, Any]:
    """The averages an imported report carries in its source entry (evalscope: the overall score is the
    item-weighted micro average, `macro_score` the mean of subsets, `categories` item-weighted)."""
    subsets = source.get("subsets")
    if not isinstance(subsets, dict) or not subsets:
        return {}
    sizes = [v.get("n") for v in subsets.values() if isinstance(v, dict) and valid_score(v.get("n"))]
    out: dict[str, Any] = {"micro": {"score": score, "n": sum(sizes) if sizes else None}}
    if valid_score(source.get("macro_score")):
        out["macro"] = {"score": source["macro_score"], "groups": len(subsets)}
    cats = source.get("categories")
    if isinstance(cats, dict):
        out["categories"] = {str(c): v for c, v in cats.items() if isinstance(v, dict)}
    return out
