"""`WORKSPACE/bench/<model>.json`: one model's objective scores, merged task by task, written atomically."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from arena.records import safe_filename, write_json_atomic

MERGED_KEYS = ("scores", "n", "stderr", "sources", "details", "metrics")


def now() -> str:
    """UTC time stamp as written in bench files."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def file_name(model: str) -> str:
    """A safe file name for a model name (hub ids like org/model become org__model)."""
    return safe_filename(model) + ".json"


def bench_path(workspace: Path, model: str) -> Path:
    """Where a model's merged scores live in the workspace."""
    return Path(workspace) / "bench" / file_name(model)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Tasks in `new` replace the same tasks in `old`; other tasks of `old` are kept."""
    out: dict[str, Any] = {"model": new.get("model") or old.get("model")}
    for key in MERGED_KEYS:
        merged = {**(old.get(key) or {}), **(new.get(key) or {})}
        if merged:
            out[key] = merged
    rest = {**old, **new}
    out.update({k: v for k, v in rest.items() if k not in out and k not in MERGED_KEYS and k != "updated"})
    out["updated"] = new.get("updated") or now()
    return out


def write_bench(workspace: Path, result: dict[str, Any]) -> Path:
    """Merge one model's result into WORKSPACE/bench/<model>.json (atomic rename); returns the path."""
    path = bench_path(workspace, result["model"])
    write_json_atomic(path, merge(_read(path), result))
    return path


def valid_score(value: Any) -> bool:
    """A number usable as a score (not a bool, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
