"""Tables the pages show, derived from run files; refits use arena.rating (pure math) and are cached."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from arena.errors import ArenaError
from arena.rating import RatingOptions, rate_battles, result_to_dict, validate_battles
from arena.rating.head_to_head import ALL as TABLE_ALL
from arena.rating.head_to_head import matrices, self_battles_once
from arena.rating.leaderboard import UNPLACED_NOTES
from arena.rating.options import LOW_DATA_BATTLES
from arena.run_status import counts_as_completed
from viz.data import RunInfo, Stamp, _battles_cached, stamp

REFIT_BOOTSTRAP = 100  # bootstrap rounds for refits done in the app (the pipeline's files keep theirs)
TEXT_COLUMNS = ("model", "ci_note", "low_data")  # leaderboard table columns that are not numbers


def section_frame(section: dict[str, Any] | None) -> pd.DataFrame:
    """A leaderboard section's table as a DataFrame, best first."""
    rows = (section or {}).get("table") or []
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return frame
    for column in frame.columns:
        if column not in TEXT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if "low_data" in frame:
        frame["low_data"] = frame["low_data"].fillna(0).astype(bool)
    # a model nothing rates (all its battles weigh 0) sits last, as in the CLI: its rating is the starting value
    last = frame["ci_note"].isin(UNPLACED_NOTES) if "ci_note" in frame else pd.Series(False, index=frame.index)
    return (frame.assign(_last=last).sort_values(["_last", "rating", "model"], ascending=[True, False, True])
            .drop(columns="_last").reset_index(drop=True))


def caution(table: pd.DataFrame, options: dict[str, Any]) -> pd.Series:
    """Per model, why its rating is less certain than it looks ('' when nothing to say).

    Uses the leaderboard's `low_data` flag and `ci_note`; older files without them are judged here: fewer
    than `low_data_battles` battles, or a zero-width bootstrap interval (degenerate, not certain).
    """
    few_battles = int(options.get("low_data_battles") or LOW_DATA_BATTLES)
    bootstrapped = int(options.get("bootstrap") or 0) > 0
    battles = table["battles"] if "battles" in table else pd.Series(np.nan, index=table.index)
    low = table.get("low_data", battles < few_battles)
    note = table.get("ci_note", pd.Series(None, index=table.index, dtype=object))
    zero = pd.Series(False, index=table.index)
    if bootstrapped and "ci_note" not in table and {"ci_low", "ci_high"} <= set(table):
        zero = (table["ci_high"] - table["ci_low"]).abs() <= 1e-9
    out = []
    for k in table.index:
        if isinstance(note[k], str) and note[k]:
            out.append(f"⚠ low data: interval {note[k]}")
        elif zero[k]:
            out.append("⚠ low data: zero-width interval (every resample gave the same rating)")
        elif bool(low[k]):
            count = f"{int(battles[k])} battles" if pd.notna(battles[k]) else "few battles"
            out.append(f"⚠ low data: only {count}")
        else:
            out.append("")
    return pd.Series(out, index=table.index, dtype=object)


def rating_options(leaderboard: dict[str, Any] | None, **changes: Any) -> RatingOptions:
    """RatingOptions as written in leaderboard.json (unknown keys ignored), with changes applied."""
    raw = dict((leaderboard or {}).get("options") or {})
    known = {f.name for f in fields(RatingOptions)}
    kwargs = {k: v for k, v in raw.items() if k in known}
    if kwargs.get("anchor"):
        kwargs["anchor"] = (str(kwargs["anchor"][0]), float(kwargs["anchor"][1]))
    if kwargs.get("percentiles"):
        kwargs["percentiles"] = tuple(float(p) for p in kwargs["percentiles"])
    kwargs.update(changes)
    if kwargs.get("style_control"):
        kwargs["method"] = "bt"
    kwargs["bootstrap"] = min(int(kwargs.get("bootstrap", REFIT_BOOTSTRAP)), REFIT_BOOTSTRAP)
    return RatingOptions(**kwargs)


@st.cache_data(show_spinner="Refitting ratings…", max_entries=64)
def _refit_cached(
    battles_file: Stamp, options: RatingOptions, judge: str | None, category: str | None
) -> dict[str, Any]:
    """A leaderboard section refitted from the battles of one judge and/or category."""
    battles = _battles_cached(battles_file)
    if judge is not None:
        battles = battles[battles["judge"] == judge]
    if category is not None:
        battles = battles[battles["category"] == category]
    if battles.empty:
        raise ArenaError("no battles match these filters")
    table = validate_battles(battles.drop(columns=["games"], errors="ignore"), battles_file[0])
    return result_to_dict(rate_battles(table, options, strict=False))


def member_battles(run: RunInfo, judge: str) -> Path | None:
    """A panel member's own runs/<run>/judges/<judge>/battles.jsonl, when the run has one."""
    judges_dir = Path(run.path) / "judges"
    path = judges_dir / judge / "battles.jsonl"
    if "/" in judge or "\\" in judge or judge in ("", ".", "..") or not path.is_file():
        return None
    return path


def refit(run: RunInfo, options: RatingOptions, judge: str | None, category: str | None) -> dict[str, Any]:
    """Refit the battles of a judge and/or category (cached); a panel member's own file when it has one."""
    own = member_battles(run, judge) if judge is not None else None
    if own is not None:
        file = stamp(own)
        if file is not None:
            return _refit_cached(file, options, None, category)
    file = stamp(run.battles_file())
    if file is None:
        raise ArenaError("this run has no battles.jsonl to refit from")
    return _refit_cached(file, options, judge, category)


def observed_matrices(battles: pd.DataFrame, models: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed share of points of row vs column (ties half, weighted) and battle counts, in model order, from
    raw battle rows (lenient: a row without a known winner or prob_a is left out, a missing weight counts 1).
    The per-pair sums have the columns of the precomputed head-to-head table, which `matrices` turns into
    the two matrices for both sources alike."""
    score = (battles["winner"] if "winner" in battles else pd.Series(None, index=battles.index, dtype=object)).map(
        {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5})  # prob_a-only battles have no winner
    if "prob_a" in battles:
        score = pd.to_numeric(battles["prob_a"], errors="coerce").fillna(score)
    weight = (
        pd.to_numeric(battles["weight"], errors="coerce").fillna(1.0)
        if "weight" in battles
        else pd.Series(1.0, index=battles.index)
    )
    long = pd.DataFrame(
        {
            "model": pd.concat([battles["model_a"], battles["model_b"]], ignore_index=True),
            "opponent": pd.concat([battles["model_b"], battles["model_a"]], ignore_index=True),
            "points": pd.concat([score * weight, (1.0 - score) * weight], ignore_index=True),
            "weight": pd.concat([weight, weight], ignore_index=True),
        }
    ).dropna()
    sums = long.groupby(["model", "opponent"]).agg(
        battles=("points", "size"), points=("points", "sum"), weight=("weight", "sum")
    ).reset_index()
    return matrices(self_battles_once(sums).assign(category=TABLE_ALL), None, models)


def leaderboard_history(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per (run with a leaderboard, model): rating, interval, rank, battles, run start time."""
    frames = []
    for run in runs:
        board = run.load_json("leaderboard.json")
        table = section_frame((board or {}).get("overall"))
        if table.empty:
            continue
        keep = [c for c in ("model", "rating", "ci_low", "ci_high", "rank", "battles") if c in table]
        table = table[keep].copy()
        table["run_id"] = run.run_id
        table["status"] = run.status
        table["started"] = pd.to_datetime(run.started, utc=True, errors="coerce")
        table["normalisation"] = _normalisation((board or {}).get("options") or {})
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _normalisation(options: dict[str, Any]) -> str:
    """How a run's ratings are pinned (anchor, baseline or centred), for comparability notes."""
    if options.get("anchor"):
        return f"anchor {options['anchor'][0]}={options['anchor'][1]}"
    if options.get("baseline"):
        return f"baseline {options['baseline']}"
    return f"centred on {options.get('init', 1000)}"


def changes_since(
    history: pd.DataFrame, run_id: str
) -> tuple[pd.DataFrame, str | None, list[str], list[str]]:
    """Per model: rating and rank now and in the previous run; plus previous run id, entered and left.

    The previous run is the latest earlier completed one (an unfinished run is an attempt its re-run continues,
    as `arena compare` pairs them), else the latest earlier one. Rating changes are on a common scale, as
    `arena compare` puts them: each fit is only fixed up to a shift, so unless both runs pin the same model
    (anchor or baseline), the change is shifted so that its median over the models in both runs is 0."""
    order = list(dict.fromkeys(history["run_id"]))
    if run_id not in order:
        return pd.DataFrame(), None, [], []
    now = history[history["run_id"] == run_id].set_index("model")
    position = order.index(run_id)
    if position == 0:
        return now[["rating", "rank"]].reset_index(), None, sorted(now.index), []
    status = history.drop_duplicates("run_id").set_index("run_id")["status"] if "status" in history else None
    earlier = order[:position]
    done = [r for r in earlier if status is None or counts_as_completed(status.get(r))]
    previous_id = (done or earlier)[-1]
    before = history[history["run_id"] == previous_id].set_index("model")
    table = now[["rating", "rank"]].join(
        before[["rating", "rank"]].rename(columns={"rating": "previous rating", "rank": "previous rank"}),
        how="left",
    )
    change = table["rating"] - table["previous rating"]
    pinned = now["normalisation"].iloc[0] if "normalisation" in now else ""
    same_pin = pinned != "" and not pinned.startswith("centred") and \
        ("normalisation" in before and (before["normalisation"] == pinned).all())
    shift = 0.0 if same_pin or change.isna().all() else float(change.median())
    table["rating change"] = change - shift
    table["rank change"] = table["previous rank"] - table["rank"]
    entered = sorted(set(now.index) - set(before.index))
    left = sorted(set(before.index) - set(now.index))
    return table.reset_index(), previous_id, entered, left


def category_table(board: dict[str, Any], field: str = "rating") -> pd.DataFrame:
    """Model x category values of one leaderboard field (rating, ci_low, ci_high, battles), overall first;
    models ordered by overall rating."""
    overall = section_frame(board.get("overall"))
    columns = {}
    for name, section in [("overall", board.get("overall")), *sorted((board.get("categories") or {}).items())]:
        table = overall if name == "overall" else section_frame(section)
        if not table.empty:
            columns[name] = table.set_index("model")[field] if field in table else pd.Series(
                float("nan"), index=table["model"])
    frame = pd.DataFrame(columns)
    if not overall.empty:  # the same row order whichever field is shown
        order = overall.set_index("model")["rating"].reindex(frame.index)
        frame = frame.loc[order.sort_values(ascending=False, kind="stable").index]
    frame.index.name = "model"
    return frame


def judge_choices(
    run: RunInfo, stats: dict[str, Any] | None, battles: pd.DataFrame | None = None
) -> list[str]:
    """Judge names known for a run: judge_stats.json keys, then the config, then the battles."""
    names = list((stats or {}).keys()) or list(run.judge_names)
    if battles is not None and not battles.empty and "judge" in battles:
        names += [str(j) for j in battles["judge"].dropna().unique()]
    return list(dict.fromkeys(n for n in names if n))


def truncated_turns(answer: dict[str, Any] | None) -> list[int]:
    """Turns (1-based) of an answer record cut at max_tokens: `truncated` (bool or per turn), else
    finish_reason "length" (one value or one per turn)."""
    if not answer:
        return []
    n_turns = len(answer.get("turns") or []) or 1
    for field, hit in (("truncated", lambda v: v is True), ("finish_reason", lambda v: v == "length")):
        value = answer.get(field)
        if isinstance(value, list):
            cut = [k for k, item in enumerate(value, start=1) if hit(item)]
        else:
            cut = list(range(1, n_turns + 1)) if hit(value) else []
        if cut:
            return cut
    return []


def finite(values: Any) -> np.ndarray:
    """Values as floats with None turned into NaN."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
