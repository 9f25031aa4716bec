"""Precomputed head-to-head tables: battles, points and weight per ordered model pair, overall and per category.

Written beside the leaderboard (head_to_head.csv in a run folder, FILE_head_to_head.csv next to
`arena rate -o FILE`) so the app draws its matrices from a file whose size depends on pairs, not battles.
Points are the row model's weighted score against the column model (ties count half); self-battles are
kept, as the app always showed them, each counted once with half its points (a model against itself is even).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from arena.rating.summary import BattleSummary, summarise

HEAD_TO_HEAD_CSV = "head_to_head.csv"
ALL = ""  # the category label of the overall rows
COLUMNS = ["category", "model", "opponent", "battles", "points", "weight"]


def _long(summary: BattleSummary, combos: pd.DataFrame, label: str) -> pd.DataFrame:
    """Both orientations of every combo, summed per (model, opponent)."""
    names = summary.model_names
    a, b = names[combos["a"].to_numpy()], names[combos["b"].to_numpy()]
    count = combos["count"].to_numpy(np.int64)
    weight = combos["weight"].to_numpy(float) * count
    score = combos["score"].to_numpy(float)
    long = pd.DataFrame({"model": np.r_[a, b], "opponent": np.r_[b, a], "battles": np.r_[count, count],
                         "points": np.r_[weight * score, weight * (1.0 - score)], "weight": np.r_[weight, weight]})
    table = self_battles_once(long.groupby(["model", "opponent"], sort=True).sum().reset_index())
    table.insert(0, "category", label)
    return table


def self_battles_once(sums: pd.DataFrame) -> pd.DataFrame:
    """Per-pair sums made from both orientations of each battle: a self-battle landed twice on its own row, so it
    is counted once, with half its points (a model against itself is even)."""
    own = sums["model"] == sums["opponent"]
    sums.loc[own, ["battles", "points", "weight"]] = sums.loc[own, ["battles", "points", "weight"]] / 2
    sums["battles"] = sums["battles"].astype(np.int64)
    return sums


def head_to_head_table(battles: pd.DataFrame | BattleSummary, categories: bool = True) -> pd.DataFrame:
    """Long table of COLUMNS: the overall rows (category '') then each category's, sorted."""
    summary = battles if isinstance(battles, BattleSummary) else summarise([battles])
    combos = summary.combos
    parts = [_long(summary, combos, ALL)]
    if categories:
        for code in sorted(np.unique(combos["category"].to_numpy()), key=lambda c: str(summary.category_names[c]) if c >= 0 else ""):
            if code >= 0 and str(summary.category_names[code]) != ALL:  # '' is the overall label: overall only
                parts.append(_long(summary, combos[combos["category"] == code], str(summary.category_names[code])))
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def write_head_to_head(table: pd.DataFrame, path: Path) -> Path:
    """Write the table atomically (a sibling temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def beside(output: Path) -> Path:
    """Where `arena rate -o FILE` puts its head-to-head table: FILE's stem + _head_to_head.csv."""
    return output.with_name(f"{output.stem}_head_to_head.csv")


def matrices(table: pd.DataFrame, category: str | None, models: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed share of points (row vs column) and battle counts of one category, in model order."""
    label = ALL if category is None else category
    rows = table[table["category"].fillna(ALL).astype(str) == label]
    indexed = rows.set_index(["model", "opponent"])
    share = (indexed["points"] / indexed["weight"].where(indexed["weight"] > 0)).unstack()
    counts = indexed["battles"].unstack()
    share = share.reindex(index=models, columns=models)
    counts = counts.reindex(index=models, columns=models).fillna(0).astype(int)
    return share, counts


def read_head_to_head(path: Path) -> pd.DataFrame | None:
    """The table written by write_head_to_head, or None when the file is absent."""
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"category": str, "model": str, "opponent": str}, keep_default_na=False)
