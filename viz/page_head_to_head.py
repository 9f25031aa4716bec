"""Head-to-head page: observed win fractions, battle counts and the model-predicted win-rate matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from arena.rating.bt import win_probability
from arena.rating.head_to_head import ALL as TABLE_ALL
from arena.rating.head_to_head import matrices
from viz.data import RunInfo, load_battles, load_head_to_head
from viz.derive import observed_matrices, section_frame
from viz.render import chart_label, missing_results, page_header

ALL = "All categories"
TOP_SHOWN = 30  # models in the matrices by default when there are more
MOST_SHOWN = 200  # largest matrix the page draws


def heatmap(
    matrix: pd.DataFrame,
    title: str,
    fmt: str,
    zmin: float | None = None,
    zmax: float | None = None,
    colorscale: str = "RdBu",
) -> go.Figure:
    """A labelled heatmap, rows = model, columns = opponent, cells annotated when there are few models."""
    labels = [chart_label(m) for m in matrix.index]
    values = matrix.to_numpy(float)
    small = len(labels) <= 20
    text = [[("" if np.isnan(v) else format(v, fmt)) for v in row] for row in values] if small else None
    fig = go.Figure(
        go.Heatmap(
            z=[[None if np.isnan(v) else float(v) for v in row] for row in values],
            x=labels,
            y=labels,
            zmin=zmin,
            zmax=zmax,
            colorscale=colorscale,
            text=text,
            texttemplate="%{text}" if small else None,
            hovertemplate="%{y} vs %{x}: %{z:" + fmt + "}<extra></extra>",
        )
    )
    size = max(360, 26 * len(labels) + 160)
    fig.update_layout(
        title=title,
        height=size,
        xaxis={"title": "opponent", "side": "top"},
        yaxis={"title": "model", "autorange": "reversed"},
        margin={"t": 90, "l": 10, "r": 10},
    )
    return fig


def _model_order(board: dict | None, present: set[str], category: str | None) -> list[str]:
    """Models best first (by the leaderboard), else alphabetically."""
    table = section_frame(_section(board, category))
    if not table.empty:
        return table["model"].tolist()
    return sorted(present)


def _observed(run: RunInfo) -> tuple[pd.DataFrame, list[str], str]:
    """The observed-figures source: the precomputed table (opens at once) or else the battles, its
    categories, and the caption's file name."""
    table = load_head_to_head(run)
    if table is not None:
        labels = sorted({c for c in table["category"] if c != TABLE_ALL})
        return table, labels, "head_to_head.csv (written with the leaderboard)"
    battles = load_battles(run)
    labels = sorted(battles["category"].dropna().unique()) if "category" in battles else []
    return battles, labels, "battles.jsonl"


def _present(source: pd.DataFrame, category: str | None, precomputed: bool) -> set[str]:
    """Models with battles in the category."""
    if precomputed:
        rows = source[source["category"] == (TABLE_ALL if category is None else category)]
        return set(rows["model"])
    subset = source if category is None else source[source["category"] == category]
    return set(subset["model_a"].unique()) | set(subset["model_b"].unique())


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the head-to-head page for one run."""
    page_header("Head to head", run)
    board = run.load_json("leaderboard.json")
    source, labels, origin = _observed(run)
    precomputed = "opponent" in source
    if source.empty and not board:
        missing_results(run, "battles")
        return
    categories = sorted((board or {}).get("categories") or {}) or labels
    choice = st.selectbox("Category", [ALL] + categories, key="h2h_category")
    category = None if choice == ALL else choice
    present = _present(source, category, precomputed) if not source.empty else set()
    models = _model_order(board, present, category)
    chosen = choose_models(models, ranked=not section_frame(_section(board, category)).empty)
    if not source.empty:
        shown = [m for m in chosen if m in present]
        if precomputed:
            share, counts = matrices(source, category, shown)
        else:
            subset = source if category is None else source[source["category"] == category]
            share, counts = observed_matrices(subset, shown)
        st.caption(
            "Observed: share of points the row model took from the column model "
            f"(ties count half, weights applied), from {origin}."
        )
        left, right = st.columns(2)
        left.plotly_chart(heatmap(share, "Observed win fraction", ".2f", 0, 1), key="h2h_share")
        right.plotly_chart(
            heatmap(counts.astype(float), "Battles", ".0f", colorscale="Blues"), key="h2h_counts"
        )
    else:
        st.info("This run has no battles.jsonl, so only the predicted matrix is shown.")
    table = section_frame(_section(board, category))
    if not table.empty and "rating" in table:
        rating = table.set_index("model")["rating"]
        names = [m for m in chosen if m in rating.index]
        options = (board or {}).get("options") or {}
        r = rating.loc[names].to_numpy(float)
        values = win_probability(r[:, None], r[None, :], float(options.get("scale") or 400.0),
                                 float(options.get("base") or 10.0))
        np.fill_diagonal(values, np.nan)
        matrix = pd.DataFrame(values, index=names, columns=names)
        st.plotly_chart(heatmap(matrix, "Predicted win rate (from the ratings)", ".2f", 0, 1), key="h2h_pred")
        with st.expander("Predicted win-rate table"):
            st.dataframe(matrix.round(3))
    else:
        st.info("No predicted win-rate matrix: this run has no leaderboard.json.")


def _section(board: dict | None, category: str | None) -> dict | None:
    """The leaderboard section of a category (None: overall)."""
    if category is None:
        return (board or {}).get("overall")
    return ((board or {}).get("categories") or {}).get(category)


def choose_models(models: list[str], ranked: bool = True) -> list[str]:
    """The models in the matrices: all of them when few; else the first TOP_SHOWN (best first when `ranked` by
    a leaderboard, else alphabetical) with controls for how many, or a chosen set (a heatmap of hundreds of
    models is unreadable, and each of its cells is a number the browser must draw). The controls keep their
    label and bounds across categories, so a chosen count stays when the category changes."""
    if len(models) <= TOP_SHOWN:
        return models
    order = "best first" if ranked else "alphabetically"
    count = int(st.number_input(f"Models shown ({order}, at most {MOST_SHOWN})", min_value=2, max_value=MOST_SHOWN,
                                value=TOP_SHOWN, step=5, key="h2h_top"))
    picked = st.multiselect("Or show these models", models, key="h2h_pick")
    if picked:
        return [m for m in models if m in set(picked)]
    shown = min(count, len(models))
    what = f"the best {shown}" if ranked else f"the first {shown} (alphabetically; no leaderboard to rank them)"
    st.caption(f"The matrices show {what} of {len(models)} models; choose others above.")
    return models[:shown]
