"""Judges page: position consistency, first-position win rate, ties, parse failures, tokens and cost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.data import RunInfo
from viz.render import chart_label, missing_results, page_header

SHARES = ("position_consistency", "first_position_win_rate", "tie_rate", "parse_failure_rate")
COUNTS = (
    "calls",
    "cached",
    "ok",
    "unparsed",
    "errors",
    "pairs_both_orders",
    "prompt_tokens",
    "completion_tokens",
)


def stats_table(stats: dict) -> pd.DataFrame:
    """One row per judge with shares in percent."""
    frame = pd.DataFrame.from_dict(stats, orient="index")
    frame.index.name = "judge"
    for column in SHARES:
        if column in frame:
            frame[column] = 100 * pd.to_numeric(frame[column], errors="coerce")
    ordered = [c for c in COUNTS[:6] + SHARES + COUNTS[6:] + ("cost_usd", "dry_run") if c in frame]
    return frame[ordered + [c for c in frame.columns if c not in ordered]].reset_index()


def shares_chart(table: pd.DataFrame) -> go.Figure:
    """Grouped bars of the judge-quality shares."""
    fig = go.Figure()
    for column in SHARES:
        if column in table:
            fig.add_trace(
                go.Bar(
                    x=[chart_label(j) for j in table["judge"]], y=table[column], name=column.replace("_", " ")
                )
            )
    fig.update_layout(barmode="group", yaxis_title="%", yaxis_range=[0, 100], height=380, margin={"t": 30})
    return fig


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the judges page for one run."""
    page_header("Judges", run)
    stats = run.load_json("judge_stats.json")
    if not stats:
        missing_results(run, "judge statistics (judge_stats.json)")
        return
    table = stats_table(stats)
    st.caption(
        "Position consistency: share of two-order pairs whose verdicts agree (higher is better). "
        "First-position win rate: share of decisive games won by the answer shown first (50% is unbiased; "
        "the other bars have no such reference point)."
    )
    config = {c: st.column_config.NumberColumn(c.replace("_", " ") + " (%)", format="%.1f") for c in SHARES}
    config["cost_usd"] = st.column_config.NumberColumn("cost (USD)", format="$%.4f")
    for column in COUNTS:
        config[column] = st.column_config.NumberColumn(column.replace("_", " "), format="%d")
    st.dataframe(table, hide_index=True, column_config=config)
    cols = st.columns(3)
    cols[0].metric(
        "Judge calls", f"{int(pd.to_numeric(table.get('calls'), errors='coerce').fillna(0).sum()):,}"
    )
    tokens = sum(
        pd.to_numeric(table.get(c), errors="coerce").fillna(0).sum()
        for c in ("prompt_tokens", "completion_tokens")
        if c in table
    )
    cols[1].metric("Tokens", f"{int(tokens):,}")
    cols[2].metric(
        "Cost", f"${float(pd.to_numeric(table.get('cost_usd'), errors='coerce').fillna(0).sum()):.2f}"
    )
    st.plotly_chart(shares_chart(table), key="judges_chart")
