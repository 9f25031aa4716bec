"""Serialise leaderboards: JSON-ready dicts, text tables, and the pipeline's leaderboard.{json,csv} files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena.rating.head_to_head import HEAD_TO_HEAD_CSV, head_to_head_table, write_head_to_head
from arena.rating.leaderboard import UNPLACED_NOTES, RatingResult, rate_all
from arena.rating.names import names_shown
from arena.rating.options import RatingOptions
from arena.rating.summary import battles_for_rating
from arena.records import write_text_atomic

LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_CSV = "leaderboard.csv"
WINRATE_MATRIX_MODELS = 100  # leaderboard.json holds the predicted win-rate matrix up to this many models


def _clean(value: Any) -> Any:
    """Recursively turn numpy scalars into Python ones and NaN/inf into None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def result_to_dict(result: RatingResult) -> dict[str, Any]:
    """JSON-ready form of one leaderboard (table rows, win-rate matrix, style coefficients, warnings)."""
    out: dict[str, Any] = {
        "category": result.category,
        "n_battles": result.n_battles,
        "bootstrap_by": result.bootstrap_by,
        "resampling": result.resampling,
        "table": result.table.to_dict(orient="records"),
        "winrate_matrix": _winrate_matrix(result),
        "top_models": top_models(result),
        "groups": result.groups,
        "warnings": list(result.warnings),
    }
    if result.style is not None:
        out["style_coefficients"] = result.style.to_dict(orient="records")
    return _clean(out)


def _winrate_matrix(result: RatingResult) -> dict[str, Any]:
    """The predicted win-rate matrix for up to WINRATE_MATRIX_MODELS models; beyond that it is left out (it is a
    function of the ratings, and 1000 models made it a million numbers per category: a 157 MB leaderboard.json
    that every page of the app parsed)."""
    models = list(result.winrate.index)
    if len(models) > WINRATE_MATRIX_MODELS:
        return {"models": [], "matrix": [], "omitted": (
            f"{len(models)} models (more than {WINRATE_MATRIX_MODELS}): P(row beats column) = "
            "1 / (1 + base ** ((rating_column - rating_row) / scale)) with the options' base and scale")}
    return {"models": models, "matrix": result.winrate.to_numpy().tolist()}


def top_models(result: RatingResult) -> list[str]:
    """Every model at rank 1 (all models whose intervals no other model's interval is above), best first."""
    return leading_models(result.table)


def leading_models(t: pd.DataFrame) -> list[str]:
    """The models at the best rank of a leaderboard table, best first.

    A model no bootstrap round could rate (e.g. all its battles weigh 0) is separated from no model, so it
    shares the best rank, but it is no leader while some model has an interval.
    """
    first = t["rank"] == t["rank"].min()
    if "ci_note" in t and "ci_low" in t:
        unplaced = t["ci_note"].fillna("").astype(str).isin(UNPLACED_NOTES)
        if (first & ~unplaced).any():
            first &= ~unplaced
    return [str(m) for m in t.loc[first, "model"]]


def leader_groups(table: pd.DataFrame | list[dict[str, Any]], leaders: list[str]) -> int:
    """In how many groups of the comparison graph the rank-1 models are (1 when it is connected: no `group`)."""
    rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else table
    found = {r.get("group") for r in rows if str(r.get("model")) in set(leaders)}
    found.discard(None)
    return max(len(found), 1)


def top_words(n_top: int, groups: int = 1) -> str:
    """The words before the names of several rank-1 models: a shared rank, or leaders in `groups` groups of
    models that never met (ranks count within a group)."""
    if groups > 1:
        return (f"top: {n_top} models at rank 1 in {groups} groups that never met (ranks count within a group; "
                "in one group they share rank 1 when their intervals overlap): ")
    return f"top: {n_top} models share rank 1 (not separated by their intervals): "


def _interval(lo: float, hi: float, note: Any) -> str:
    """An interval cell: `lo .. hi`, or why there is none."""
    if math.isfinite(lo) and math.isfinite(hi):
        return f"{lo:.1f} .. {hi:.1f}"
    return "undefined" if isinstance(note, str) else "n/a"


def format_table(result: RatingResult, percentiles: tuple[float, float] = (2.5, 97.5)) -> str:
    """Human-readable leaderboard table, best first."""
    t = result.table
    unit = f" by {result.bootstrap_by}" if result.bootstrap_by else ""
    shown = pd.DataFrame(
        {
            "rank": [("-" if note in UNPLACED_NOTES else str(r)) for r, note in zip(t["rank"], t["ci_note"])],
            "model": t["model"],
            "rating": t["rating"].map("{:.1f}".format),
            f"CI {percentiles[0]:g}-{percentiles[1]:g}%{unit}": [
                _interval(lo, hi, note) for lo, hi, note in zip(t["ci_low"], t["ci_high"], t["ci_note"])
            ],
            "battles": t["battles"],
            "W/T/L": [f"{w}/{ti}/{lo}" for w, ti, lo in zip(t["wins"], t["ties"], t["losses"])],
        }
    )
    if "score" in t:
        shown["score"] = t["score"].map("{:.1f}".format)
        if "score_ci_low" in t:
            shown["score CI"] = [
                f"{lo:.1f} .. {hi:.1f}" for lo, hi in zip(t["score_ci_low"], t["score_ci_high"])
            ]
    if "mean_length" in t:
        shown["mean len"] = t["mean_length"].map("{:.0f}".format)
    shown["flags"] = ["low data" if flag else "" for flag in t["low_data"]]
    top = top_models(result)
    text = shown.to_string(index=False) + "\n\n"
    unbounded = not t["ci_low"].notna().any()  # no bootstrap: the point rating alone cannot separate models
    text += (top_words(len(top), leader_groups(t, top)) if len(top) > 1 else
             "top by point rating (no intervals, so not shown to be separated): " if unbounded else "top: ")
    text += names_shown(top)
    if result.resampling:
        text += f"\nintervals: {result.resampling}"
    if result.style is not None:
        text += "\n\nstyle coefficients (log-odds per SD):\n" + result.style.to_string(
            index=False, float_format="{:.4f}".format
        )
    return text


DRY_RUN_NOTE = "DRY RUN: the verdicts were drawn at random; no judge was called"


def write_leaderboard(battles_path: Path, out_dir: Path, options: RatingOptions,
                      workspace: Path | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Rate a battles file (or run folder); write out_dir/leaderboard.json, leaderboard.csv, head_to_head.csv.
    The files also carry out_dir's serving figures (serving.json) and, with `workspace`, the latest objective
    scores of its bench/ folder (arena.board_columns). A dry run's files say so (`dry_run` in the JSON, a
    `dry_run` column in the CSV): random verdicts must not pass for a judge's."""
    from arena.board_columns import attach, with_extra_columns

    battles = battles_for_rating(battles_path, options)  # streamed pair counts unless Elo / style control
    overall, categories, notes = rate_all(battles, options)
    warnings = list(overall.warnings) + notes
    for name, result in categories.items():
        warnings.extend(f"[{name}] {w}" for w in result.warnings)
    report = _clean(
        {
            "source": str(battles_path),
            "method": options.method,
            "options": options.to_dict(),
            "n_battles": overall.n_battles,
            "overall": result_to_dict(overall),
            "categories": {name: result_to_dict(result) for name, result in categories.items()},
            "warnings": warnings,
            **({"dry_run": True, "note": DRY_RUN_NOTE} if dry_run else {}),
        }
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = attach(report, out_dir, workspace)
    write_text_atomic(out_dir / LEADERBOARD_JSON, json.dumps(report, indent=2, allow_nan=False) + "\n")
    table = overall.table.assign(dry_run=True) if dry_run else overall.table
    write_text_atomic(out_dir / LEADERBOARD_CSV, with_extra_columns(table.to_csv(index=False), report))
    write_head_to_head(head_to_head_table(battles), out_dir / HEAD_TO_HEAD_CSV)
    return report
