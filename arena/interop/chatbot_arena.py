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


def battle_from_record(rec: dict[str, Any], path: Path, line: int, tool: str) -> dict[str, Any]:
    """Validate one battle record and add Arena's columns without touching the original fields."""
    for name in ("model_a", "model_b"):
        value = need(rec, name, path, line, str)
        if not value:
            raise DataError(f"{where(path, line, name)} must be a non-empty string")
    winner = need(rec, "winner", path, line, str)
    if winner not in WINNER_SCORE:
        raise DataError(f"{where(path, line, 'winner')} must be one of {', '.join(WINNER_SCORE)}, got {winner!r}")
    turn_number(rec, path, line)  # kept as written; the run files read it as a number
    problem = weight_problem(rec["weight"]) if "weight" in rec else None
    if problem:
        raise DataError(f"{where(path, line, 'weight')} {problem}")
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
    if path.name.removesuffix(".gz").endswith(".json") and len(records) == 1 \
            and isinstance(records[0][1].get("battles"), list):
        records = [(i + 1, r) for i, r in enumerate(records[0][1]["battles"])]
    if not records:
        raise DataError(f"{path}: no battles in the file", hint="an empty file, or one without battle records")
    for line, rec in records:
        report.read += 1
        if not isinstance(rec, dict):
            raise DataError(f"{where(path, line)}: expected a JSON object")
        bundle.battles.append(battle_from_record(rec, path, line, tool))
        report.ok += 1


def read_files(paths: list[Path | str], bundle: Bundle, **_: Any) -> Bundle:
    """Import one or more clean_battle files."""
    for path in list_files(paths):
        read_battles(path, bundle, bundle.file_report(path, "battles"))
    if bundle.battles and any("anony" in b for b in bundle.battles):
        bundle.notes.append("the Chatbot Arena leaderboard uses only anonymous battles (anony=true)")
    return bundle
