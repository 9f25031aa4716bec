"""Safe display of untrusted text (model answers, judge output) and small formatting helpers.

Model text is rendered with st.markdown and raw HTML disabled (never unsafe_allow_html=True); on top of
that, viz.escape turns `<` outside code into an entity so `<script>` or `<img onerror>` shows as literal
text, and neutralises images and Streamlit's own markdown extensions (`$` LaTeX, `:color[...]`).
Texts longer than MAX_CHARS are cut, with the whole text behind a "Show all" expander.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from viz.escape import escape_markdown_html

__all__ = ["escape_markdown_html", "safe_markdown", "show_text", "page_header", "missing_results", "status_note"]
MAX_CHARS = 20_000
VERDICT_FILES = ("battles.jsonl", "judgments.jsonl", "scores.jsonl", "leaderboard.json")

def safe_markdown(text: Any, *, container: Any = None) -> None:
    """Render untrusted text as markdown with HTML shown as text (never unsafe_allow_html)."""
    show_text(text, raw=False, container=container)


def show_text(text: Any, raw: bool = False, *, container: Any = None) -> None:
    """Untrusted text as escaped markdown (or raw, as code); over MAX_CHARS cut, the rest in an expander."""
    target = container if container is not None else st
    if text is None or text == "":
        target.caption("(empty)")
        return
    text = str(text)
    head = text[:MAX_CHARS]
    if raw:
        target.code(head, language=None, wrap_lines=True)
    else:
        target.markdown(escape_markdown_html(head))
    if len(text) > MAX_CHARS:
        target.caption(f"Cut at {MAX_CHARS:,} of {len(text):,} characters so the page stays responsive.")
        with target.expander(f"Show all ({len(text):,} characters, as plain text)"):
            st.code(text, language=None, wrap_lines=True)


def fmt_num(value: Any, digits: int = 1) -> str:
    """A number with fixed digits, or an en dash for missing values."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(number) else f"{number:.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage, or an en dash."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(number) else f"{100 * number:.{digits}f}%"


def chart_label(name: Any) -> str:
    """A model name for plotly labels (plotly reads a few HTML tags in text, so `<` is neutralised)."""
    return str(name).replace("<", "‹").replace(">", "›")


def no_data(message: str, hint: str | None = None) -> None:
    """A friendly empty-state message with an optional next step."""
    st.info(message + (f"\n\n{hint}" if hint else ""))


def error_note(run: Any) -> str | None:
    """'N error(s) recorded; the first: ...' from run.json (escaped), or None."""
    if not getattr(run, "errors", 0):
        return None
    first = getattr(run, "first_error", None)
    note = f"{run.errors} error(s) recorded in run.json"
    return note + (f"; the first: {escape_markdown_html(first)}" if first else "")


def status_note(run: Any) -> str | None:
    """Why a run is failed, partial or killed (from run.json's status_reasons), or None for other statuses."""
    status = str(getattr(run, "status", ""))
    reasons = "; ".join(escape_markdown_html(r) for r in getattr(run, "status_reasons", ())[:5])
    why = f": {reasons}" if reasons else ""
    if status == "failed":
        return f"Run `{run.run_id}` failed{why}. Re-run the same command to retry what failed; finished work is kept."
    if status == "partial":
        return (f"Run `{run.run_id}` is partial (its results exist, but some work failed){why}. "
                "Re-run the same command to retry only what failed.")
    if status == "killed":
        proc = dict(getattr(run, "process", ()))
        return (f"Run `{run.run_id}` was killed: its process (pid {proc.get('pid', '?')}) is gone and it never "
                "finished. Re-run the same command to continue; finished work is kept.")
    if status.startswith("running (on host"):
        return f"Run `{run.run_id}` is {escape_markdown_html(status)}: it cannot be checked from this machine."
    return None


def page_header(title: str, run: Any) -> None:
    """Page title, one line about the run, its recorded errors and a dry-run warning when it has verdicts."""
    st.title(title)
    started = (run.started or "").replace("T", " ").replace("Z", " UTC")
    bits = [f"run `{run.run_id}`", f"mode {escape_markdown_html(run.mode or 'unknown')}"]
    bits.append(f"status {escape_markdown_html(run.status)}")
    if started:
        bits.append(f"started {escape_markdown_html(started)}")
    st.caption(" · ".join(bits))
    outcome = status_note(run)
    if outcome:
        (st.error if run.status in ("failed", "killed") else st.warning)(outcome)
    note = error_note(run)
    if note:
        st.warning(note)
    if run.dry_run and any(run.has(name) for name in VERDICT_FILES):
        st.warning("Dry run: the judge's verdicts are seeded random draws, not real judgments.")


def missing_results(run: Any, what: str) -> None:
    """Explain why a run has nothing to show on this page, and what to do."""
    note = error_note(run)
    errors = f"\n\n{note}" if note else ""
    if run.status in ("failed", "killed"):  # page_header has said why (status_note)
        no_data(f"Run `{run.run_id}` has no {what}: it {'was killed' if run.status == 'killed' else 'failed'} "
                "(see above).", "Re-run the same command to retry what failed, or pick another run in the sidebar.")
    elif getattr(run, "is_bench", False):
        no_data(
            f"Run `{run.run_id}` is an objective-benchmark run (`arena bench`): it has no {what}.{errors}",
            "Its scores are in the benchmark table on the **Leaderboard** page (`bench/<model>.json`).",
        )
    elif run.has("answers_index.json") and not (run.has("judgments.jsonl") or run.has("battles.jsonl")):
        no_data(
            f"Run `{run.run_id}` has answers{f' from {run.n_models} model(s)' if run.n_models else ''} "
            f"but no judgments yet, so it has no {what}.{errors}",
            "Judge it by running the same config again with a `judge:` section "
            "(the answers are cached and reused), or pick another run in the sidebar.",
        )
    elif run.status.startswith("running") or run.status == "interrupted":
        no_data(
            f"Run `{run.run_id}` is {escape_markdown_html(run.status)} and has no {what} yet.{errors}",
            "Re-run the same command to finish it, or pick another run in the sidebar.",
        )
    else:
        no_data(f"Run `{run.run_id}` has no {what}.{errors}", "Pick another run in the sidebar.")
