"""Reading load-test results (WORKSPACE/perf/*.json) with no dependency beyond the standard library,
so the Streamlit app can read them without the load-test client."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PERF_DIR = "perf"
KIND = "arena-perf"


def perf_dir(workspace: Path) -> Path:
    """WORKSPACE/perf."""
    return Path(workspace) / PERF_DIR


def read_perf_results(workspace: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every load test of a workspace (oldest first) and the files that could not be read."""
    folder = perf_dir(workspace)
    docs, bad = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            bad.append(path.name)
            continue
        if isinstance(doc, dict) and doc.get("kind") == KIND and isinstance(doc.get("levels"), list):
            docs.append(doc)
        else:
            bad.append(path.name)
    return docs, bad
