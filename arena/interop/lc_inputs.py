"""Inputs of the length-controlled GLM that come from outside the run: AlpacaEval's published instruction
difficulty (`--lc-difficulty FILE`) and the gamed-baseline annotations (`--lc-gamed FILE`, twice).

Both are joined to the run by instruction TEXT (whitespace normalised), never by row position.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from arena.errors import ArenaError


def norm_text(text: str) -> str:
    """An instruction's join key: its words separated by single spaces."""
    return " ".join(str(text).split())


def read_difficulty(path: Path | str) -> pd.Series:
    """Instruction difficulty by normalised instruction text from a CSV (or JSON records) with the columns
    `instruction` and `instruction_difficulty` (AlpacaEval's instruction_difficulty.csv plus the text)."""
    path = Path(path)
    try:
        frame = pd.read_json(path) if path.suffix.lower() in (".json", ".jsonl") else pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ArenaError(f"{path}: cannot read the instruction-difficulty file ({err})",
                         hint="give a CSV with the columns instruction,instruction_difficulty") from None
    missing = {"instruction", "instruction_difficulty"} - set(frame.columns)
    if missing:
        raise ArenaError(f"{path}: instruction-difficulty file lacks the column(s) {sorted(missing)} "
                         f"(has {list(map(str, frame.columns))})",
                         hint="AlpacaEval's file is indexed by position only: add the instruction text as the "
                              "column 'instruction' so Arena can join by text")
    values = pd.to_numeric(frame["instruction_difficulty"], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(values.to_numpy(float)))
    if len(bad):
        raise ArenaError(f"{path}: row {bad[0] + 2}: field 'instruction_difficulty' is not a number "
                         f"({frame['instruction_difficulty'].iloc[bad[0]]!r})")
    keys = frame["instruction"].astype(str).map(norm_text)
    series = pd.Series(values.to_numpy(float), index=keys.to_numpy())
    clash = series.groupby(level=0).nunique()
    if (clash > 1).any():
        raise ArenaError(f"{path}: the instruction {clash[clash > 1].index[0][:60]!r} has two different "
                         "difficulties", hint="keep one row per instruction")
    return series[~series.index.duplicated()]


@dataclass
class GamedFile:
    """One gamed baseline's annotations: normalised instruction, preference for output_2 in [0, 1], lengths."""

    path: Path
    instruction: np.ndarray
    p: np.ndarray
    len_baseline: np.ndarray
    len_model: np.ndarray


def read_gamed(path: Path | str) -> GamedFile:
    """AlpacaEval annotations of a length-gamed baseline (output_1 the baseline, output_2 the gamed answer)."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArenaError(f"{path}: cannot read the gamed-baseline annotations ({err})",
                         hint="give AlpacaEval's annotations.json of the verbose or concise baseline") from None
    if not isinstance(records, list) or not records:
        raise ArenaError(f"{path}: expected a non-empty JSON list of AlpacaEval annotations")
    rows = []
    for i, rec in enumerate(records, 1):
        for key in ("instruction", "output_1", "output_2"):
            if not isinstance(rec, dict) or not isinstance(rec.get(key), str):
                raise ArenaError(f"{path}: record {i}: field {key!r} is missing or not text",
                                 hint="gamed-baseline files are AlpacaEval annotations (instruction, output_1, "
                                      "output_2, preference)")
        pref = rec.get("preference")
        if pref is None or (isinstance(pref, float) and math.isnan(pref)):
            continue  # AlpacaEval drops annotations without a preference from the fit
        if isinstance(pref, bool) or not isinstance(pref, (int, float)) or not (pref == 0 or 1 <= pref <= 2):
            raise ArenaError(f"{path}: record {i}: field 'preference' must be in [1, 2] (0 a draw), got {pref!r}")
        rows.append((norm_text(rec["instruction"]), (1.5 if pref == 0 else float(pref)) - 1,
                     len(rec["output_1"]), len(rec["output_2"])))
    if not rows:
        raise ArenaError(f"{path}: no annotation with a preference")
    inst, p, lb, lm = zip(*rows)
    return GamedFile(path, np.array(inst, object), np.array(p, float), np.array(lb, float), np.array(lm, float))
