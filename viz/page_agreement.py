"""Human results page: the human leaderboard (alone or pooled with the LLM judge) and judge-human agreement.

Reads WORKSPACE/human/<run>/votes.jsonl and the run's battles; fits ratings with arena.rating (pure math).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from arena.errors import ArenaError
from arena.human.agreement import LABELS, agreement, agreement_rows
from arena.human.battles import human_battles, human_grades
from arena.human.grade_agreement import grade_agreement, grade_rows
from arena.human.votes import VoteLog, load_log, problems_note, votes_path
from arena.rating import RatingOptions, rate_battles, result_to_dict, validate_battles
from viz.data import RunInfo, _records, stamp
from viz.derive import section_frame
from viz.render import escape_markdown_html, page_header

SOURCES = {"human": "Human votes only", "pooled": "LLM judge + human votes pooled"}
BOOTSTRAP = 100


@st.cache_data(show_spinner="Fitting the human leaderboard…", max_entries=16)
def _board_cached(votes_file: tuple, battles_file: tuple | None, source: str) -> dict[str, Any]:
    """Ratings of the human battles (or pooled with the run's battles) at given file stamps."""
    log = VoteLog(tuple(_records(votes_file[0])))
    rows = human_battles(log)
    if source == "pooled" and battles_file is not None:
        rows = [{k: v for k, v in r.items() if k != "games"} for r in _records(battles_file[0])] + rows
    if not rows:
        raise ArenaError("no active pairwise votes yet")
    table = validate_battles(pd.DataFrame.from_records(rows), votes_file[0])
    return result_to_dict(rate_battles(table, RatingOptions(bootstrap=BOOTSTRAP, seed=0), strict=False))


def human_leaderboard(run: RunInfo, votes_file: tuple) -> None:
    """The leaderboard fitted from human battles, alone or pooled."""
    st.subheader("Human leaderboard")
    source = st.radio("Battles", list(SOURCES), format_func=lambda s: SOURCES[s], horizontal=True, key="hr_source")
    try:
        section = _board_cached(votes_file, stamp(run.file("battles.jsonl")), source)
    except ArenaError as exc:
        st.info(f"No human leaderboard yet: {escape_markdown_html(exc)}")
        return
    table = section_frame(section)
    keep = [c for c in ("rank", "model", "rating", "ci_low", "ci_high", "battles", "wins", "ties", "losses")
            if c in table]
    st.dataframe(table[keep], hide_index=True)
    st.caption(f"Bradley-Terry with {BOOTSTRAP} bootstrap rounds, fitted here from {int(section.get('n_battles') or 0)} "
               "battles (judge `human`). The same battles for `arena rate`: `arena human battles RUN -o FILE` "
               "(add `--pool` for the pooled set).")


def agreement_section(run: RunInfo, log: VoteLog) -> None:
    """Per-judge agreement with humans, confusion matrices, categories and inter-annotator agreement."""
    st.subheader("Judge-human agreement (MT-bench style)")
    battles = _records(str(run.file("battles.jsonl"))) if run.has("battles.jsonl") else []
    result = agreement(battles, log.active("vote"))
    rows = pd.DataFrame(agreement_rows(result))
    st.dataframe(rows, hide_index=True)
    st.caption("Agreement: share of (judge verdict, human vote) pairs on the same question, turn and model pair "
               "that match; without ties drops pairs where either side is a tie (both bad counts as a tie). "
               "Inter-annotator: pairs of votes by two different people. Kappa: Cohen's.")
    st.download_button("Download CSV", rows.to_csv(index=False).encode("utf-8"),
                       file_name=f"agreement-{run.run_id}.csv", mime="text/csv")
    if not result["judges"]:
        return
    judge = st.selectbox("Judge", list(result["judges"]), key="hr_judge")
    report = result["judges"][judge]
    left, right = st.columns(2)
    with left:
        st.markdown("**Confusion matrix** (rows: judge, columns: humans; first/second = model by name)")
        st.dataframe(pd.DataFrame(report["confusion"]["matrix"], index=list(LABELS), columns=list(LABELS)))
    with right:
        st.markdown("**Per category**")
        cats = [{"category": c, "n": s["with_ties"]["n"], "agreement": s["with_ties"]["agreement"],
                 "n without ties": s["without_ties"]["n"], "agreement without ties": s["without_ties"]["agreement"]}
                for c, s in report["categories"].items()]
        st.dataframe(pd.DataFrame(cats), hide_index=True)
    if result["voter_pairs"]:
        with st.expander(f"Inter-annotator agreement per pair of voters ({len(result['voter_pairs'])})"):
            pairs = [{"voters": p, "n": s["with_ties"]["n"], "agreement": s["with_ties"]["agreement"],
                      "agreement without ties": s["without_ties"]["agreement"]}
                     for p, s in result["voter_pairs"].items()]
            st.dataframe(pd.DataFrame(pairs), hide_index=True)


def grades_section(run: RunInfo, log: VoteLog) -> None:
    """Single mode: mean human grade per model beside the judge's mean score."""
    st.subheader("Human grades")
    grades = pd.DataFrame(human_grades(log))
    if grades.empty:
        st.info("No grades yet: grade answers on the **Grade** page.")
        return
    table = grades.groupby("model")["score"].agg(["mean", "count"]).rename(
        columns={"mean": "mean human grade", "count": "grades"})
    scores = pd.DataFrame(_records(str(run.file("scores.jsonl")))) if run.has("scores.jsonl") else pd.DataFrame()
    if not scores.empty and {"model", "score"} <= set(scores.columns):
        table["mean judge score"] = pd.to_numeric(scores["score"], errors="coerce").groupby(scores["model"]).mean()
    st.dataframe(table.sort_values("mean human grade", ascending=False).reset_index(), hide_index=True)
    st.subheader("Judge-human agreement on grades")
    st.dataframe(pd.DataFrame(grade_rows(grade_agreement(scores.to_dict("records"), log.active("grade")))),
                 hide_index=True)
    st.caption("Each judge's score against every human grade of the same answer (Pearson, Spearman, mean absolute "
               "difference, share within one point); inter-annotator: two people's grades of one answer.")


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the human results page for one run."""
    page_header("Human results", run)
    votes_file = stamp(votes_path(workspace, run.run_id))
    if votes_file is None:
        st.info("Nobody has voted on this run yet: vote on the **Vote** page (pairwise and baseline runs) or "
                "grade on the **Grade** page (single mode), or import MT-bench's human judgments with "
                "`arena human import-mtbench FILE RUN`.")
        return
    log = load_log(workspace, run.run_id)
    note = problems_note(log.problems)
    if note:
        st.warning(escape_markdown_html(note))
    active = log.active("vote")
    st.caption(f"{len(active)} vote(s) and {len(log.active('grade'))} grade(s) by "
               f"{len({r['voter'] for r in log.records if r.get('kind') != 'withdraw'})} voter(s); "
               f"{len(log.withdrawn)} withdrawn.")
    if active:
        human_leaderboard(run, votes_file)
        agreement_section(run, log)
    if log.active("grade"):
        grades_section(run, log)
