"""Judges page: position consistency, first-position win rate, ties, parse failures, tokens and cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def _total(table: pd.DataFrame, *columns: str) -> float:
    """The sum of some columns over the judges (missing or non-numeric cells count 0)."""
    return float(sum(pd.to_numeric(table[c], errors="coerce").fillna(0).sum() for c in columns if c in table))


def spent_now(info: Any) -> float | None:
    """What this run's own judge calls cost (run.json stages.judge.spent_now_usd, the terminal's "spent in
    this run"; a panel's is the members' total); None when run.json does not say."""
    stages = info.get("stages") if isinstance(info, dict) else None
    judge = stages.get("judge") if isinstance(stages, dict) else None
    value = judge.get("spent_now_usd") if isinstance(judge, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def spend_tiles(table: pd.DataFrame, info: Any) -> list[tuple[str, str, str]]:
    """(label, value, help) of the tiles: this run's judge calls and what they cost (as `arena run` prints
    them: "spent in this run"), then the tokens and cost of all the judgments the run uses, cached ones included
    (judge calls of earlier runs: "all judgments this run uses"). Each label says what it counts."""
    calls, cached = int(_total(table, "calls")), int(_total(table, "cached"))
    used = calls + cached
    tokens = int(_total(table, "prompt_tokens", "completion_tokens"))
    spent = spent_now(info)
    dry = "dry_run" in table and bool(table["dry_run"].fillna(False).astype(bool).any())
    spent_help = ("dry run: verdicts drawn at random, no judge called" if dry
                  else "what this run's own judge calls cost ('spent in this run' in the terminal)"
                  if spent is not None else "run.json does not record what this run's calls cost")
    return [
        ("Judge calls in this run", f"{calls:,}",
         f"{cached:,} more judgment(s) came from the judgment cache (calls of earlier runs, not paid again)"),
        ("Cost of this run's calls", f"${spent:.4f}" if spent is not None else "n/a", spent_help),
        (f"Tokens, all {used:,} judgments used", f"{tokens:,}",
         f"input and output tokens of every judgment the run uses: its {calls:,} call(s) and {cached:,} "
         "cached"),
        (f"Cost, all {used:,} judgments used", f"${_total(table, 'cost_usd'):.4f}",
         f"what every judgment the run uses cost when it was made ('all judgments this run uses' in the "
         f"terminal): its {calls:,} call(s) and {cached:,} cached"),
    ]


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
    for column in COUNTS:
        config[column] = st.column_config.NumberColumn(column.replace("_", " "), format="%d")
    # tokens and cost cover every judgment the run uses (its calls and the cached ones), as judge_stats.json
    for column in ("prompt_tokens", "completion_tokens"):
        label = column.replace("_", " ") + ", all judgments"
        config[column] = st.column_config.NumberColumn(label, format="%d")
    config["cost_usd"] = st.column_config.NumberColumn("cost (USD), all judgments", format="$%.4f")
    st.dataframe(table, hide_index=True, column_config=config)
    cols = st.columns(4)
    for col, (label, value, help_text) in zip(cols, spend_tiles(table, run.load_json("run.json"))):
        col.metric(label, value, help=help_text)
    st.plotly_chart(shares_chart(table), key="judges_chart")
