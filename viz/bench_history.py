"""Objective scores across bench runs (History page): each `arena bench` run folder keeps its own copy of
the scores (runs/<id>/bench/<model>.json), so a model's weekly numbers are read run by run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from arena.bench.results import metric_label
from viz.bench_view import read_bench_file
from viz.data import RunInfo, Stamp, stamp
from viz.render import chart_label

HISTORY_COLUMNS = ["run_id", "started", "model", "task", "metric", "higher_is_better", "value", "stderr", "n"]


@st.cache_data(show_spinner=False, max_entries=16)
def _history_cached(runs: tuple[tuple[str, str, tuple[Stamp, ...]], ...]) -> pd.DataFrame:
    rows = []
    for run_id, started, files in runs:
        for file in files:
            for r in read_bench_file(Path(file[0]), breakdown=False):
                rows.append({"run_id": run_id, "started": started or None, **{k: r[k] for k in HISTORY_COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def bench_history(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per bench run, model and task (value, stderr, n, metric), oldest run first; empty when none."""
    chosen = []
    for run in sorted(runs, key=lambda r: (r.started or "", r.run_id)):
        folder = Path(run.path) / "bench"
        if run.dry_run or not folder.is_dir():
            continue
        files = tuple(s for p in sorted(folder.glob("*.json")) if (s := stamp(p)) is not None)
        if files:
            chosen.append((run.run_id, run.started or "", files))
    return _history_cached(tuple(chosen)) if chosen else pd.DataFrame(columns=HISTORY_COLUMNS)


def bench_history_chart(rows: pd.DataFrame, task: str, models: list[str]) -> go.Figure:
    """One task's value per bench run and model, with standard errors as error bars."""
    fig = go.Figure()
    for model in models:
        part = rows[(rows["task"] == task) & (rows["model"] == model)]
        x = part["started"] if part["started"].notna().all() else part["run_id"]
        fig.add_trace(go.Scatter(
            x=x, y=part["value"], mode="lines+markers", name=chart_label(model), customdata=part["run_id"],
            error_y={"type": "data", "array": part["stderr"].fillna(0), "thickness": 1},
            hovertemplate="%{customdata}: %{y:.4f}<extra>" + chart_label(model) + "</extra>",
        ))
    last = rows[rows["task"] == task].iloc[-1]
    fig.update_layout(height=420, xaxis_title="bench run", legend={"orientation": "h"}, margin={"t": 30},
                      yaxis_title=metric_label(str(last["metric"]), bool(last["higher_is_better"])))
    return fig


def show_bench_history(runs: list[RunInfo]) -> bool:
    """Draw objective scores across bench runs (chart per chosen task, table of all); False when none."""
    rows = bench_history(runs)
    if rows.empty:
        return False
    st.subheader("Objective benchmarks across bench runs")
    st.caption(f"{rows['run_id'].nunique()} bench run(s), from each run folder's `bench/<model>.json`; "
               "error bars are standard errors. Dry runs are left out.")
    tasks = sorted(rows["task"].unique())
    task = st.selectbox("Task", tasks, key="bench_hist_task")
    models = sorted(rows[rows["task"] == task]["model"].unique())
    st.plotly_chart(bench_history_chart(rows, task, models), key="bench_hist_chart")
    table = rows.assign(metric=[metric_label(m, h) for m, h in zip(rows["metric"], rows["higher_is_better"])])
    st.dataframe(table.drop(columns=["higher_is_better"]), hide_index=True, key="bench_hist_table",
                 column_config={"value": st.column_config.NumberColumn("value", format="%.4f"),
                                "stderr": st.column_config.NumberColumn("stderr", format="%.4f"),
                                "n": st.column_config.NumberColumn("n", format="%d")})
    return True
