"""Chatbot Arena `clean_battle` logs (JSON list or JSONL) and other battles files in that convention.

Every field of a battle is kept as it is; Arena adds `weight`, `mode` and, from `conv_metadata`, the style
columns, and lists the original field names in `source.fields` so export writes back exactly the original.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arena.errors import DataError
from arena.interop.common import Bundle, FileReport, list_files, need, turn_number, where
from arena.rating.io import WINNER_SCORE, weight_problem
from arena.records import read_records

TOOL = "chatbot-arena"


def _sum(value: Any) -> float | None:
    """A count, or the sum of a dict of counts (header_count_a = {"h1": 1, ...})."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, dict):
        vals = [v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return sum(vals) if vals else None
    return None


def style_from_metadata(meta: Any) -> dict[str, float]:
    """Length (assistant tokens) and markdown counts of both sides from Chatbot Arena's conv_metadata."""
    if not isinstance(meta, dict):
        return {}
    out: dict[str, float] = {}
    for side in ("a", "b"):
        fields = {"len": f"sum_assistant_{side}_tokens", "header": f"header_count_{side}",
                  "list": f"list_count_{side}", "bold": f"bold_count_{side}"}
        for name, key in fields.items():
            value = _sum(meta.get(key))
            if value is not None:
                out[f"{name}_{side}"] = value
    return out


def battle_from_record(rec: dict[str, Any], path: Path, line: int, tool: str, at: str | None = None) -> dict[str, Any]:
    """Validate one battle record and add Arena's columns without touching the original fields. Errors name
    `at` (e.g. "file: record 8" for an element of a JSON list) when given, else file:line."""
    here: Any = at if at is not None else path
    spot = None if at is not None else line
    for name in ("model_a", "model_b"):
        value = need(rec, name, here, spot, str)
        if not value:
            raise DataError(f"{where(here, spot, name)} must be a non-empty string")
    winner = need(rec, "winner", here, spot, str)
    if winner not in WINNER_SCORE:
        raise DataError(f"{where(here, spot, 'winner')} must be one of {', '.join(WINNER_SCORE)}, got {winner!r}")
    turn_number(rec, here, spot)  # kept as written; the run files read it as a number
    problem = weight_problem(rec["weight"]) if "weight" in rec else None
    if problem:
        raise DataError(f"{where(here, spot, 'weight')} {problem}")
    battle = dict(rec)
    battle.setdefault("weight", 1)
    battle.setdefault("mode", "pairwise")
    for key, value in style_from_metadata(rec.get("conv_metadata")).items():
        battle.setdefault(key, value)
    battle["source"] = {"tool": tool, "path": str(path), "line": line, "fields": list(rec)}
    return battle


def read_battles(path: Path, bundle: Bundle, report: FileReport, tool: str = TOOL) -> None:
    """Append every battle of a file; a record in the wrong shape raises DataError (file, line, field)."""
    records = read_records(path)
    is_json = path.name.removesuffix(".gz").endswith(".json")
    wrapped = is_json and len(records) == 1 and isinstance(records[0][1].get("battles"), list)
    if wrapped:
        records = [(i + 1, r) for i, r in enumerate(records[0][1]["battles"])]
    if not records:
        raise DataError(f"{path}: no battles in the file", hint="an empty file, or one without battle records")
    # a JSON list's records are named by number (as `arena rate` does), with the line each starts on unless
    # they share one line (a one-line list) or the lines are not known ({"battles": [...]})
    show_line = not wrapped and len(records) > 1 and records[0][0] != records[-1][0]
    for number, (line, rec) in enumerate(records, start=1):
        report.read += 1
        at = (f"{path}: record {number}" + (f" (line {line})" if show_line else "")) if is_json else None
        if not isinstance(rec, dict):
            raise DataError(f"{at or where(path, line)}: expected a JSON object")
        bundle.battles.append(battle_from_record(rec, path, line, tool, at))
        report.ok += 1


def read_files(paths: list[Path | str], bundle: Bundle, **_: Any) -> Bundle:
    """Import one or more clean_battle files."""
    for path in list_files(paths):
        read_battles(path, bundle, bundle.file_report(path, "battles"))
    if bundle.battles and any("anony" in b for b in bundle.battles):
        bundle.notes.append("the Chatbot Arena leaderboard uses only anonymous battles (anony=true)")
    return bundle


ANCHOR_MODEL, ANCHOR_RATING = "mixtral-8x7b-instruct-v0.1", 1114.0  # Chatbot Arena's scale (2024+)


def board_scale(models: set[str], init: float = 1000.0,
                which: str = "these battles") -> tuple[tuple[str, float] | None, str]:
    """The anchor of a Chatbot Arena board and the note saying what its scale is: FastChat's
    compute_elo_mle_with_tie puts mixtral-8x7b-instruct-v0.1 at 1114 when it is among the models (those of
    the rated battles, `which` in the note), else the ratings keep their mean at 1000."""
    if ANCHOR_MODEL in models:
        return (ANCHOR_MODEL, ANCHOR_RATING), (f"scale: {ANCHOR_MODEL} anchored at {ANCHOR_RATING:g} (in every "
                                               "bootstrap round too), as Chatbot Arena's leaderboard")
    return None, (f"scale: the mean rating of the models is {init:g} ({ANCHOR_MODEL}, which Chatbot Arena anchors "
                  f"at {ANCHOR_RATING:g}, is not in {which})")
