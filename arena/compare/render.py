"""Text views of a comparison: the terminal table and the Markdown report."""

from __future__ import annotations

import math
import re
from typing import Any

from arena.rating.names import names_shown


def _sign(value: float) -> str:
    """A signed number with one decimal (`+12.3`)."""
    return f"{value:+.1f}"


def _interval(row: dict[str, Any]) -> str:
    """`[low, high]` of a change, or `n/a`."""
    low, high = row["ci_low"], row["ci_high"]
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):  # null in JSON
        return "n/a"
    return f"[{_sign(low)}, {_sign(high)}]"


def _levels(result: dict[str, Any]) -> str:
    """What the intervals mean: the family level, the adjustment and each model's level (with --per-model the
    level is each model's alone: no claim about the whole table)."""
    each = level_text(result.get("model_level", result["level"]))
    if str(result.get("adjust", "")).startswith("none"):
        text = (f"{level_text(result['level'])} level for each model alone (adjustment: none; the chance "
                "that some unchanged model is flagged grows with the number of models)")
    else:
        text = (f"{level_text(result['level'])} level for the whole table (adjustment: {result['adjust']}; "
                f"each model's interval at {each})")
    return text + (f"; intervals: {result['intervals']}" if result.get("intervals") else "")


def level_text(level: float) -> str:
    """A confidence level as a percentage with its complement to two significant digits: 95%, 99.75%,
    99.995% (Bonferroni over 1000 models; one decimal printed that as 100.0%)."""
    miss = float(f"{100.0 * (1.0 - level):.2g}")
    return f"{100.0 - miss:.10g}%"


def _header(result: dict[str, Any]) -> list[str]:
    """The lines naming the two runs, how they were picked, and whether they are comparable."""
    lines = [f"old: {result['old_run']['run_id']}", f"new: {result['new_run']['run_id']}"]
    if result.get("picked"):
        lines.append(f"picked: {result['picked']}")
    if not result["comparable"]:
        lines.append("NOT COMPARABLE: " + "; ".join(result["reasons"]))
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    return lines


def _rows(models: list[dict[str, Any]]) -> list[list[str]]:
    """Table cells of the per-model rows."""
    return [[r["model"], f"{r['old_rating']:.1f}", f"{r['new_rating']:.1f}", _sign(r["change"]), _interval(r),
             f"{r['old_rank']}->{r['new_rank']}", r["verdict"]] for r in models]


HEAD = ["model", "old", "new", "change", "interval", "rank by rating", "verdict"]  # ordinal, not CI-separated


def _table(rows: list[list[str]]) -> list[str]:
    """Fixed-width columns."""
    widths = [max(len(str(c)) for c in col) for col in zip(HEAD, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [HEAD, *rows]]


def _moves(result: dict[str, Any], short: bool = False) -> list[str]:
    """Entered and left lines (short: a long list's first names and how many more)."""
    lines = []
    for key, label in (("entered", "entered"), ("left", "left"),
                       ("unrated", "not rated in the new run (configured, but no battles: its answers or judgments "
                                   "failed)")):
        names = [e["model"] for e in result.get(key, [])]
        if names:
            lines.append(f"{label}: " + (names_shown(names) if short else ", ".join(names)))
    return lines


TERMINAL_ROWS = 40  # rows of the terminal table before it keeps only the significant changes and the top models


def shown_rows(models: list[dict[str, Any]], rows: int) -> list[dict[str, Any]]:
    """The rows the terminal table keeps (`rows` 0: all): every significant change, and the best of the new
    ranking up to `rows` in all; models come best first and keep that order."""
    if rows <= 0 or len(models) <= rows:
        return models
    changed = {id(r) for r in models if r["verdict"] in ("better", "worse")}
    room = max(rows - len(changed), 0)
    top = {id(r) for r in [r for r in models if id(r) not in changed][:room]}
    return [r for r in models if id(r) in changed or id(r) in top]


def terminal(result: dict[str, Any], rows: int = TERMINAL_ROWS) -> str:
    """The comparison as terminal text (overall table, then each category's significant changes); with more
    than `rows` models (0: no limit) the table keeps every significant change and the top of the new ranking."""
    lines = _header(result)
    if result["models"]:
        lines += [_levels(result) + f"; {result.get('resampling', '')}",
                  f"common scale: {result['scale']}", ""]
        kept = shown_rows(result["models"], rows)
        lines += _table(_rows(kept))
        if len(kept) < len(result["models"]):
            changed = sum(r["verdict"] in ("better", "worse") for r in result["models"])
            lines.append(f"({len(kept)} of {len(result['models'])} models shown: the {changed} significant "
                         f"change{'' if changed == 1 else 's'} and the top of the new ranking; every model: "
                         f"--rows 0, report.md or --format json)")
        lines += _moves(result, short=rows > 0)
        for cat, part in result.get("categories", {}).items():
            changed = [r for r in part["models"] if r["verdict"] in ("better", "worse")]
            if changed:
                lines.append(f"[{cat}] ({part['shared_questions']} questions): " + ", ".join(
                    f"{r['model']} {r['verdict']} {_sign(r['change'])} {_interval(r)}" for r in changed))
        lines.append("")
        lines.append("significantly better: " + (", ".join(result["better"]) or "none")
                     + "; significantly worse: " + (", ".join(result["worse"]) or "none"))
        from arena.compare.sections import summary_lines

        lines += summary_lines(result)
    else:
        lines += _moves(result)
    return "\n".join(lines)


_MD_INLINE = re.compile(r"([\\`*_~$|])|\](?=[(\[])")  # emphasis, code, math, table pipes; `](` / `][` of a link
_MD_LEAD = re.compile(r"^([#>+=\[-]|\d+(?=[.)]))")  # what opens a block (heading, quote, list, reference) at the start


def _md_text(text: Any, block: bool = True) -> str:
    """Plain text (model names, categories, question ids inside the report's own words) as Markdown that renders
    exactly as written: `&` and `<` as entities (no HTML, no entity), and backslashes before what would start
    emphasis, code, math, a table cell or a link or image (`](`); with `block` (a paragraph, heading or list item,
    not a table cell) also before what would open a block at the start (heading, quote, list, link reference).
    One line, without leading blanks (no code block)."""
    text = " ".join(str(text).split("\n")).replace("\r", " ").lstrip()
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(0), text)
    if not block:
        return text
    return _MD_LEAD.sub(lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), text)


def _md_cell(cell: Any) -> str:
    """One Markdown table cell: a link or text, pipes escaped, on one line."""
    if isinstance(cell, dict):
        return f"[{_md_cell(cell['text'])}]({cell['href']})"
    return _md_text(cell, block=False)


def _md_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table (pipes in model names escaped)."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    return out


def markdown(result: dict[str, Any]) -> str:
    """The comparison as a Markdown report: the blocks of `arena.compare.sections` (charts only in HTML/app)."""
    from arena.compare.sections import report_blocks

    lines: list[str] = []
    for block in report_blocks(result):
        kind = block["kind"]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + _md_text(block["text"]), ""]
        elif kind == "p":
            lines += [_md_text(block["text"]), ""]
        elif kind == "list":
            lines += [f"- {_md_text(item)}" for item in block["items"]] + [""]
        elif kind == "table":
            lines += _md_table(block["head"], block["rows"]) + [""]
    return "\n".join(lines).rstrip() + "\n"
