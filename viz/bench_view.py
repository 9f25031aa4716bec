"""Objective benchmark results (WORKSPACE/bench/<model>.json): loading and the models x tasks table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from viz.data import Stamp, stamp
from viz.render import escape_markdown_html


@st.cache_data(show_spinner=False, max_entries=16)
def _bench_cached(signature: tuple[Stamp, ...]) -> pd.DataFrame:
    """Objective benchmark results, one row per (model, task): accuracy, n, updated."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for file in signature:
        try:
            data = json.loads(Path(file[0]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("scores"), dict):
            continue
        model = str(data.get("model") or Path(file[0]).stem)
        counts = data.get("n") if isinstance(data.get("n"), dict) else {}
        for task, value in data["scores"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                n = counts.get(task)
                rows[(model, str(task))] = {
                    "model": model,
                    "task": str(task),
                    "accuracy": float(value),
                    "n": int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None,
                    "updated": str(data["updated"]) if data.get("updated") else None,
                }
    return pd.DataFrame(list(rows.values()), columns=["model", "task", "accuracy", "n", "updated"])


def load_bench_results(workspace: Path) -> pd.DataFrame:
    """WORKSPACE/bench/<model>.json as (model, task, accuracy, n, updated) rows (empty when none)."""
    folder = Path(workspace) / "bench"
    if not folder.is_dir():
        return pd.DataFrame()
    files = tuple(
        s for p in sorted(folder.glob("*.json")) if not p.name.startswith(".") and (s := stamp(p)) is not None
    )
    return _bench_cached(files) if files else pd.DataFrame()


def load_bench(workspace: Path) -> pd.DataFrame:
    """Objective benchmark accuracy as a model x task table (empty when there is none)."""
    results = load_bench_results(workspace)
    if results.empty:
        return pd.DataFrame()
    return results.pivot_table(index="model", columns="task", values="accuracy", aggfunc="last").sort_index(
        axis=1
    )


def bench_table(results: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """Models x tasks: accuracy and n per task, and when the model's file was last updated."""
    if models is not None:
        results = results[results["model"].isin(models)]
    if results.empty:
        return pd.DataFrame()
    out = pd.DataFrame(index=sorted(results["model"].unique()))
    for task in sorted(results["task"].unique()):
        rows = results[results["task"] == task].set_index("model")
        out[task] = rows["accuracy"]
        if rows["n"].notna().any():
            out[f"{task} n"] = rows["n"]
    out["updated"] = results.groupby("model")["updated"].max()
    out.index.name = "model"
    return out.reset_index()


def show_bench(workspace: Path, models: list[str] | None = None) -> bool:
    """Draw the benchmark table (all models, or those given); False when there is nothing to show."""
    table = bench_table(load_bench_results(workspace), models)
    if table.empty:
        return False
    st.subheader("Objective benchmarks")
    st.caption(
        f"Accuracy per task from `{escape_markdown_html(str(Path(workspace) / 'bench'))}/<model>.json` "
        "(`arena bench` or `arena bench import`); n is the number of items scored."
    )
    config: dict[str, Any] = {"model": st.column_config.TextColumn("model", width="medium")}
    for column in table.columns:
        if column.endswith(" n"):
            config[column] = st.column_config.NumberColumn(column, format="%d")
        elif column not in ("model", "updated"):
            config[column] = st.column_config.NumberColumn(column, format="%.3f")
    st.dataframe(table, hide_index=True, column_config=config, key="bench_table")
    return True
