"""Single scores page (single mode): score distribution per model, per turn and per category."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.data import RunInfo, find_answer, load_scores
from viz.derive import truncated_turns
from viz.render import chart_label, missing_results, page_header

ALL = "All judges"
CUT = "truncated answers"


def distribution_chart(scores: pd.DataFrame, models: list[str]) -> go.Figure:
    """Box plot of scores per model, best mean first."""
    fig = go.Figure()
    for model in models:
        fig.add_trace(
            go.Box(y=scores.loc[scores["model"] == model, "score"], name=chart_label(model), boxmean=True)
        )
    fig.update_layout(showlegend=False, yaxis_title="score", height=420, margin={"t": 30})
    return fig


def truncated(workspace: Path, run: RunInfo, scores: pd.DataFrame) -> pd.Series:
    """Per score row: whether the scored answer was cut at max_tokens up to the scored turn."""
    if scores.empty or not {"model", "question_id"} <= set(scores.columns):
        return pd.Series(False, index=scores.index)
    cut = {
        (model, qid): truncated_turns(find_answer(workspace, run, str(model), str(qid)))
        for model, qid in scores[["model", "question_id"]].drop_duplicates().itertuples(index=False)
    }
    turns = scores["turn"] if "turn" in scores else pd.Series(None, index=scores.index)
    return pd.Series(
        [
            bool(cut[(m, q)]) and (pd.isna(t) or min(cut[(m, q)]) <= int(t))
            for m, q, t in zip(scores["model"], scores["question_id"], turns)
        ],
        index=scores.index,
    )


def by(scores: pd.DataFrame, column: str, models: list[str]) -> pd.DataFrame:
    """Mean score per model (rows, best first) and value of column (columns)."""
    table = scores.pivot_table(index="model", columns=column, values="score", aggfunc="mean")
    table.columns = [f"{column} {c}" if column == "turn" else str(c) for c in table.columns]
    return table.reindex(models)


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the single-score page for one run."""
    page_header("Single scores", run)
    scores = load_scores(run)
    if scores.empty:
        if run.mode in ("pairwise", "baseline"):
            st.info(
                f"Run `{run.run_id}` is a {run.mode} run: it has battles, not absolute scores. "
                "Pick a single-mode run in the sidebar."
            )
        else:
            missing_results(run, "single-mode scores (scores.jsonl)")
        return
    judges = sorted(scores["judge"].dropna().unique()) if "judge" in scores else []
    if len(judges) > 1:
        judge = st.selectbox("Judge", [ALL] + judges, key="single_judge")
        if judge != ALL:
            scores = scores[scores["judge"] == judge]
    scores = scores.dropna(subset=["score"])
    summary = scores.groupby("model")["score"].agg(["mean", "std", "count", "median"])
    summary = summary.sort_values("mean", ascending=False)
    cut = truncated(workspace, run, scores)
    if cut.any():
        summary[CUT] = cut.groupby(scores["model"]).sum().reindex(summary.index).fillna(0).astype(int)
    models = list(summary.index)
    st.subheader("Mean score per model")
    if cut.any():
        st.warning(
            f"{int(cut.sum())} scored answer(s) stopped at the `max_tokens` limit (finish_reason `length`): "
            f"they were judged incomplete. The **{CUT}** column counts them per model.",
            icon="✂️",
        )
    st.dataframe(
        summary.rename(columns={"count": "n"}).round(2),
        column_config={"mean": st.column_config.NumberColumn("mean", format="%.2f")},
    )
    st.plotly_chart(distribution_chart(scores, models), key="single_box")
    left, right = st.columns(2)
    if "turn" in scores:
        left.subheader("Per turn")
        left.dataframe(by(scores, "turn", models).round(2))
    if "category" in scores and scores["category"].notna().any():
        right.subheader("Per category")
        per_category = by(scores, "category", models)
        right.dataframe(per_category.round(2))
        st.plotly_chart(_category_heatmap(per_category), key="single_heat")
    summary_file = run.load_json("single_scores.json")
    if summary_file:
        st.caption(
            f"single_scores.json: judge {summary_file.get('judge', '?')}, "
            f"{len(summary_file.get('models') or [])} model(s)."
        )


def _category_heatmap(table: pd.DataFrame) -> go.Figure:
    """Mean score per model and category as a heatmap."""
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(float),
            x=list(table.columns),
            y=[chart_label(m) for m in table.index],
            colorscale="Viridis",
            texttemplate="%{z:.1f}",
        )
    )
    fig.update_layout(
        yaxis={"autorange": "reversed"}, height=max(300, 30 * len(table) + 120), margin={"t": 30}
    )
    return fig
