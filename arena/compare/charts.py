"""Plotly figures of a comparison, shared by the HTML report and the app's Compare page.

Plotly reads a few HTML tags inside label text (<b>, <a href>...), so every name is passed through `label`.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

COLOURS = {"better": "#1a7f37", "worse": "#cf222e"}
GREY = "#6e7781"


def label(name: Any) -> str:
    """A model or category name for plotly (angle brackets replaced, so no tag is ever interpreted)."""
    return str(name).replace("<", "‹").replace(">", "›")


def _interval_figure(rows: list[dict[str, Any]], names: list[str], title: str, overall: float | None = None
                     ) -> go.Figure:
    """Rating changes with their intervals, one row per name (significant ones coloured), top to bottom; a
    dashed line at `overall` when given."""
    fig = go.Figure(go.Scatter(
        x=[r["change"] for r in rows][::-1], y=[label(n) for n in names][::-1], mode="markers",
        marker={"size": 10, "color": [COLOURS.get(r["verdict"], GREY) for r in rows][::-1]},
        error_x={"type": "data", "symmetric": False, "array": [r["ci_high"] - r["change"] for r in rows][::-1],
                 "arrayminus": [r["change"] - r["ci_low"] for r in rows][::-1]},
        text=[label(r["verdict"]) for r in rows][::-1], hovertemplate="%{y}: %{x:+.1f} (%{text})<extra></extra>"))
    fig.add_vline(x=0, line_dash="dot", line_color=GREY)
    if overall is not None:
        fig.add_vline(x=overall, line_dash="dash", line_color="#0969da", annotation_text="overall",
                      annotation_position="top")
    fig.update_layout(title=title, xaxis_title="rating points", height=140 + 32 * len(rows),
                      margin={"l": 10, "r": 10, "t": 50, "b": 40}, template="plotly_white", showlegend=False)
    return fig


def changes_figure(result: dict[str, Any]) -> go.Figure:
    """Each shared model's rating change with its interval (significant changes coloured)."""
    rows = [r for r in result["models"] if r.get("ci_low") is not None and r.get("ci_high") is not None]
    return _interval_figure(rows, [r["model"] for r in rows], "Rating change new - old, with its interval")


def judges_figure(result: dict[str, Any], model: str) -> go.Figure:
    """A changed model's rating change as each judge alone sees it, with its interval, beside the overall change."""
    w = (result.get("why") or {}).get(model, {})
    rows = [r for r in (w.get("judges") or {}).get("rows", [])
            if r.get("ci_low") is not None and r.get("ci_high") is not None]
    rows = [{**r, "change": r["rating_change"]} for r in rows]
    return _interval_figure(rows, [r["judge"] for r in rows], f"{label(model)}: rating change seen by each judge",
                            overall=w.get("change"))


def contributions_figure(result: dict[str, Any], model: str) -> go.Figure:
    """A changed model's per-category contributions to its change in win rate (win-rate points)."""
    cats = (result.get("why") or {}).get(model, {}).get("categories") or []
    values = [100 * c["contribution"] for c in cats][::-1]
    fig = go.Figure(go.Bar(x=values, y=[label(c["category"]) for c in cats][::-1], orientation="h",
                           marker_color=[COLOURS["better"] if v >= 0 else COLOURS["worse"] for v in values],
                           hovertemplate="%{y}: %{x:+.1f} win-rate points<extra></extra>"))
    fig.update_layout(title=f"{label(model)}: contribution of each category to the change in win rate",
                      xaxis_title="win-rate points (new - old)", height=140 + 28 * len(cats),
                      margin={"l": 10, "r": 10, "t": 50, "b": 40}, template="plotly_white", showlegend=False)
    return fig


def figure(result: dict[str, Any], block: dict[str, Any]) -> go.Figure:
    """The figure a report's chart block names."""
    if block["chart"] == "contributions":
        return contributions_figure(result, block["model"])
    if block["chart"] == "judges":
        return judges_figure(result, block["model"])
    return changes_figure(result)
