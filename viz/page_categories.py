"""Categories page: per-category ratings as a table and a radar chart."""

from __future__ import annotations

from pathlib import Path

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
