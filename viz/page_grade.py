"""Grade page (single-mode runs): a human 1-10 grade for one answer, the model and the judge's score hidden.

Grades go to the same vote log as pairwise votes (WORKSPACE/human/<run>/votes.jsonl, kind "grade"). The answer
is drawn as on the Vote page (bordered box, headings shown as text) and grade buttons are bound to the item and
showing they were drawn for (see page_vote).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from arena.human.items import grade_items
from arena.human.sampling import next_items, votes_left
from arena.human.votes import grade_record, load_log
from viz.data import RunInfo, _scores_cached, load_questions, stamp
from viz.page_vote import (
    answer_turns,
    last_with_withdraw,
    log_warning,
    mark_shown,
    my_votes,
    pick_current,
    record_limited,
    show_boxed_turns,
    show_question_boxed,
    skip,
    start_session,
    still_allowed,
    too_soon,
)
from viz.render import escape_markdown_html, fmt_num, page_header

GRADES = tuple(range(1, 11))


def shortcut(grade: int) -> str:
    """Keyboard key of a grade: 1-9, and 0 for 10."""
    return str(grade % 10)


@st.cache_data(show_spinner=False, max_entries=16)
def _items_cached(file: tuple) -> list[dict[str, Any]]:
    """Grade items of a scores file (one per model, question and turn)."""
    return grade_items(_scores_cached(file).to_dict("records"))


def give(workspace: Path, run_id: str, voter: str, item: dict[str, Any], grade: int, k: int, seen: int) -> None:
    """Button callback: append the grade (token, K and the shown count re-checked), clear the comment, remember
    it for reveal/undo. `seen` is the voter's grade count on this answer when it was shown."""
    if not still_allowed():
        st.session_state["human_error"] = "Voting is not allowed right now (access token)."
        return
    if too_soon(f"{item['battle']}_{seen}"):
        return
    record = grade_record(voter, item, grade, st.session_state.get("grade_comment", ""))
    if not record_limited(workspace, run_id, record, k, seen):
        return
    st.session_state["grade_comment"] = ""
    st.session_state["human_last"] = {**record, "judge_scores": item.get("judge_scores", {})}
    skip("grade_current", item["battle"])  # with K > 1 it comes back after the others, not at once


def reveal_last(last: dict[str, Any]) -> None:
    """After grading: the model and the judge's score(s)."""
    judged = "; ".join(f"{escape_markdown_html(j)}: {fmt_num(s, 1)}" for j, s in last.get("judge_scores", {}).items())
    st.success(f"Your grade: **{last['grade']}** for **{escape_markdown_html(last['model'])}**. "
               f"Judge: {judged or 'no score recorded'}.")


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the grade page for one run."""
    page_header("Grade", run)
    file = stamp(run.file("scores.jsonl"))
    if file is None:
        st.info("This run has no single-mode scores to grade. Pairwise and baseline runs are voted on the "
                "**Vote** page." if run.has("battles.jsonl") else "This run has no answers to grade yet.")
        return
    session = start_session("grading")
    if session is None:
        return
    voter, strategy, k, reveal = session
    log = load_log(workspace, run.run_id)
    log_warning(log)
    items = _items_cached(file)
    own = log.counts(voter, "grade")
    candidates = next_items(strategy, items, voter, own, k, votes=log.active("grade"))
    st.markdown(f"**{votes_left(items, own, k)}** grade(s) left for you on {len(items)} answer(s) "
                f"({k} per answer); {len(log.active('grade'))} grade(s) so far.")
    last_with_withdraw(workspace, run.run_id, voter, "grade", reveal, reveal_last, "Withdraw my last grade",
                       "grade_undo")
    item = pick_current(candidates, "grade_current")
    if item is None:
        st.success("You have graded every answer of this run. Thank you!")
        my_votes(workspace, run.run_id, log, voter, "grade")
        return
    turn = int(item["turn"])
    seen = own.get(item["battle"], 0)
    tag = f"{item['battle']}_{seen}"  # a click counts for the answer and showing it was drawn for
    mark_shown(tag)
    show_question_boxed(load_questions(run).get(item["question_id"]), turn)
    st.subheader("Answer")
    texts = answer_turns(workspace, run, item["model"], item["question_id"], turn)
    if texts is None:
        st.caption("This answer is not in the answer cache.")
        st.warning("This answer cannot be graded: it is not in the answer cache. Skip it.")
        st.button("Skip", key=f"grade_skip_{tag}", on_click=skip, args=("grade_current", item["battle"]))
        my_votes(workspace, run.run_id, log, voter, "grade")
        return
    show_boxed_turns(texts, turn)
    st.text_area("Comment (optional)", key="grade_comment", max_chars=4000)
    st.markdown("**Grade** (1 = useless, 10 = excellent)")
    columns = st.columns(len(GRADES) + 1)
    for column, grade in zip(columns, GRADES):
        column.button(str(grade), key=f"grade_{grade}_{tag}", shortcut=shortcut(grade), on_click=give,
                      args=(workspace, run.run_id, voter, item, grade, k, seen))
    columns[-1].button("Skip", key=f"grade_skip_{tag}", on_click=skip, args=("grade_current", item["battle"]))
    st.caption("Keyboard: 1-9, and 0 for 10.")
    my_votes(workspace, run.run_id, log, voter, "grade")
