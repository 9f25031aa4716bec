"""Serving figures of a run (runs/<run>/serving.json, written by `arena run`): per candidate latency, TTFT,
output tokens per second and error rate, measured during answer generation."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from viz.render import escape_markdown_html

COLUMNS = {"model": "model", "concurrency": "concurrency", "requests": "requests",
           "latency_p50_s": "latency p50 (s)", "latency_p95_s": "latency p95 (s)", "ttft_p50_s": "TTFT p50 (s)",
           "ttft_p95_s": "TTFT p95 (s)", "output_tok_s_p50": "output tokens/s (median)", "error_rate": "error rate (%)"}


def serving_frame(doc: dict[str, Any]) -> pd.DataFrame:
    """One row per candidate, error rate in percent."""
    rows = [{label: m.get(key) for key, label in COLUMNS.items()} for m in doc.get("models") or []
            if isinstance(m, dict)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS.values()))
    frame["error rate (%)"] = 100 * pd.to_numeric(frame["error rate (%)"], errors="coerce")
    return frame


def show_serving(run: Any) -> None:
    """The run's serving table with how it was measured (nothing when the run has no serving.json)."""
    doc = run.load_json("serving.json") if run is not None else None
    if not isinstance(doc, dict) or not doc.get("models"):
        return
    st.subheader("Serving figures")
    notes = sorted({str(m.get("note")) for m in doc["models"] if isinstance(m, dict) and m.get("note")})
    st.caption("From the answer records of the run(s) that produced this run's answers: "
               + escape_markdown_html("; ".join(notes)) + ". Not a load test: see the Performance page.")
    st.dataframe(serving_frame(doc), hide_index=True, key="serving_table")
