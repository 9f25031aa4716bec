"""Categories page: per-category ratings as a table and a radar chart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.data import RunInfo
from viz.derive import category_table
from viz.render import chart_label, missing_results, page_header

RADAR_DEFAULT = 5


def radar(table, models: list[str]) -> go.Figure:
    """Radar (polar) chart of the chosen models' ratings per category."""
    categories = [c for c in table.columns if c != "overall"]
    fig = go.Figure()
    for model in models:
        values = table.loc[model, categories].tolist()
        fig.add_trace(
            go.Scatterpolar(
                r=values + values[:1],
                theta=categories + categories[:1],
                name=chart_label(model),
                mode="lines+markers",
            )
        )
    finite = table[categories].stack()
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    pad = max(10.0, 0.05 * (high - low))
    fig.update_layout(
        polar={"radialaxis": {"range": [low - pad, high + pad]}},
        height=560,
        legend={"orientation": "h"},
        margin={"t": 30},
    )
    return fig


def cell_details(board: dict) -> pd.DataFrame:
    """Model x category text cells: `rating [low, high] n=battles` (the interval left out when undefined)."""
    parts = {f: category_table(board, f) for f in ("rating", "ci_low", "ci_high", "battles")}
    rating = parts["rating"]
    out = pd.DataFrame("", index=rating.index, columns=rating.columns)
    for column in rating.columns:
        for model in rating.index:
            value = rating.at[model, column]
            if pd.isna(value):
                continue
            low, high, n = (parts[f].at[model, column] for f in ("ci_low", "ci_high", "battles"))
            interval = f" [{low:.0f}, {high:.0f}]" if pd.notna(low) and pd.notna(high) else ""
            out.at[model, column] = f"{value:.1f}{interval}" + (f" n={int(n)}" if pd.notna(n) else "")
    return out


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the categories page for one run."""
    page_header("Categories", run)
    board = run.load_json("leaderboard.json")
    if not board:
        missing_results(run, "leaderboard")
        return
    table = category_table(board)
    if table.empty or table.shape[1] < 2:
        st.info(
            "This leaderboard has no per-category ratings (the battles carry no category, "
            "or every category was skipped; see the leaderboard warnings)."
        )
        return
    st.caption(
        "Each category is refitted on its own battles, so ratings are comparable within a column. "
        "An empty cell: the model has no battles in that category."
    )
    detail = st.toggle("Show each cell's interval and battles", key="cat_detail",
                       help="The 95% bootstrap interval and the number of battles behind each rating.")
    if detail:
        st.dataframe(cell_details(board))
    else:
        st.dataframe(
            table.round(1),
            column_config={c: st.column_config.NumberColumn(c, format="%.1f") for c in table.columns},
        )
    categories = [c for c in table.columns if c != "overall"]
    if len(categories) < 3:
        st.info("A radar chart needs at least three categories.")
        return
    models = list(table.index)
    chosen = st.multiselect("Models on the radar", models, default=models[:RADAR_DEFAULT], key="cat_models")
    if chosen:
        st.plotly_chart(radar(table, chosen), key="cat_radar")
