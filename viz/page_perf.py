"""Performance page: `arena perf` load tests (WORKSPACE/perf/*.json) as throughput-latency curves per
candidate, throughput by load level, and a table of every level. Reads files only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from viz.render import chart_label, escape_markdown_html, no_data
from viz.serving_view import show_serving

LATENCIES = {"TTFT p50 (ms)": ("ttft_s", "p50"), "TTFT p99 (ms)": ("ttft_s", "p99"),
             "TPOT p50 (ms)": ("tpot_s", "p50"), "ITL p50 (ms)": ("itl_s", "p50"),
             "E2E latency p50 (ms)": ("e2e_latency_s", "p50"), "E2E latency p99 (ms)": ("e2e_latency_s", "p99")}
THROUGHPUTS = {"output tokens/s": "output_throughput", "requests/s": "request_throughput",
               "total tokens/s": "total_token_throughput"}
PERF_KIND = "arena-perf"  # written by arena/perf/results.py
HINT = ("Run a load test: `arena perf --demo` (offline, no model), `arena perf --url URL --model NAME`, "
        "or `arena perf -c CONFIG --candidate NAME`; then reload this page.")


def read_perf_results(workspace: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every load test of a workspace (oldest first) and the files that could not be read."""
    folder = Path(workspace) / "perf"
    docs, bad = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            bad.append(path.name)
            continue
        if isinstance(doc, dict) and doc.get("kind") == PERF_KIND and isinstance(doc.get("levels"), list):
            docs.append(doc)
        else:
            bad.append(path.name)
    return docs, bad


def series_name(doc: dict[str, Any]) -> str:
    """'<target> · <perf id>' (with a DEMO mark for the offline demo server)."""
    target = doc.get("target") or {}
    demo = " [DEMO: no model]" if target.get("demo") else ""
    return f"{target.get('name', '?')}{demo} · {doc.get('perf_id', '?')}"


def _stat(level: dict[str, Any], name: str, stat: str) -> float | None:
    value = (level.get(name) or {}).get(stat)
    return None if value is None else float(value)


def levels_table(docs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per level of each test, times in milliseconds."""
    rows = []
    for doc in docs:
        for level in doc.get("levels") or []:
            row: dict[str, Any] = {"test": series_name(doc), "level": level.get("label"),
                                   "concurrency": level.get("concurrency"), "rate": level.get("rate"),
                                   "sent": level.get("sent"), "completed": level.get("completed"),
                                   "failed": level.get("failed"),
                                   "errors": ", ".join(f"{k} {v}" for k, v in (level.get("errors") or {}).items()),
                                   "requests/s": level.get("request_throughput")}
            row["output tokens/s"] = level.get("output_throughput")
            row["total tokens/s"] = level.get("total_token_throughput")
            for label, (name, stat) in LATENCIES.items():
                value = _stat(level, name, stat)
                row[label] = None if value is None else 1000 * value
            row["input tokens (mean)"] = _stat(level, "input_tokens", "mean")
            row["output tokens (mean)"] = _stat(level, "output_tokens", "mean")
            row["tokens"] = level.get("tokens_source")
            row["repeated prompts"] = level.get("repeated_prompts")
            row["interrupted"] = bool(level.get("interrupted"))
            rows.append(row)
    return pd.DataFrame(rows)


def curve_chart(table: pd.DataFrame, x: str, y: str) -> go.Figure:
    """Throughput (x) against latency (y): one line per test, one point per load level."""
    fig = go.Figure()
    for name, part in table.groupby("test", sort=False):
        fig.add_trace(go.Scatter(x=part[x].tolist(), y=part[y].tolist(), mode="lines+markers", name=chart_label(name),
                                 text=[chart_label(v) for v in part["level"]],
                                 hovertemplate="%{text}<br>%{x:.1f} " + x + "<br>%{y:.1f} ms<extra></extra>"))
    fig.update_layout(xaxis_title=x, yaxis_title=y, height=420, margin={"t": 30}, legend={"orientation": "h"})
    return fig


def level_chart(table: pd.DataFrame, y: str) -> go.Figure:
    """Throughput by load level (concurrency, or rate for open-loop tests), one line per test."""
    fig = go.Figure()
    for name, part in table.groupby("test", sort=False):
        x = part["concurrency"] if part["rate"].isna().all() else part["rate"]
        fig.add_trace(go.Scatter(x=x.tolist(), y=part[y].tolist(), mode="lines+markers", name=chart_label(name)))
    fig.update_layout(xaxis_title="concurrency (or rate, requests/s)", yaxis_title=y, height=360,
                      margin={"t": 30}, legend={"orientation": "h"})
    return fig


def latest_per_target(docs: list[dict[str, Any]]) -> list[str]:
    """The newest test of each target (the default selection)."""
    newest: dict[str, str] = {}
    for doc in docs:
        newest[(doc.get("target") or {}).get("name", "?")] = series_name(doc)
    return list(newest.values())


def render(workspace: Path, run: Any, runs: list[Any]) -> None:
    """Draw the performance page: the workspace's load tests, then the selected run's serving figures."""
    st.title("Performance")
    load_tests(workspace)
    show_serving(run)


def load_tests(workspace: Path) -> None:
    """Curves and table of the load tests in WORKSPACE/perf (any run or none)."""
    docs, bad = read_perf_results(workspace)
    docs = [d for d in docs if d.get("levels")]
    if bad:
        st.warning(f"{len(bad)} file(s) in perf/ could not be read: " + escape_markdown_html(", ".join(bad[:5])))
    if not docs:
        no_data(f"No load tests yet in `{escape_markdown_html(workspace)}/perf`.", HINT)
        return
    st.caption("Serving load tests from `arena perf`, measured by the load generator; each point is one load "
               "level. Figures depend on the machine the test ran on (see the table's source files).")
    names = [series_name(d) for d in docs]
    chosen = st.multiselect("Load tests", names, default=latest_per_target(docs), key="perf_tests")
    picked = [d for d in docs if series_name(d) in chosen]
    if not picked:
        no_data("Pick at least one load test above.")
        return
    if any((d.get("target") or {}).get("demo") for d in picked):
        st.warning("DEMO tests measure Arena's offline placeholder server, not a model.")
    for doc in picked:  # a failed or partial test: its figures cover only the levels that got answers
        if doc.get("status") in ("failed", "partial"):
            reasons = "; ".join(doc.get("status_reasons") or []) or "see its JSON file"
            st.warning(escape_markdown_html(f"{series_name(doc)}: {doc['status']}: {reasons}"))
    table = levels_table(picked)
    left, right = st.columns(2)
    x = left.selectbox("Throughput", list(THROUGHPUTS), key="perf_x")
    y = right.selectbox("Latency", list(LATENCIES), key="perf_y")
    st.plotly_chart(curve_chart(table, x, y), key="perf_curves")
    st.plotly_chart(level_chart(table, x), key="perf_levels")
    st.dataframe(table, hide_index=True)
    for doc in picked:
        for note in doc.get("notes") or []:
            st.caption(f"{escape_markdown_html(series_name(doc))}: {escape_markdown_html(note)}")
