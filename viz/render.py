"""Safe display of untrusted text (model answers, judge output) and small formatting helpers.

Model text is rendered with st.markdown and raw HTML disabled (never unsafe_allow_html=True); on top of
that, `<` outside code is turned into an entity so `<script>` or `<img onerror>` shows as literal text,
and Streamlit's own markdown extensions (`$` LaTeX, `:color[...]` directives) are neutralised.
"""

from __future__ import annotations

import math
import re
from typing import Any

import streamlit as st

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(?:.+?)\1", re.DOTALL)


def _escape_prose(text: str) -> str:
    """Escape HTML openers and Streamlit markdown extensions in text that is not code."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = text.replace("$", "\\$")
    return re.sub(r":(?=[A-Za-z_/-]+(?:\[|:))", "&#58;", text)


def _escape_line(line: str) -> str:
    """Escape one non-fenced line, leaving inline code spans untouched (code is always shown as text)."""
    out, pos = [], 0
    for match in _INLINE_CODE.finditer(line):
        out.append(_escape_prose(line[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_escape_prose(line[pos:]))
    return "".join(out)


def escape_markdown_html(text: str) -> str:
    """Markdown source with raw HTML neutralised outside fenced blocks and inline code."""
    lines, fence = [], None
    for line in str(text).split("\n"):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                lines.append(line)
            else:
                lines.append(_escape_line(line))
        else:
            lines.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
    return "\n".join(lines)


def safe_markdown(text: Any, *, container: Any = None) -> None:
    """Render untrusted text as markdown with HTML shown as text (never unsafe_allow_html)."""
    target = container if container is not None else st
    if text is None or text == "":
        target.caption("(empty)")
        return
    target.markdown(escape_markdown_html(str(text)))


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


def page_header(title: str, run: Any) -> None:
    """Page title and one line about the run being shown."""
    st.title(title)
    started = (run.started or "").replace("T", " ").replace("Z", " UTC")
    bits = [f"run `{run.run_id}`", f"mode {run.mode or 'unknown'}", f"status {run.status}"]
    if started:
        bits.append(f"started {started}")
    st.caption(" · ".join(bits))
    if run.dry_run:
        st.warning("Dry run: the judge's verdicts are seeded random draws, not real judgments.")


def missing_results(run: Any, what: str) -> None:
    """Explain why a run has nothing to show on this page, and what to do."""
    if run.has("answers_index.json") and not (run.has("judgments.jsonl") or run.has("battles.jsonl")):
        no_data(
            f"Run `{run.run_id}` has answers{f' from {run.n_models} model(s)' if run.n_models else ''} "
            f"but no judgments yet, so there is no {what}.",
            "Judge it by running the same config again with a `judge:` section "
            "(the answers are cached and reused), or pick another run in the sidebar.",
        )
    elif run.status in ("running", "interrupted", "failed"):
        no_data(
            f"Run `{run.run_id}` is {run.status} and has no {what} yet.",
            "Re-run the same command to finish it, or pick another run in the sidebar.",
        )
    else:
        no_data(f"Run `{run.run_id}` has no {what}.", "Pick another run in the sidebar.")
