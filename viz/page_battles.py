"""Battle browser: filter battles, read the question, both answers and the judge's reasoning per order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from viz.data import (
    RunInfo,
    battle_games,
    find_answer,
    judged_turns,
    load_battles,
    load_judgments,
    load_questions,
)
from viz.derive import truncated_turns
from viz.render import escape_markdown_html, missing_results, page_header, show_text

ANY = "(any)"
TRUNCATED_TAG = "✂ Truncated"
URL_PARAMS = ("model", "opponent", "question", "category", "judge", "verdict", "battle")  # this page's own
FILTER_KEYS = ("bt_category", "bt_model_a", "bt_model_b", "bt_verdict", "bt_judge", "bt_question")
VERDICTS = {
    "model_a": "model A wins",
    "model_b": "model B wins",
    "tie": "tie",
    "tie (bothbad)": "tie (both bad)",
}


WON, LOST = "won", "lost"  # verdict filter values relative to the chosen model


def verdict_labels(model: str | None) -> dict[str, str]:
    """The verdict filter's choices: by side (A / B) when no model is chosen, else the chosen model's result."""
    if model is None:
        return VERDICTS
    name = model if len(model) <= 40 else model[:39] + "…"
    return {WON: f"{name} wins", LOST: f"{name} loses", "tie": VERDICTS["tie"],
            "tie (bothbad)": VERDICTS["tie (bothbad)"]}


def _options(frame: pd.DataFrame, column: str) -> list[str]:
    """Sorted distinct values of a column, for a filter."""
    if column not in frame:
        return []
    return sorted(str(v) for v in frame[column].dropna().unique())


def _initial(key: str, param: str, choices: list[str]) -> None:
    """Seed a filter from the URL (`?model=...`) on the first visit."""
    if key not in st.session_state:
        wanted = str(st.query_params.get(param, ""))
        st.session_state[key] = wanted if wanted in choices else ANY


def filter_battles(battles: pd.DataFrame) -> pd.DataFrame:
    """Draw the filters and return the matching battles (in file order)."""
    models = sorted(set(_options(battles, "model_a")) | set(_options(battles, "model_b")))
    questions = _options(battles, "question_id")
    categories, judges = _options(battles, "category"), _options(battles, "judge")
    _initial("bt_model_a", "model", [ANY] + models)
    _initial("bt_model_b", "opponent", [ANY] + models)
    _initial("bt_question", "question", [ANY] + questions)
    _initial("bt_category", "category", [ANY] + categories)
    _initial("bt_judge", "judge", [ANY] + judges)
    first_model = st.session_state["bt_model_a"]
    _initial("bt_verdict", "verdict", [ANY, *verdict_labels(first_model if first_model != ANY else None)])
    row1, row2 = st.columns(3), st.columns(3)
    category = row1[0].selectbox("Category", [ANY] + categories, key="bt_category")
    model_a = row1[1].selectbox("Model", [ANY] + models, key="bt_model_a")
    model_b = row1[2].selectbox("Opponent", [ANY] + models, key="bt_model_b")
    labels = verdict_labels(model_a if model_a != ANY else None)
    if st.session_state.get("bt_verdict", ANY) not in [ANY, *labels]:  # the model was picked or cleared
        st.session_state["bt_verdict"] = ANY
    verdict = row2[0].selectbox(
        "Verdict", [ANY] + list(labels), key="bt_verdict", format_func=lambda v: labels.get(v, v)
    )
    judge = row2[1].selectbox("Judge", [ANY] + judges, key="bt_judge")
    question = row2[2].selectbox("Question", [ANY] + questions, key="bt_question")
    for param, value in (("model", model_a), ("opponent", model_b), ("question", question),
                         ("category", category), ("judge", judge), ("verdict", verdict)):
        if value == ANY:  # the address always says what is shown: a copied link opens the same battles
            st.query_params.pop(param, None)
        else:
            st.query_params[param] = value
    mask = pd.Series(True, index=battles.index)
    if verdict in (WON, LOST):  # in terms of the chosen model, whichever side it was on
        side_a = battles["model_a"] == model_a
        took = (side_a & (battles["winner"] == "model_a")) | (~side_a & (battles["winner"] == "model_b"))
        mask &= took if verdict == WON else battles["winner"].isin(["model_a", "model_b"]) & ~took
    for column, value in (
        ("category", category),
        ("winner", verdict if verdict not in (WON, LOST) else ANY),
        ("judge", judge),
        ("question_id", question),
    ):
        if value != ANY and column in battles:
            mask &= battles[column].astype(str) == value
    for model in (model_a, model_b):
        if model != ANY:
            mask &= (battles["model_a"] == model) | (battles["model_b"] == model)
    return battles[mask]


def _step(delta: int, total: int) -> None:
    """Move the battle position by delta, wrapping around."""
    st.session_state["bt_pos"] = (int(st.session_state.get("bt_pos", 1)) - 1 + delta) % total + 1


def pick_position(total: int) -> int:
    """Previous / next buttons and a position box; returns the 0-based index."""
    if "bt_pos" not in st.session_state:
        start = str(st.query_params.get("battle", "1"))
        st.session_state["bt_pos"] = int(start) if start.isdigit() else 1
    st.session_state["bt_pos"] = min(max(1, int(st.session_state["bt_pos"])), total)
    left, middle, right = st.columns([1, 2, 1])
    left.button("◀ Previous", key="bt_prev", on_click=_step, args=(-1, total))
    middle.number_input(f"Battle (of {total:,})", min_value=1, max_value=total, step=1, key="bt_pos")
    right.button("Next ▶", key="bt_next", on_click=_step, args=(1, total))
    st.query_params["battle"] = str(st.session_state["bt_pos"])
    return int(st.session_state["bt_pos"]) - 1


def _turns(value: Any) -> list[str]:
    """A turns field (list or single string) as a list of texts."""
    if value is None:
        return []
    return [str(t) for t in value] if isinstance(value, list) else [str(value)]


def show_text_turns(
    texts: list[str], judged_turn: int | None, raw: bool, label: str = "Turn", cut: list[int] | None = None,
    thoughts: list[str | None] | None = None,
) -> None:
    """Texts per turn, the judged turn marked; markdown with HTML shown as text, or the raw text.

    Turns in `cut` were stopped at max_tokens: each gets a warning under its text. A turn's thought block
    (`thoughts`, taken off before judging) is shown collapsed above its answer.
    """
    for number, text in enumerate(texts, start=1):
        mark = " (judged)" if judged_turn == number and len(texts) > 1 else ""
        if len(texts) > 1:
            tag = f" · {TRUNCATED_TAG}" if number in (cut or []) else ""
            st.markdown(f"**{label} {number}{mark}**{tag}")
        thought = thoughts[number - 1] if thoughts and number <= len(thoughts) else None
        if thought:  # an empty thought (<think></think>, thinking switched off) is not worth a box
            with st.expander(f"Thought ({len(thought):,} characters, not shown to the judge)"):
                show_text(thought, raw)
        if thought is not None and not text.strip():
            st.caption("No final answer after the thought: the judge read an empty answer.")
        else:
            show_text(text, raw)
        if number in (cut or []):
            st.warning(
                f"Truncated: this {'turn' if len(texts) > 1 else 'answer'} stopped at the `max_tokens` "
                "limit (finish_reason `length`), so it is incomplete.",
                icon="✂️",
            )


def show_question(question: dict[str, Any] | None, turn: int | None, raw: bool) -> None:
    """The question's turns and its reference answer."""
    st.subheader("Question")
    if question is None:
        st.caption("The question is not in this run's questions.jsonl.")
        return
    show_text_turns(_turns(question.get("turns")), turn, raw)
    reference = _turns(question.get("reference"))
    if reference:
        with st.expander("Reference answer", expanded=True):
            show_text_turns(reference, turn, raw)


def show_judgment(key: str, record: dict[str, Any] | None, battle: pd.Series, raw: bool) -> None:
    """One judge call: the order, the parsed verdict and the judge's full text."""
    if record is None:
        st.caption(f"Judgment `{key}` is not in this run's judgments.jsonl.")
        return
    first = battle["model_a"] if record.get("order", "AB") == "AB" else battle["model_b"]
    st.markdown(
        f"**Order {escape_markdown_html(record.get('order', '?'))}**: "
        f"{escape_markdown_html(first)} shown in position A"
    )
    winner = record.get("winner")
    named = battle.get(winner) if winner in ("model_a", "model_b") else winner
    judge = escape_markdown_html(record.get("judge_model") or record.get("judge"))
    st.markdown(
        f"Label {escape_markdown_html(record.get('label'))} → **{escape_markdown_html(named or 'no verdict')}**"
        f" · status {escape_markdown_html(record.get('status'))} · judge {judge}"
    )
    if record.get("error"):
        st.error(f"Judge call failed: {escape_markdown_html(record['error'])}")
    with st.container(border=True):
        show_text_turns([str(record.get("raw") or "")], None, raw)
        if record.get("followup_raw"):
            st.markdown("**Follow-up**")
            show_text_turns([str(record["followup_raw"])], None, raw)


def show_battle(workspace: Path, run: RunInfo, battle: pd.Series, raw: bool) -> None:
    """One battle: header, question, answers side by side, judgments for both orders."""
    turn = int(battle["turn"]) if pd.notna(battle.get("turn")) else None
    winner = battle.get("winner")
    verdict = battle.get(winner) if winner in ("model_a", "model_b") else winner
    st.subheader(f"{escape_markdown_html(battle['model_a'])} vs {escape_markdown_html(battle['model_b'])}")
    facts = [
        f"verdict: **{escape_markdown_html(verdict)}**"
        + (" wins" if winner in ("model_a", "model_b") else "")
    ]
    for column in ("question_id", "category", "turn", "judge", "weight", "consistent", "mode"):
        value = battle.get(column)
        if value is not None and not (isinstance(value, float) and pd.isna(value)):
            facts.append(f"{column}: {escape_markdown_html(value)}")
    qid = str(battle["question_id"])
    answers = {side: find_answer(workspace, run, battle[side], qid) for side in ("model_a", "model_b")}
    for side, answer in answers.items():
        cut = truncated_turns(answer)
        if cut and (turn is None or min(cut) <= turn):  # the judge saw the dialogue up to its turn
            facts.append(f"**{TRUNCATED_TAG}: answer {'A' if side == 'model_a' else 'B'}**")
    st.markdown(" · ".join(facts))
    show_question(load_questions(run).get(qid), turn, raw)
    columns = st.columns(2)
    for column, side in zip(columns, ("model_a", "model_b")):
        with column:
            st.subheader(f"{'A' if side == 'model_a' else 'B'}: {escape_markdown_html(battle[side])}")
            answer = answers[side]
            if answer is None:
                st.caption("Answer not found in the answer cache.")
            else:
                texts, thoughts = judged_turns(run, battle[side], answer)
                show_text_turns(texts, turn, raw, cut=truncated_turns(answer), thoughts=thoughts)
    st.subheader("Judge reasoning")
    keys = battle_games(battle.get("games"))
    if not keys:
        st.caption("This battle lists no judgment keys ('games').")
        return
    judgments = load_judgments(run)
    groups: dict[str, list[str]] = {}
    for key in keys:
        record = judgments.get(key) or {}
        groups.setdefault(str(record.get("judge") or "(judgment not found)"), []).append(key)
    votes = battle.get("panel_votes")
    for judge, judge_keys in groups.items():
        if len(groups) > 1:
            vote = votes.get(judge) if isinstance(votes, dict) else None
            suffix = f" · P(A wins) {vote:.2f}" if isinstance(vote, (int, float)) else ""
            st.markdown(f"#### Judge {escape_markdown_html(judge)}{suffix}")
        for column, key in zip(st.columns(len(judge_keys)), judge_keys):
            with column:
                show_judgment(key, judgments.get(key), battle, raw)


def render(workspace: Path, run: RunInfo, runs: list[RunInfo]) -> None:
    """Draw the battle browser for one run."""
    page_header("Battles", run)
    battles = load_battles(run)
    if battles.empty:
        if run.has("scores.jsonl"):
            st.info("Single-mode runs have no battles: see the **Single scores** page.")
        else:
            missing_results(run, "battles")
        return
    chosen = filter_battles(battles)
    signature = tuple(st.session_state.get(k) for k in FILTER_KEYS)
    if st.session_state.get("bt_filters", signature) != signature:
        st.session_state["bt_pos"] = 1
    st.session_state["bt_filters"] = signature
    if chosen.empty:
        st.info("No battle matches these filters.")
        return
    position = pick_position(len(chosen))
    raw = st.toggle("Show raw text", key="bt_raw", help="Exact text as stored, instead of rendered markdown.")
    show_battle(workspace, run, chosen.iloc[position], raw)
