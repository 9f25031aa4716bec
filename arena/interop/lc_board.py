"""The length-controlled win-rate columns of a baseline leaderboard (`arena leaderboard RUN --lc-difficulty FILE`).

Column names follow AlpacaEval (`length_controlled_winrate`, `lc_standard_error`) when the instruction
difficulty comes from a published file; with difficulty fitted on the run they carry the suffix
`_fitted_difficulty`. The `lc_glm` column names the GLM variant (whether gamed-baseline rows were used).
The difficulty file and gamed-baseline files come from the command line or else from the run's config
(`rating.lc_difficulty`, `rating.lc_gamed`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arena.errors import ArenaError
from arena.interop.lc_inputs import read_difficulty, read_gamed
from arena.interop.lc_winrate import lc_win_rates
from arena.interop.runfiles import RunFiles

LC_MIN_MODELS = 5  # below this, difficulty fitted on the run is too thin to trust the LC correction
FITTED_SUFFIX = "_fitted_difficulty"


@dataclass
class LCOptions:
    """Where the LC GLM's outside inputs come from (None / empty: fitted difficulty, no gamed rows)."""

    difficulty: Path | None = None
    gamed: tuple[Path, ...] = ()

    @classmethod
    def for_run(cls, run: RunFiles, difficulty: Path | None = None, gamed: Any = ()) -> LCOptions:
        """Command-line values, else the run config's rating.lc_difficulty / rating.lc_gamed."""
        rating = (run.info.get("config") or {}).get("rating") or {}
        if difficulty is None and rating.get("lc_difficulty"):
            difficulty = Path(rating["lc_difficulty"])
        if not gamed and rating.get("lc_gamed"):
            gamed = [Path(p) for p in rating["lc_gamed"]]
        for p in [difficulty, *gamed]:
            if p is not None and not Path(p).is_file():
                raise ArenaError(f"{p}: no such file (length-controlled win-rate input)",
                                 hint="check --lc-difficulty / --lc-gamed or rating.lc_difficulty / rating.lc_gamed")
        return cls(Path(difficulty) if difficulty else None, tuple(Path(p) for p in gamed))


def _instruction(questions: dict[str, dict[str, Any]], qid: Any, turn: int) -> str:
    """The user turn judged in a battle (falls back to 'qid#turn' when the run has no question text)."""
    turns = (questions.get(str(qid)) or {}).get("turns") or []
    return turns[turn - 1] if 1 <= turn <= len(turns) and isinstance(turns[turn - 1], str) else f"{qid}#{turn}"


def lc_frame(run: RunFiles, battles: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Rows for the GLM: model, instruction text, p (preference for the model), len_model, len_baseline (chars)."""
    raw = run.records("battles.jsonl")
    if len(raw) != len(battles):
        raise ArenaError(f"{run.path / 'battles.jsonl'}: {len(raw)} records but {len(battles)} battles loaded",
                         hint="the LC win rate pairs each battle with its record; re-import the run")
    questions = run.questions()
    rows = []
    for i, (a, b, score) in enumerate(zip(battles["model_a"], battles["model_b"], battles["score"].astype(float))):
        if (a == baseline) == (b == baseline):
            continue  # not against the baseline, or the baseline against itself
        rec = raw[i]
        turn = int(rec.get("turn") or 1)
        ca, cb = rec.get("chars_a"), rec.get("chars_b")
        if ca is None or cb is None:
            ta = run.judged_text(a, rec.get("question_id"), turn)  # the lengths the judge read
            tb = run.judged_text(b, rec.get("question_id"), turn)
            ca, cb = (len(ta), len(tb)) if ta is not None and tb is not None else (np.nan, np.nan)
        base_is_a = a == baseline
        rows.append({"model": b if base_is_a else a, "instruction": _instruction(questions, rec.get("question_id"), turn),
                     "p": 1 - score if base_is_a else score, "len_model": cb if base_is_a else ca,
                     "len_baseline": ca if base_is_a else cb})
    return pd.DataFrame(rows, columns=["model", "instruction", "p", "len_model", "len_baseline"])


def add_lc(board: Any, run: RunFiles, battles: pd.DataFrame, baseline: str, options: LCOptions | None = None) -> None:
    """Add the LC win rate, its standard error and the GLM label to a baseline board (notes say what was used)."""
    options = LCOptions.for_run(run, *((options.difficulty, options.gamed) if options else ()))
    frame = lc_frame(run, battles, baseline)
    missing = int(frame[["len_model", "len_baseline"]].isna().any(axis=1).sum())
    asked = options.difficulty is not None or bool(options.gamed)
    difficulty = read_difficulty(options.difficulty) if options.difficulty else None
    report = lc_win_rates(frame, difficulty, str(options.difficulty or ""), [read_gamed(p) for p in options.gamed])
    if missing and (asked or report.results):  # said when LC was asked for or is shown, not for a board without it
        board.notes.append(f"lc: {missing} battles without both answer texts left out")
    board.notes.extend(report.notes)
    if not report.results:
        return
    suffix = FITTED_SUFFIX if report.fitted_difficulty else ""
    models = board.table["model"]
    board.table["length_controlled_winrate" + suffix] = models.map({m: r.lc_win_rate for m, r in report.results.items()})
    board.table["lc_standard_error" + suffix] = models.map({m: r.lc_standard_error for m, r in report.results.items()})
    board.table["lc_glm"] = models.map({m: report.glm for m in report.results})
    source = f"difficulty from {options.difficulty}" if options.difficulty else "difficulty fitted on this run"
    board.notes.append(f"length_controlled_winrate{suffix}: AlpacaEval 2's GLM ({report.glm}; {source}), predicted "
                       f"at zero length difference; lc_standard_error{suffix}: SEM of the per-instruction "
                       "predictions (AlpacaEval's definition)")
    if report.fitted_difficulty and len(report.results) < LC_MIN_MODELS:
        board.notes.append(f"lc: only {len(report.results)} models against the baseline; with difficulty fitted on "
                           f"this run and fewer than {LC_MIN_MODELS} models a model that is always longer can be "
                           "over-corrected: read it as rough")
