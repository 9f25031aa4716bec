"""Compare page: two runs of the workspace side by side, the same report as `arena compare` (report.md/html).

Default: the latest judged run against the previous completed run of its series (same run name and judge mode;
dry runs left out while real runs pair), as `arena compare WORKSPACE` picks them; `?page=compare&old=RUN&new=RUN` opens
a given pair. The comparison is computed here (pure math on the runs' files, cached on their stamps); flipped
verdicts link to the Battles page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from arena.errors import ArenaError
from viz.data import RunInfo, stamp
from viz.render import escape_markdown_html, no_data

LEVELS = (0.90, 0.95, 0.99)
BATTLE_LINKS = "./"  # relative: the battle browser of this same app


def _judged(runs: list[RunInfo]) -> list[RunInfo]:
    """Runs with battles (the ones a comparison can use; an empty battles file is none), oldest first."""
    return [r for r in runs if (found := stamp(r.battles_file())) is not None and found[2] > 0]


def _stamps(run: RunInfo) -> tuple:
    """File stamps that decide whether a cached comparison is still valid."""
    names = ("run.json", "battles.jsonl", "battles.jsonl.gz", "leaderboard.json", "answers_index.json",
             "judgments.jsonl")
    return tuple(stamp(run.file(n)) for n in names)


@st.cache_data(show_spinner="Comparing the two runs…", max_entries=16)
def _comparison(old: str, new: str, stamps: tuple, level: float, rounds: int) -> dict[str, Any]:
    """The comparison dict of two run folders (as `arena compare` computes it, with in-app battle links)."""
    from arena.compare.cli import clean
    from arena.compare.result import compare_runs
    from arena.compare.runs import load_run

    del stamps  # part of the cache key only
    return clean(compare_runs(load_run(old), load_run(new), level=level, rounds=rounds, app_url=BATTLE_LINKS))


def _default_pair(workspace: Path, judged: list[RunInfo]) -> tuple[str, str]:
    """(old, new) run ids as `arena compare WORKSPACE` picks them (arena.compare.runs.default_pair: the latest
    real run against the previous completed one of its series, dry runs left out while real runs pair); else the
    last two judged runs."""
    from arena.compare.runs import default_pair

    try:
        old, new, _ = default_pair(workspace)
        return old.name, new.name
    except ArenaError:
        return judged[-2].run_id, judged[-1].run_id


def pick_pair(workspace: Path, judged: list[RunInfo]) -> tuple[RunInfo, RunInfo, float, int]:
    """Old and new run selectors (first visit: `?old=` / `?new=`, else the default pair), level and rounds."""
    by_id = {r.run_id: r for r in judged}
    default = _default_pair(workspace, judged)
    for key, param, fallback in (("cmp_old", "old", default[0]), ("cmp_new", "new", default[1])):
        if st.session_state.get(key) not in by_id:
            wanted = str(st.query_params.get(param, ""))
            st.session_state[key] = wanted if wanted in by_id else fallback
    ids = [r.run_id for r in reversed(judged)]
    left, right = st.columns(2)
    old = left.selectbox("Old run", ids, key="cmp_old", format_func=lambda i: by_id[i].label)
    new = right.selectbox("New run", ids, key="cmp_new", format_func=lambda i: by_id[i].label)
    with st.expander("Settings"):
        level = st.select_slider("Confidence level (whole table)", LEVELS, value=0.95, key="cmp_level")
        rounds = int(st.number_input("Bootstrap rounds", 50, 5000, 500, step=50, key="cmp_rounds"))
    st.query_params["old"], st.query_params["new"] = old, new
    return by_id[old], by_id[new], float(level), rounds


def _frame(block: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A table block as a DataFrame (link cells as URLs) and the column config showing them as links."""
    rows = [[c["href"] if isinstance(c, dict) else str(c) for c in row] for row in block["rows"]]
    config: dict[str, Any] = {}
    for k, name in enumerate(block["head"]):
        cells = [row[k] for row in block["rows"]]
        if cells and all(isinstance(c, dict) for c in cells):
            config[name] = st.column_config.LinkColumn(name, display_text=cells[0]["text"])
    return pd.DataFrame(rows, columns=block["head"]), config


def show_report(result: dict[str, Any]) -> None:
    """The report's blocks (arena.compare.sections) as Streamlit elements; every text escaped."""
    from arena.compare.charts import figure
    from arena.compare.sections import report_blocks

    for block in report_blocks(result):
        kind = block["kind"]
        if kind == "h1":
            st.header(escape_markdown_html(block["text"]))
        elif kind == "h2":
            st.subheader(escape_markdown_html(block["text"]))
        elif kind == "h3":
            st.markdown("#### " + escape_markdown_html(block["text"]))
        elif kind == "p":
            st.markdown(escape_markdown_html(block["text"]))
        elif kind == "list":
            st.markdown("\n".join(f"- {escape_markdown_html(item)}" for item in block["items"]))
        elif kind == "table":
            frame, config = _frame(block)
            st.dataframe(frame, hide_index=True, column_config=config)
        elif kind == "chart":
            st.plotly_chart(figure(result, block), key=f"cmp_chart_{block['chart']}_{block.get('model')}")


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the Compare page."""
    del run  # the page picks its own pair of runs
    st.title("Compare")
    judged = _judged(runs)
    if len(judged) < 2:
        no_data("A comparison needs two judged runs (runs with battles.jsonl) in this workspace.",
                "Run the same config again next week (`arena run -c CONFIG`), then reload this page.")
        return
    old, new, level, rounds = pick_pair(workspace, judged)
    if old.run_id == new.run_id:
        st.info("Pick two different runs.")
        return
    result = _comparison(old.path, new.path, (_stamps(old), _stamps(new)), level, rounds)
    summary = escape_markdown_html(result["summary"])
    (st.success if result["summary"] == "no detectable change" else st.warning)(f"Summary: **{summary}**")
    show_report(result)
    st.caption(f"The same report as `arena compare {escape_markdown_html(old.path)} {escape_markdown_html(new.path)}`"
               " (report.md / report.html in the new run).")
