"""Vote page (pairwise and baseline runs): blind human votes on two anonymised answers.

The voter sees the question (all turns) and "Answer 1 / Answer 2" in a seeded order of their own, never the
model names or the judge's verdict before voting. Votes go to WORKSPACE/human/<run>/votes.jsonl through
arena.human.votes (locked appends; withdrawal is a later record). Helpers here are shared with page_grade.

Answers are untrusted: each is drawn in a bordered box under the page's own label, and its markdown headings
and horizontal rules are shown as plain text, so an answer cannot draw a heading like the page's own
("Answer 2"), a fake reveal or a fake section break. Vote buttons carry the item's key and how many votes
the voter had on it when shown, and the log re-checks both under its lock: a second tab, a double click or a
key press landing after the page moved on never stores a vote beyond K or on an item the voter did not see.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from markdown_it import MarkdownIt

from arena.errors import ArenaError
from arena.human.access import is_loopback, may_vote
from arena.human.items import battle_items, shown_swapped
from arena.human.sampling import STRATEGIES, next_items, votes_left
from arena.human.votes import (
    CHOICE_LABELS,
    CHOICES,
    VoteLog,
    append_limited,
    append_record,
    check_voter,
    load_log,
    problems_note,
    vote_record,
    votes_path,
    withdraw_record,
)
from viz.data import RunInfo, _battles_cached, find_answer, judged_turns, load_questions, stamp
from viz.page_battles import _turns
from viz.render import MAX_CHARS, escape_markdown_html, fmt_num, page_header

_MIN_SECONDS = 1.0
SHORTCUTS = {"1": "1", "2": "2", "tie": "3", "bothbad": "4"}
PERSISTENT = ("human_voter", "human_token", "human_strategy", "human_k", "human_reveal")
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])  # headings and rules as GFM has them
_PREFIX = re.compile(r"^[ \t>]*")  # blockquote markers and indentation before a line's own text
_RULE_CHARS = re.compile(r"([-*_=])")


def _block_lines(source: str) -> list[tuple[str, int, int]]:
    """(kind, first line, end line) of every heading ("atx" or "setext") and horizontal rule ("hr")."""
    found = []
    for token in _MD.parse(source):
        if token.map is None:
            continue
        if token.type == "heading_open":
            found.append(("atx" if token.markup.startswith("#") else "setext", *token.map))
        elif token.type == "hr":
            found.append(("hr", *token.map))
    return found


def _escape_from_prefix(line: str, pattern: re.Pattern[str]) -> str:
    """The line with every `pattern` character after its blockquote/indent prefix backslash-escaped."""
    start = _PREFIX.match(line).end()
    return line[:start] + pattern.sub(r"\\\1", line[start:])


def demote_markdown(source: str) -> str | None:
    """Escaped markdown with its headings and horizontal rules turned into plain text (the `#` of a heading,
    a setext underline and a rule's characters backslash-escaped; code blocks, lists, emphasis and tables are
    kept); None when some construct resists (the caller then shows the text as plain text)."""
    for _ in range(4):
        found = _block_lines(source)
        if not found:
            return source
        lines = source.split("\n")
        for kind, start, end in found:
            if kind == "atx":
                at = lines[start].find("#")
                if at < 0:
                    return None
                lines[start] = lines[start][:at] + "\\" + lines[start][at:]
            elif kind == "setext":
                lines[end - 1] = _escape_from_prefix(lines[end - 1], _RULE_CHARS)
            else:
                lines[start] = _escape_from_prefix(lines[start], _RULE_CHARS)
        source = "\n".join(lines)
    return None


def show_untrusted(text: Any) -> None:
    """One model or user text: escaped markdown without headings or rules (viz.render.show_text's cut at
    MAX_CHARS, the whole text as plain text behind an expander); plain text when demotion fails."""
    if text is None or text == "":
        st.caption("(empty)")
        return
    text = str(text)
    source = demote_markdown(escape_markdown_html(text[:MAX_CHARS]))
    if source is None:
        st.code(text[:MAX_CHARS], language=None, wrap_lines=True)
    else:
        st.markdown(source)
    if len(text) > MAX_CHARS:
        st.caption(f"Cut at {MAX_CHARS:,} of {len(text):,} characters so the page stays responsive.")
        with st.expander(f"Show all ({len(text):,} characters, as plain text)"):
            st.code(text, language=None, wrap_lines=True)


def show_boxed_turns(texts: list[str], judged_turn: int | None, label: str = "Turn") -> None:
    """Texts per turn inside one bordered box (the judged turn marked), each shown by show_untrusted."""
    with st.container(border=True):
        for number, text in enumerate(texts, start=1):
            if len(texts) > 1:
                mark = " (judged)" if judged_turn == number else ""
                st.caption(f"{label} {number}{mark}")
            show_untrusted(text)


def show_question_boxed(question: dict[str, Any] | None, turn: int | None) -> None:
    """The question's turns and its reference answer, each in a bordered box under the page's own label."""
    st.subheader("Question")
    if question is None:
        st.caption("The question is not in this run's questions.jsonl.")
        return
    show_boxed_turns(_turns(question.get("turns")), turn)
    reference = _turns(question.get("reference"))
    if reference:
        with st.expander("Reference answer", expanded=True):
            show_boxed_turns(reference, turn)


def log_warning(log: VoteLog) -> None:
    """Say which bad records of the vote log were skipped (file:line and field), if any."""
    note = problems_note(log.problems)
    if note:
        st.warning(escape_markdown_html(note))


def keep_settings() -> None:
    """Keep the voter's name and settings when they visit another page (Streamlit drops unseen widgets)."""
    for key in PERSISTENT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def server_host() -> str | None:
    """The address the app server binds (`--server.address`; unset means every interface)."""
    return st.get_option("server.address")


def voter_gate(kind: str) -> str | None:
    """Name (required) and, on a shared server, the access token; returns the voter when they may vote."""
    keep_settings()
    left, right = st.columns(2)
    name = left.text_input("Your name (required to vote)", key="human_voter", max_chars=64)
    token = None
    if not is_loopback(server_host()):
        token = right.text_input("Access token", key="human_token", type="password",
                                 help="This app is shared on the network; the team's token lets you vote.")
    allowed, why = may_vote(server_host(), token)
    if not allowed:
        st.info(why)
        return None
    if not str(name or "").strip():
        st.info(f"Type your name to start {kind}; it is saved with each of your votes.")
        return None
    try:
        return check_voter(name)
    except ArenaError as exc:
        st.warning(escape_markdown_html(exc))
        return None


def still_allowed() -> bool:
    """Re-check the token at the moment of writing (a changed token or environment takes effect at once)."""
    return may_vote(server_host(), st.session_state.get("human_token"))[0]


def settings(default_reveal: bool = True) -> tuple[str, int, bool]:
    """Sampling strategy, votes per item per voter (K) and whether to reveal after voting."""
    st.session_state.setdefault("human_k", 1)
    st.session_state.setdefault("human_reveal", default_reveal)
    left, middle, right = st.columns([2, 1, 1])
    strategy = left.selectbox("What to vote on", list(STRATEGIES), key="human_strategy",
                              format_func=lambda s: STRATEGIES[s])
    k = int(middle.number_input("Votes per battle (K)", min_value=1, max_value=20, step=1, key="human_k",
                                help="How many times each voter may vote on one battle (default 1)."))
    reveal = right.toggle("Reveal after voting", key="human_reveal",
                          help="After you vote, show the model names and the judge's verdict.")
    return strategy, k, reveal


def pick_current(candidates: list[dict[str, Any]], state_key: str) -> dict[str, Any] | None:
    """The item being voted on: kept across reruns until voted or skipped, else the strategy's first."""
    skipped = set(st.session_state.get(state_key + "_skipped", ()))
    by_key = {it["battle"]: it for it in candidates}
    current = st.session_state.get(state_key)
    if current in by_key and current not in skipped:
        return by_key[current]
    fresh = [it for it in candidates if it["battle"] not in skipped] or candidates
    if not fresh:
        return None
    st.session_state[state_key] = fresh[0]["battle"]
    return fresh[0]


def skip(state_key: str, key: str) -> None:
    """Skip an item for this session (it comes back once every other one is done)."""
    st.session_state[state_key + "_skipped"] = [*st.session_state.get(state_key + "_skipped", []), key]
    st.session_state.pop(state_key, None)


def withdraw(workspace: Path, run_id: str, voter: str, vote_id: str) -> None:
    """Append a withdrawal of one of the voter's own votes."""
    if not still_allowed():
        st.session_state["human_error"] = "Voting is not allowed right now (access token)."
        return
    try:
        append_record(votes_path(workspace, run_id), withdraw_record(voter, vote_id))
    except ArenaError as exc:
        st.session_state["human_error"] = str(exc)
        return
    st.session_state["human_note"] = "Vote withdrawn (a withdrawal record was appended; the log keeps both)."
    if (st.session_state.get("human_last") or {}).get("vote_id") == vote_id:
        st.session_state.pop("human_last", None)


def my_votes(workspace: Path, run_id: str, log: VoteLog, voter: str, kind: str) -> None:
    """The voter's own active votes, each withdrawable."""
    mine = log.active(kind, voter)
    with st.expander(f"Your {kind}s in this run ({len(mine)})"):
        if not mine:
            st.caption("None yet.")
            return
        labels = {r["vote_id"]: f"{r['time']} · question {r['question_id']} turn {r.get('turn')} · "
                  f"{r.get('choice', r.get('grade'))}" for r in mine}
        chosen = st.selectbox("Vote", list(reversed(list(labels))), key=f"human_withdraw_{kind}",
                              format_func=lambda v: labels[v])
        st.button("Withdraw this vote", key=f"human_withdraw_btn_{kind}_{chosen}", on_click=withdraw,
                  args=(workspace, run_id, voter, chosen))


def flash() -> None:
    """Show (once) what the last callback did."""
    note, error = st.session_state.pop("human_note", None), st.session_state.pop("human_error", None)
    if error:
        st.error(escape_markdown_html(error))
    if note:
        st.success(escape_markdown_html(note))


def answer_turns(workspace: Path, run: RunInfo, model: str, question_id: str, turn: int) -> list[str] | None:
    """An answer's turns up to the judged one, or None when the answer is not in the cache."""
    answer = find_answer(workspace, run, model, question_id)
    if answer is None:
        return None
    texts, _ = judged_turns(run, model, answer)  # voters read what the judge read: no thought block
    return texts[:turn]


@st.cache_data(show_spinner=False, max_entries=16)
def _items_cached(file: tuple) -> list[dict[str, Any]]:
    """Vote items of a battles file (one per question, turn and model pair)."""
    return battle_items(_battles_cached(file).to_dict("records"))


def run_ratings(run: RunInfo) -> dict[str, float]:
    """Overall ratings from leaderboard.json (for 'close pairs'), empty when absent."""
    board = run.load_json("leaderboard.json") or {}
    rows = (board.get("overall") or {}).get("table") or []
    return {str(r["model"]): float(r["rating"]) for r in rows if isinstance(r, dict) and r.get("rating") is not None}


def min_seconds_on_screen() -> float:
    """How long an item must be on screen before a vote on it counts (ARENA_VOTE_MIN_SECONDS, default 1; 0 off).

    A vote key pressed twice quickly would otherwise vote on the item drawn after the first press, which the
    voter has not read."""
    try:
        value = float(os.environ.get("ARENA_VOTE_MIN_SECONDS", "") or _MIN_SECONDS)
    except ValueError:
        return _MIN_SECONDS
    return value if math.isfinite(value) and value >= 0 else _MIN_SECONDS


def mark_shown(tag: str) -> None:
    """Remember when the item with this button tag was first drawn for this session (monotonic clock)."""
    if st.session_state.get("human_shown", (None,))[0] != tag:
        st.session_state["human_shown"] = (tag, time.monotonic())


def too_soon(tag: str) -> bool:
    """True (and the page's message set) when a vote on `tag` comes less than the minimum after it was drawn."""
    shown_tag, since = st.session_state.get("human_shown", (None, 0.0))
    wait = min_seconds_on_screen()
    if shown_tag != tag or time.monotonic() - since >= wait:
        return False
    st.session_state["human_error"] = (
        f"That key press came less than {wait:g} s after this item appeared, so it was not counted (a key pressed "
        "twice votes on the next item before it can be read). Read the answers and vote again.")
    return True


def record_limited(workspace: Path, run_id: str, record: dict[str, Any], k: int, seen: int) -> bool:
    """Append a vote or grade unless the voter already has K on the item or it changed since it was shown
    (re-checked under the log's lock); a refusal or a write failure becomes the page's error message."""
    try:
        append_limited(votes_path(workspace, run_id), record, k, seen)
    except ArenaError as exc:
        st.session_state["human_error"] = str(exc)
        return False
    return True


def cast(workspace: Path, run_id: str, voter: str, item: dict[str, Any], swapped: bool, choice: str, k: int,
         seen: int) -> None:
    """Button callback: append the vote (token, K and the shown count re-checked), clear the comment, remember
    it for reveal/undo. `seen` is the voter's vote count on this item when it was shown."""
    if not still_allowed():
        st.session_state["human_error"] = "Voting is not allowed right now (access token)."
        return
    if too_soon(f"{item['battle']}_{seen}"):
        return
    record = vote_record(voter, item, swapped, choice, st.session_state.get("vote_comment", ""))
    if not record_limited(workspace, run_id, record, k, seen):
        return
    st.session_state["vote_comment"] = ""
    st.session_state["human_last"] = {**record, "judge_scores": item.get("judge_scores", {})}
    skip("vote_current", item["battle"])  # with K > 1 it comes back after the others, not at once


def _verdict(score: float, a: str, b: str) -> str:
    """A judge score for model_a as words."""
    if score > 0.5:
        return f"{a} better" + ("" if score == 1 else f" (P={fmt_num(score, 2)})")
    if score < 0.5:
        return f"{b} better" + ("" if score == 0 else f" (P={fmt_num(1 - score, 2)})")
    return "tie"


def reveal_last(last: dict[str, Any]) -> None:
    """After a vote: which model was which answer, and what the judge(s) said."""
    one, two = (escape_markdown_html(m) for m in last["shown"])
    judged = "; ".join(f"{escape_markdown_html(j)}: {escape_markdown_html(_verdict(s, last['model_a'], last['model_b']))}"
                       for j, s in last.get("judge_scores", {}).items()) or "no verdict recorded"
    st.success(f"Your vote: **{CHOICE_LABELS[last['choice']]}**. Answer 1 was **{one}**, Answer 2 was **{two}**. "
               f"Judge: {judged}.")


def show_pair(workspace: Path, run: RunInfo, item: dict[str, Any], swapped: bool) -> bool:
    """The question (all turns) and both answers, anonymised, in the voter's order, each in a bordered box
    under its label; False when an answer is not in the answer cache (there is nothing to compare)."""
    turn = int(item["turn"])
    show_question_boxed(load_questions(run).get(item["question_id"]), turn)
    models = (item["model_b"], item["model_a"]) if swapped else (item["model_a"], item["model_b"])
    complete = True
    for column, label, model in zip(st.columns(2), ("Answer 1", "Answer 2"), models):
        with column:
            st.subheader(label)
            texts = answer_turns(workspace, run, model, item["question_id"], turn)
            if texts is None:
                complete = False
                st.caption("This answer is not in the answer cache.")
            else:
                show_boxed_turns(texts, turn)
    return complete


def start_session(activity: str) -> tuple[str, str, int, bool] | None:
    """(voter, strategy, K, reveal) once the name and token are checked (after the flash); None: stop here."""
    voter = voter_gate(activity)
    flash()
    if voter is None:
        return None
    return (voter, *settings())


def last_with_withdraw(workspace: Path, run_id: str, voter: str, kind: str, reveal: bool,
                       show: Callable[[dict[str, Any]], None], label: str, key: str) -> None:
    """The voter's own last record of this kind: revealed when asked, with a button that withdraws it."""
    last = st.session_state.get("human_last")
    if not (last and last.get("voter") == voter and last.get("kind") == kind):
        return
    if reveal:
        show(last)
    st.button(label, key=f"{key}_{last['vote_id']}", on_click=withdraw,
              args=(workspace, run_id, voter, last["vote_id"]))


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the vote page for one run."""
    page_header("Vote", run)
    file = stamp(run.file("battles.jsonl"))
    if file is None:
        st.info("This run has no battles to vote on. Single-mode runs are graded on the **Grade** page."
                if run.has("scores.jsonl") else "This run has no battles to vote on yet; pick another run.")
        return
    session = start_session("voting")
    if session is None:
        return
    voter, strategy, k, reveal = session
    log = load_log(workspace, run.run_id)
    log_warning(log)
    items = _items_cached(file)
    own = log.counts(voter)
    candidates = next_items(strategy, items, voter, own, k, votes=log.active(), ratings=run_ratings(run))
    left = votes_left(items, own, k)
    st.markdown(f"**{left}** vote(s) left for you on {len(items)} battle(s) ({k} per battle); "
                f"{len(log.active())} vote(s) from {len({r['voter'] for r in log.active()})} voter(s) so far.")
    last_with_withdraw(workspace, run.run_id, voter, "vote", reveal, reveal_last, "Withdraw my last vote",
                       "vote_undo")
    item = pick_current(candidates, "vote_current")
    if item is None:
        st.success("You have voted on every battle of this run. Thank you!")
        my_votes(workspace, run.run_id, log, voter, "vote")
        return
    seen = own.get(item["battle"], 0)
    swapped = shown_swapped(voter, item["battle"], seen)
    tag = f"{item['battle']}_{seen}"  # a click counts for the item and showing it was drawn for, never a later one
    mark_shown(tag)
    if not show_pair(workspace, run, item, swapped):
        st.warning("This battle cannot be voted on: an answer is not in the answer cache. Skip it.")
        st.button("Skip", key=f"vote_skip_{tag}", on_click=skip, args=("vote_current", item["battle"]))
        my_votes(workspace, run.run_id, log, voter, "vote")
        return
    st.text_area("Comment (optional)", key="vote_comment", max_chars=4000)
    columns = st.columns(len(CHOICES) + 1)
    for column, choice in zip(columns, CHOICES):
        column.button(CHOICE_LABELS[choice], key=f"vote_{choice}_{tag}", shortcut=SHORTCUTS[choice],
                      type="primary" if choice in ("1", "2") else "secondary", on_click=cast,
                      args=(workspace, run.run_id, voter, item, swapped, choice, k, seen))
    columns[-1].button("Skip", key=f"vote_skip_{tag}", on_click=skip, args=("vote_current", item["battle"]))
    st.caption("Keyboard: 1 / 2 for the better answer, 3 for a tie, 4 when both are bad.")
    my_votes(workspace, run.run_id, log, voter, "vote")
