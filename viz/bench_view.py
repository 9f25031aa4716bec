"""Objective benchmark results (WORKSPACE/bench/<model>.json): loading, the models x tasks table and the
long table (metric, value, standard error, n, missing, date per task, with subject-group averages)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from arena.bench.results import metric_label, score_rows
from viz.data import Stamp, stamp
from viz.render import escape_markdown_html

COLUMNS = ["model", "task", "group", "metric", "higher_is_better", "value", "stderr", "n", "missing", "updated",
           "limit"]
ACCURACY_NAMES = ("accuracy", "acc")


def read_bench_file(path: Path, breakdown: bool = True) -> list[dict[str, Any]]:
    """One bench/<model>.json as score rows (arena.bench.results.score_rows); [] for an unreadable file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict):
        return []
    data = {**data, "model": str(data.get("model") or Path(path).stem)}
    return [r for r in score_rows(data, breakdown, subjects=breakdown) if r["value"] is not None]


@st.cache_data(show_spinner=False, max_entries=16)
def _bench_cached(signature: tuple[Stamp, ...], breakdown: bool) -> pd.DataFrame:
    """Score rows of every bench file in the signature (the last file of a model wins)."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for file in signature:
        for row in read_bench_file(Path(file[0]), breakdown):
            rows[(row["model"], row["task"], row["group"])] = row
    return pd.DataFrame(list(rows.values()), columns=COLUMNS)


def _signature(folder: Path) -> tuple[Stamp, ...]:
    if not folder.is_dir():
        return ()
    return tuple(s for p in sorted(folder.glob("*.json")) if not p.name.startswith(".") and (s := stamp(p)))


def load_bench_results(workspace: Path, breakdown: bool = False) -> pd.DataFrame:
    """WORKSPACE/bench/<model>.json as rows (model, task, group, metric, value, stderr, n, missing, updated);
    `breakdown` adds the micro/macro/category/subject rows (group != ''). Empty when there are none."""
    files = _signature(Path(workspace) / "bench")
    return _bench_cached(files, breakdown) if files else pd.DataFrame()


def task_column(task: str, metric: str, higher_is_better: bool) -> str:
    """A task's column name: the task for accuracies, else the task and its metric (lower-is-better said)."""
    if metric in ACCURACY_NAMES and higher_is_better:
        return task
    return f"{task} [{metric_label(metric, higher_is_better)}]"


def load_bench(workspace: Path) -> pd.DataFrame:
    """Objective scores as a model x task table, columns named by task_column (empty when there are none)."""
    results = load_bench_results(workspace)
    if results.empty:
        return pd.DataFrame()
    results = results.assign(column=[task_column(t, m, h) for t, m, h in
                                     zip(results["task"], results["metric"], results["higher_is_better"])])
    return results.pivot_table(index="model", columns="column", values="value", aggfunc="last").sort_index(axis=1)


def bench_table(results: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """Models x tasks: value, standard error (when known) and n per task, and the model's last update date."""
    if models is not None:
        results = results[results["model"].isin(models)]
    if results.empty:
        return pd.DataFrame()
    out = pd.DataFrame(index=sorted(results["model"].unique()))
    for task in sorted(results["task"].unique()):
        rows = results[results["task"] == task].set_index("model")
        first = rows.iloc[-1]
        name = task_column(task, str(first["metric"]), bool(first["higher_is_better"]))
        out[name] = rows["value"]
        if rows["stderr"].notna().any():
            out[f"{task} ±"] = rows["stderr"]
        if rows["n"].notna().any():
            out[f"{task} n"] = rows["n"]
    out["updated"] = results.groupby("model")["updated"].max()
    out.index.name = "model"
    return out.reset_index()


def long_table(results: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """One row per model, task and group: metric (lower-is-better labelled), value, stderr, n, missing, date."""
    if models is not None:
        results = results[results["model"].isin(models)]
    if results.empty:
        return pd.DataFrame()
    out = results.sort_values(["model", "task", "group"]).copy()
    out["metric"] = [metric_label(m, h) for m, h in zip(out["metric"], out["higher_is_better"])]
    out = out.rename(columns={"group": "average / group", "updated": "date"})
    return out.drop(columns=["higher_is_better"]).reset_index(drop=True)


def show_bench(workspace: Path, models: list[str] | None = None) -> bool:
    """Draw the benchmark tables (all models, or those given); False when there is nothing to show."""
    results = load_bench_results(workspace)
    table = bench_table(results, models)
    if table.empty:
        return False
    limited = results[results["limit"].notna() & (results["model"].isin(models) if models is not None else True)]
    st.subheader("Objective benchmarks")
    st.caption(
        f"Scores per task from `{escape_markdown_html(str(Path(workspace) / 'bench'))}/<model>.json` "
        "(`arena bench` or `arena bench import`): accuracy unless the column names another metric; "
        "± is the standard error, n the number of items scored."
    )
    if not limited.empty:
        shown = ", ".join(f"{m} / {t} (first {int(n)})" for m, t, n in
                          limited[["model", "task", "limit"]].itertuples(index=False))
        st.warning(escape_markdown_html(f"Scored on the first items of the task only (--limit or the task's limit), "
                                        f"not comparable with full-task scores: {shown}"))
    config: dict[str, Any] = {"model": st.column_config.TextColumn("model", width="medium")}
    for column in table.columns:
        if column.endswith(" n"):
            config[column] = st.column_config.NumberColumn(column, format="%d")
        elif column not in ("model", "updated"):
            config[column] = st.column_config.NumberColumn(column, format="%.3f")
    st.dataframe(table, hide_index=True, column_config=config, key="bench_table")
    if st.toggle("Per task: metric, value, standard error, n, missing, date and subject averages",
                 key="bench_details"):
        st.dataframe(
            long_table(load_bench_results(workspace, breakdown=True), models),
            hide_index=True,
            key="bench_long",
            column_config={
                "value": st.column_config.NumberColumn("value", format="%.4f"),
                "stderr": st.column_config.NumberColumn("stderr", format="%.4f"),
                "n": st.column_config.NumberColumn("n", format="%d"),
                "missing": st.column_config.NumberColumn("missing", format="%d"),
            },
        )
    return True
