"""Arena leaderboard app: `streamlit run viz/app.py -- --workspace DIR` (or `arena viz DIR`).

Reads run files only (FORMATS.md); never calls a model. Pages live in viz/page_*.py, one per page.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st

from arena.errors import ArenaError
from viz import (
    page_agreement,
    page_battles,
    page_categories,
    page_compare,
    page_grade,
    page_head_to_head,
    page_history,
    page_judges,
    page_leaderboard,
    page_perf,
    page_single,
    page_vote,
)
from viz.data import RunInfo, default_run, list_runs, workspace_from_args
from viz.bench_view import show_bench
from viz.render import escape_markdown_html, no_data

PageFn = Callable[[Path, RunInfo, list[RunInfo]], None]
PAGES: dict[str, PageFn] = {
    "Leaderboard": page_leaderboard.render,
    "Head to head": page_head_to_head.render,
    "Categories": page_categories.render,
    "History": page_history.render,
    "Compare": page_compare.render,
    "Battles": page_battles.render,
    "Judges": page_judges.render,
    "Single scores": page_single.render,
    "Vote": page_vote.render,
    "Grade": page_grade.render,
    "Human results": page_agreement.render,
    "Performance": page_perf.render,
}
START_HINT = "Start with `arena run -c configs/cfg_pairwise.yaml --dry-run`, then reload this page."


def slug(name: str) -> str:
    """URL form of a page name (`?page=head-to-head`)."""
    return name.lower().replace(" ", "-")


def pick_page() -> str:
    """The page chosen in the sidebar (first visit: from `?page=`)."""
    names = list(PAGES)
    if st.session_state.get("page") not in names:
        by_slug = {slug(n): n for n in names}
        st.session_state["page"] = by_slug.get(str(st.query_params.get("page", "")).lower(), names[0])
    choice = st.sidebar.radio("Page", names, key="page")
    st.query_params["page"] = slug(choice)
    if choice != "Battles":  # the battle browser's filters belong to its own address
        for param in page_battles.URL_PARAMS:
            st.query_params.pop(param, None)
    return choice


def pick_run(runs: list[RunInfo]) -> RunInfo:
    """The run chosen in the sidebar (first visit: `?run=`, else the latest run with results)."""
    by_id = {r.run_id: r for r in runs}
    if st.session_state.get("run") not in by_id:
        wanted = str(st.query_params.get("run", ""))
        fallback = default_run(runs)
        st.session_state["run"] = (
            wanted if wanted in by_id else (fallback.run_id if fallback else runs[-1].run_id)
        )
    run_id = st.sidebar.selectbox(
        "Run", [r.run_id for r in reversed(runs)], key="run", format_func=lambda i: by_id[i].label
    )
    st.query_params["run"] = run_id
    return by_id[run_id]


def show_page(page: str, workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Render one page; data problems become a message instead of a traceback."""
    try:
        PAGES[page](workspace, run, runs)
    except ArenaError as exc:
        st.error(f"{page}: {escape_markdown_html(exc)}")
    except Exception as exc:  # noqa: BLE001 - the UI's last resort: a message here, the traceback in the log
        traceback.print_exc()
        st.error(
            f"{page}: this page could not be shown ({type(exc).__name__}: {escape_markdown_html(exc)}). "
            "The files of this run may be incomplete or from another version; the server log has details."
        )


def main() -> None:
    """Entry point of the Streamlit script."""
    st.set_page_config(page_title="Arena leaderboard", page_icon="🏟️", layout="wide")
    workspace = workspace_from_args()
    st.sidebar.title("Arena")
    page = pick_page()
    st.sidebar.caption(f"Workspace: `{workspace}`")
    if not workspace.is_dir():
        st.title(page)
        no_data(f"The workspace folder `{workspace}` does not exist.", START_HINT)
        return
    runs = list_runs(workspace)
    if not runs:
        if page == "Performance":  # load tests need no run
            return page_perf.render(workspace, None, runs)
        st.title(page)
        no_data(f"No runs yet in `{workspace}` (no `runs/<run>/run.json`).", START_HINT)
        if page == "Leaderboard":
            show_bench(workspace)
        return
    run = pick_run(runs)
    show_page(page, workspace, run, runs)


main()
