"""Leaderboard page: ratings with CIs, tallies, baseline win rate, lengths, style control, benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from arena.errors import ArenaError
from arena.human.votes import votes_path
from arena.rating.leaderboard import UNPLACED_NOTES
from arena.rating.names import names_shown
from arena.rating.report import leader_groups, leading_models
from viz.bench_view import load_bench, show_bench
from viz.data import RunInfo, read_json
from viz.derive import caution, judge_choices, rating_options, refit, section_frame
from viz.render import chart_label, escape_markdown_html, missing_results, page_header
from viz.serving_view import show_serving

ALL_CATEGORIES, ALL_JUDGES = "All categories", "All judges"
CAUTION = "caution"


def _section(run: RunInfo, board: dict[str, Any], category: str | None, judge: str | None) -> dict[str, Any]:
    """The leaderboard section to show: precomputed from leaderboard.json, or refitted for a judge."""
    if judge is not None:
        return refit(run, rating_options(board), judge, category)
    if category is not None:
        return (board.get("categories") or {})[category]
    return board.get("overall") or {}


def display_table(
    table: pd.DataFrame, board: dict[str, Any], bench: pd.DataFrame, styled: pd.DataFrame | None
) -> pd.DataFrame:
    """The table shown and downloaded: friendly column names, optional style and benchmark columns."""
    options = board.get("options") or {}
    rating_name = "rating (style-controlled)" if options.get("style_control") else "rating"
    rank = table["rank"].astype("Int64")
    if "ci_note" in table:  # no rank for a model nothing rates (shown '-' in the CLI)
        rank = rank.mask(table["ci_note"].isin(UNPLACED_NOTES))
    out = pd.DataFrame({"rank": rank, "model": table["model"]})
    notes = caution(table, options)
    if notes.str.len().any():
        out[CAUTION] = notes
    out[rating_name] = table["rating"]
    out["CI low"], out["CI high"] = table.get("ci_low"), table.get("ci_high")
    for column in ("battles", "wins", "ties", "losses"):
        if column in table:
            out[column] = table[column]
    baseline = options.get("baseline")
    if "score" in table:
        out[f"win rate vs {baseline or 'baseline'} (%)"] = table["score"]
    if "observed_win_rate" in table:
        out["observed win rate vs baseline (%)"] = table["observed_win_rate"]
    if "mean_length" in table:
        out["mean length (tokens)"] = table["mean_length"]
    if styled is not None and not styled.empty:
        out["style-controlled rating"] = out["model"].map(styled.set_index("model")["rating"])
    if not bench.empty:
        for name in bench.columns:
            values = out["model"].map(bench[name])
            if values.notna().any():
                out[f"bench: {name}"] = values
    return out


def ratings_chart(table: pd.DataFrame, title: str, flagged: pd.Series | None = None) -> go.Figure:
    """Horizontal dot plot of ratings with asymmetric CI error bars, best on top; low-data models hollow."""
    rating = table["rating"]
    names = [chart_label(m) for m in table["model"]]
    hollow = flagged if flagged is not None else pd.Series(False, index=table.index)
    fig = go.Figure(
        go.Scatter(
            x=rating,
            y=names,
            mode="markers",
            marker={"size": 9, "symbol": ["circle-open" if h else "circle" for h in hollow]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (table["ci_high"] - rating).clip(lower=0),
                "arrayminus": (rating - table["ci_low"]).clip(lower=0),
            },
            hovertemplate="%{y}: %{x:.1f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=max(260, 28 * len(table) + 90),
        margin={"l": 10, "r": 10, "t": 40, "b": 30},
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis_title="rating (95% CI)",
    )
    return fig


def top_models(table: pd.DataFrame) -> list[str]:
    """The models at the best rank (several when their intervals overlap), best rating first."""
    if "rank" not in table or table["rank"].isna().all():
        return [str(table["model"].iloc[0])]
    return leading_models(table)


def shared_top_caption(top: list[str], groups: int = 1) -> str:
    """The line under the tiles when several models share rank 1: a dozen names and how many more (a sparse
    arena of hundreds of models can tie most of them); or the leaders of groups of models that never met."""
    if groups > 1:
        return (f"{len(top)} models are at rank 1 in {groups} groups of models that never met: "
                f"{escape_markdown_html(names_shown(top))}. Ranks count within a group: ratings of different "
                "groups cannot be compared.")
    return (f"{len(top)} models share rank 1: {escape_markdown_html(names_shown(top))}. "
            "Their intervals overlap, so the battles do not tell them apart.")


def _column_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Number formats for the table."""
    config: dict[str, Any] = {"model": st.column_config.TextColumn("model", width="medium")}
    for column in frame.columns:
        if column == CAUTION:
            config[column] = st.column_config.TextColumn(
                column, width="medium", help="Few battles or a degenerate interval: less sure than it looks."
            )
        elif column in ("rank", "battles", "wins", "ties", "losses"):
            config[column] = st.column_config.NumberColumn(column, format="%d")
        elif column.startswith("bench: "):
            config[column] = st.column_config.NumberColumn(column, format="%.3f")
        elif column != "model":
            config[column] = st.column_config.NumberColumn(column, format="%.1f")
    return config


def _filters(run: RunInfo, board: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """Category, judge and style-control choices."""
    categories = sorted(board.get("categories") or {})
    judges = judge_choices(run, read_json(run.file("judge_stats.json")))
    left, middle, right = st.columns(3)
    category = left.selectbox("Category", [ALL_CATEGORIES] + categories, key="lb_category")
    judge = ALL_JUDGES
    if len(judges) > 1:
        judge = middle.selectbox(
            "Judge",
            [ALL_JUDGES] + judges,
            key="lb_judge",
            help="A judge other than 'all' refits the ratings from that judge's battles.",
        )
    elif judges:
        middle.markdown(f"Judge: **{escape_markdown_html(judges[0])}**")
    style = False
    if not (board.get("options") or {}).get("style_control") and run.has("battles.jsonl"):
        style = right.checkbox(
            "Add style-controlled rating",
            key="lb_style",
            help="Refit with answer length and markdown as covariates (cached).",
        )
    return (None if category == ALL_CATEGORIES else category, None if judge == ALL_JUDGES else judge, style)


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the leaderboard page for one run."""
    page_header("Leaderboard", run)
    board = run.load_json("leaderboard.json")
    if not board:
        if run.has("scores.jsonl") or run.has("single_scores.json"):
            st.info(
                "This is a single-mode run (absolute scores, no battles): see the **Single scores** page."
            )
        else:
            missing_results(run, "leaderboard")
        show_bench(workspace)
        return
    category, judge, style = _filters(run, board)
    try:
        section = _section(run, board, category, judge)
        styled = (
            section_frame(refit(run, rating_options(board, style_control=True), judge, category))
            if style
            else None
        )
    except ArenaError as exc:
        st.warning(f"No leaderboard for this selection: {escape_markdown_html(exc)}")  # may quote a category
        return
    table = section_frame(section)
    if table.empty:
        st.info("This leaderboard has no rated models.")
        return
    shown = display_table(table, board, load_bench(workspace), styled)
    scope = " · ".join(x for x in (category, judge) if x) or "overall"
    cols = st.columns(4)
    cols[0].metric("Models", len(table))
    cols[1].metric("Battles", f"{int(section.get('n_battles') or 0):,}")
    cols[2].metric("Method", str(board.get("method", "bt")).upper())
    top = top_models(table)
    if len(top) == 1:
        cols[3].metric("Top model", escape_markdown_html(top[0]))  # a tile's value and help render Markdown
    else:
        groups = leader_groups(table, top)
        cols[3].metric("Top model", f"{len(top)}-way tie" if groups == 1 else f"{len(top)} in {groups} groups",
                       help=escape_markdown_html(names_shown(top)))  # short: the tile is narrow
        st.caption(shared_top_caption(top, groups))
    if judge is not None or style:
        st.caption(
            f"Refitted here from battles.jsonl with {rating_options(board).bootstrap} bootstrap rounds."
        )
    if section.get("resampling"):  # leaderboards written since the question bootstrap say how
        st.caption(f"Intervals: {escape_markdown_html(str(section['resampling']))}.")
    st.dataframe(shown, hide_index=True, column_config=_column_config(shown))
    if votes_path(workspace, run.run_id).is_file():
        st.caption("This run has human votes: the human leaderboard is on the **Human results** page.")
    st.download_button(
        "Download CSV",
        shown.to_csv(index=False).encode("utf-8"),
        file_name=f"leaderboard-{run.run_id}-{scope.replace(' · ', '-')}.csv",
        mime="text/csv",
    )
    flagged = shown[CAUTION].str.len() > 0 if CAUTION in shown else None
    st.plotly_chart(ratings_chart(table, f"Ratings ({scope})", flagged))
    show_serving(run)
    if flagged is not None:
        st.caption(
            f"⚠ {int(flagged.sum())} model(s) with little data (see the caution column; hollow in the "
            "chart): their ratings and intervals are less certain than they look."
        )
    warnings = list(section.get("warnings") or [])
    if warnings:
        with st.expander(f"Warnings ({len(warnings)})"):
            for line in warnings:
                st.markdown("- " + escape_markdown_html(line))
    coefficients = section.get("style_coefficients")
    if coefficients:
        with st.expander("Style coefficients (log-odds per SD)"):
            st.dataframe(pd.DataFrame(coefficients), hide_index=True)
    with st.expander("Objective benchmarks (all models with bench files)"):
        if not show_bench(workspace):
            st.caption("No `bench/<model>.json` files in this workspace.")
