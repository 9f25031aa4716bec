"""History page: each model's rating across runs, models entering and leaving, change since last run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.bench_history import show_bench_history
from viz.data import RunInfo
from viz.derive import changes_since, leaderboard_history
from viz.render import chart_label, escape_markdown_html, page_header

TOP_DEFAULT = 10
DRY_SWITCH = "Include dry runs"


def history_chart(history: pd.DataFrame, models: list[str], dry: set[str] | None = None) -> go.Figure:
    """Rating over run start time per model, with CI bands as error bars; dry runs as open markers."""
    fig = go.Figure()
    for model in models:
        rows = history[history["model"] == model].sort_values("started")
        x = rows["started"] if rows["started"].notna().all() else rows["run_id"]
        error = None
        if {"ci_low", "ci_high"} <= set(rows.columns):
            error = {
                "type": "data",
                "symmetric": False,
                "array": (rows["ci_high"] - rows["rating"]).clip(lower=0),
                "arrayminus": (rows["rating"] - rows["ci_low"]).clip(lower=0),
                "thickness": 1,
            }
        fig.add_trace(
            go.Scatter(
                x=x,
                y=rows["rating"],
                mode="lines+markers",
                marker={"symbol": ["circle-open" if r in (dry or set()) else "circle" for r in rows["run_id"]]},
                name=chart_label(model),
                error_y=error,
                customdata=rows["run_id"],
                hovertemplate="%{customdata}: %{y:.1f}<extra>" + chart_label(model) + "</extra>",
            )
        )
    fig.update_layout(
        height=520,
        xaxis_title="run start",
        yaxis_title="rating",
        legend={"orientation": "h"},
        margin={"t": 30},
    )
    return fig


def pick_series(run: RunInfo, runs: list[RunInfo]) -> tuple[list[RunInfo], int]:
    """Series selector (runs grouped by run name, mode and judge) and the dry-run checkbox.

    Returns the runs chosen and how many dry runs of the series the checkbox leaves out.
    """
    rated = [r for r in runs if r.has("leaderboard.json")]
    if not rated:
        return [], 0
    groups: dict[str, list[RunInfo]] = {}
    for item in rated:
        groups.setdefault(item.series, []).append(item)
    names = list(groups)
    current = run.series if run.series in groups else rated[-1].series
    if st.session_state.get("hist_for_run") != run.run_id or st.session_state.get("hist_series") not in groups:
        st.session_state["hist_series"] = current  # the sidebar run changed: follow its series (a chosen one stays
        st.session_state["hist_for_run"] = run.run_id  # chosen while the sidebar run does not change)
    left, right = st.columns([3, 1])
    series = left.selectbox(
        "Series",
        names,
        key="hist_series",
        help="Only comparable runs form a series: same run name (config `run_name`), mode and judge.",
        format_func=lambda name: f"{name} ({len(groups[name])} run(s))",
    )
    dry = sum(r.dry_run for r in groups[series])
    include = right.checkbox(
        f"{DRY_SWITCH} ({dry})",
        value=False,
        key="hist_dry",
        disabled=dry == 0,
        help="Dry runs have seeded random verdicts; they are left out of the series by default.",
    )
    return [r for r in groups[series] if include or not r.dry_run], 0 if include else dry


def empty_message(chosen_runs: list[RunInfo], hidden_dry: int, runs: list[RunInfo]) -> str:
    """Why the history is empty, and what to do: dry runs hidden (the switch), or no leaderboard yet."""
    adds = "Each judged pairwise or baseline run adds one point per model."
    if hidden_dry and not chosen_runs:
        return (
            f"This series has only dry runs ({hidden_dry}), and dry runs are hidden here because their "
            f"verdicts are seeded random draws, not real judgments. Tick **{DRY_SWITCH}** above to show "
            f"them, or run the same config without `--dry-run` for real ratings. {adds}"
        )
    if chosen_runs or any(r.has("leaderboard.json") for r in runs):
        return f"No run of this series has a leaderboard yet, so there is no history. {adds}"
    return f"No run has a leaderboard yet, so there is no history. {adds}"


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the history page (one series of comparable runs with a leaderboard; the sidebar run is 'now')."""
    page_header("History", run)
    chosen_runs, hidden_dry = pick_series(run, runs)
    history = leaderboard_history(chosen_runs)
    if history.empty:
        st.info(empty_message(chosen_runs, hidden_dry, runs))
        show_bench_history(runs)
        return
    run_ids = list(dict.fromkeys(history["run_id"]))
    dry_ids = [r.run_id for r in chosen_runs if r.dry_run and r.run_id in run_ids]
    st.caption(
        f"{len(run_ids)} run(s) with a leaderboard, {history['model'].nunique()} model(s)."
        + (f" Dry runs (random verdicts): {escape_markdown_html(', '.join(dry_ids))}." if dry_ids else "")
        + (f" {hidden_dry} dry run(s) hidden: tick **{DRY_SWITCH}** to show them." if hidden_dry else "")
    )
    if history["normalisation"].nunique() > 1:
        st.warning(
            "Runs in this series are normalised differently ("
            + escape_markdown_html(", ".join(sorted(history["normalisation"].unique())))
            + "); ratings are only comparable between runs pinned the same way."
        )
    latest = history[history["run_id"] == run_ids[-1]].sort_values("rating", ascending=False)
    models = sorted(history["model"].unique())
    default = [m for m in latest["model"] if m in models][:TOP_DEFAULT]
    chosen = st.multiselect("Models", models, default=default, key="hist_models")
    if chosen:
        st.plotly_chart(history_chart(history, chosen, set(dry_ids)), key="hist_chart")
    now = run.run_id if run.run_id in run_ids else run_ids[-1]
    table, previous, entered, left = changes_since(history, now)
    st.subheader(f"Changes in `{now}`" + (f" since `{previous}`" if previous else ""))
    if previous is None:
        st.info("This is the first run of this series: nothing to compare with yet.")
    else:
        cols = st.columns(2)
        cols[0].markdown("**Entered:** " + (escape_markdown_html(", ".join(entered)) if entered else "none"))
        cols[1].markdown("**Left:** " + (escape_markdown_html(", ".join(left)) if left else "none"))
        st.caption(
            "Rating change on a common scale, as `arena compare` puts two runs: each fit is fixed only up to a "
            "shift, so the change is shifted to a median of 0 over the models in both runs (unless both runs pin "
            "the same model with an anchor or a baseline). The previous run is the latest earlier completed one. "
            "The Compare page says which changes are larger than the noise."
        )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(
                c,
                format="%+.1f"
                if "change" in c and "rating" in c
                else ("%+d" if "change" in c else ("%.1f" if "rating" in c else "%d")),
            )
            for c in table.columns
            if c != "model"
        },
    )
    with st.expander("Rating per run (table)"):
        st.dataframe(history.pivot_table(index="model", columns="run_id", values="rating").round(1))
    show_bench_history(runs)
