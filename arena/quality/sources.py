"""Score tables for `arena quality`: from a run folder, a workspace, a leaderboard file or a reference CSV.

Every loader returns a DataFrame with `model`, `score`, `low`, `high` (NaN where there is no interval),
best first, plus a one-line description of where the numbers came from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from arena.errors import DataError
from arena.records import iter_jsonl
from arena.store import Workspace

SCORE_COLUMNS = ("rating", "score", "elo", "arena_score", "win_rate", "mean")
INTERVAL_COLUMNS = (("ci_low", "ci_high"), ("lower", "upper"), ("rating_q025", "rating_q975"), ("low", "high"))
SINGLE_BOOTSTRAP = 1000


@dataclass
class ScoreTable:
    """A benchmark's per-model scores with intervals, and what they are."""

    table: pd.DataFrame
    source: str
    percentiles: tuple[float, float] = (2.5, 97.5)


def _frame(rows: list[dict] | pd.DataFrame, where: Path) -> pd.DataFrame:
    """Normalise a table with a model column, a score column and optional interval columns."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise DataError(f"{where}: no models in the table")
    cols = {c.lower().strip(): c for c in frame.columns}
    model = cols.get("model") or cols.get("name")
    score = next((cols[c] for c in SCORE_COLUMNS if c in cols), None)
    if model is None or score is None:
        raise DataError(f"{where}: need a 'model' column and a score column (one of {', '.join(SCORE_COLUMNS)})",
                        hint=f"columns found: {', '.join(map(str, frame.columns))}")
    out = pd.DataFrame({"model": frame[model].astype(str), "score": pd.to_numeric(frame[score], errors="coerce")})
    bad = out["score"].isna()
    if bad.any():
        raise DataError(f"{where}: column '{score}' is not a number for model(s) "
                        f"{', '.join(out.loc[bad, 'model'].head(5))}")
    pair = next(((cols[a], cols[b]) for a, b in INTERVAL_COLUMNS if a in cols and b in cols), None)
    out["low"] = pd.to_numeric(frame[pair[0]], errors="coerce") if pair else np.nan
    out["high"] = pd.to_numeric(frame[pair[1]], errors="coerce") if pair else np.nan
    dupes = out["model"][out["model"].duplicated()].unique()
    if len(dupes):
        raise DataError(f"{where}: model(s) listed twice: {', '.join(dupes[:5])}")
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot read it as JSON ({exc})") from None


def _leaderboard_json(path: Path, category: str | None) -> ScoreTable:
    """Arena's leaderboard.json (a run's or `arena rate --format json`'s) or a JSON list of records."""
    data = _read_json(path)
    if isinstance(data, list):
        return ScoreTable(_frame(data, path), str(path))
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a leaderboard object or a list of records")
    board = data.get("overall", data)
    if category is not None:
        cats = data.get("categories") or {}
        if category not in cats:
            raise DataError(f"{path}: no category {category!r}", hint=f"categories: {', '.join(sorted(cats)) or 'none'}")
        board = cats[category]
    rows = board.get("table") if isinstance(board, dict) else None
    if not isinstance(rows, list):
        raise DataError(f"{path}: no leaderboard table in it (expected 'overall.table' or 'table')")
    options = data.get("options") or {}
    pct = tuple(options.get("percentiles") or (2.5, 97.5))
    what = board.get("resampling") or "no interval description"
    return ScoreTable(_frame(rows, path), f"{path} ({data.get('method', 'bt')}; {what})", (pct[0], pct[1]))


def _single_scores(path: Path, category: str | None, seed: int) -> ScoreTable:
    """A single-mode run's scores.jsonl: mean grade per model, interval from resampling questions."""
    # damaged lines are reported by the run itself; quality uses the readable ones
    rows = [rec for _, rec in iter_jsonl(path, strict=False)
            if isinstance(rec.get("score"), (int, float)) and rec.get("model")]
    frame = pd.DataFrame(rows)
    if category is not None and not frame.empty:
        frame = frame[frame.get("category") == category]
    if frame.empty:
        raise DataError(f"{path}: no scores" + (f" in category {category!r}" if category else ""))
    # the mean over all of a model's grades, as the leaderboard and FastChat's show_result compute it; the
    # bootstrap resamples questions, each bringing all of its grades (sums and counts per question)
    grouped = frame.groupby(["question_id", "model"])["score"]
    sums = grouped.sum().unstack("model")
    counts = grouped.size().unstack("model").reindex_like(sums)
    s_val, n_val = np.nan_to_num(sums.to_numpy(float)), np.nan_to_num(counts.to_numpy(float))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(s_val), size=(SINGLE_BOOTSTRAP, len(s_val)))
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = s_val[idx].sum(axis=1) / n_val[idx].sum(axis=1)  # (rounds, models)
        means = s_val.sum(axis=0) / n_val.sum(axis=0)
    low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    table = pd.DataFrame({"model": sums.columns.astype(str), "score": means, "low": low, "high": high})
    table = table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return ScoreTable(table, f"{path} (mean 1-10 grade; {SINGLE_BOOTSTRAP} bootstrap rounds resampling "
                             f"{len(s_val)} questions, seed {seed})")


def latest_run(workspace: Path) -> Path:
    """The newest run folder of a workspace that has a leaderboard or single-mode scores."""
    usable = [r.path for r in Workspace(workspace).runs()
              if (r.path / "leaderboard.json").is_file() or (r.path / "scores.jsonl").is_file()]
    if not usable:
        raise DataError(f"{workspace}: no run with a leaderboard.json or scores.jsonl",
                        hint="run `arena run -c CONFIG` first, or name a run folder")
    return usable[-1]


def load_table(path: Path, category: str | None = None, seed: int = 0) -> ScoreTable:
    """A score table from a run folder, a workspace (its latest run), leaderboard.json/.csv or a CSV file."""
    path = Path(path)
    if path.is_dir() and (path / "runs").is_dir() and not (path / "run.json").exists():
        path = latest_run(path)
    if path.is_dir():
        if (path / "leaderboard.json").is_file():
            return _leaderboard_json(path / "leaderboard.json", category)
        if (path / "scores.jsonl").is_file():
            return _single_scores(path / "scores.jsonl", category, seed)
        raise DataError(f"{path}: no leaderboard.json or scores.jsonl in this folder",
                        hint="name a finished run folder, a workspace, or a leaderboard file")
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".json":
        return _leaderboard_json(path, category)
    if path.suffix.lower() == ".jsonl":
        return _single_scores(path, category, seed)
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read it as CSV ({exc})") from None
    return ScoreTable(_frame(frame, path), str(path))
