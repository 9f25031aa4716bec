"""The report's content as plain blocks (headings, paragraphs, lists, tables, chart slots), rendered alike as
Markdown (render.py), self-contained HTML (html.py) and on the app's Compare page (viz/page_compare.py).

Blocks are dicts: {"kind": "h1"|"h2"|"h3"|"p", "text"}, {"kind": "list", "items"}, {"kind": "table", "head", "rows"}
(a cell is text or {"text", "href"}), {"kind": "chart", "chart": "changes" | "contributions" | "judges", "model"}.
All texts are plain (unescaped): each renderer escapes for its own format.
"""

from __future__ import annotations

from typing import Any

from arena.compare.lengths import LONGER_FLAG
from arena.compare.render import HEAD, _header, _interval, _levels, _moves, _rows, _sign, level_text

Block = dict[str, Any]


def _pct(value: float | None) -> str:
    """A share as `45.0%`, or `n/a`."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    """A signed rating change, or `n/a`."""
    return "n/a" if value is None else _sign(value)


def _style_text(row: dict[str, Any] | None) -> str:
    """`+12.3 [-4.0, +30.1], no detectable change` for a style-controlled change, or `not available`."""
    if not row:
        return "not available"
    if row.get("ci_low") is None:
        return _sign(row["change"])
    return f"{_sign(row['change'])} {_interval(row)}, {row['verdict']}"


def _table(head: list[str], rows: list[list[Any]]) -> Block:
    """A table block."""
    return {"kind": "table", "head": head, "rows": rows}


def _contribution_rows(cats: list[dict[str, Any]]) -> list[list[Any]]:
    """Cells of a model's category contributions."""
    return [[c["category"], f"{c['old_battles']} / {c['new_battles']}", _pct(c["old_win_rate"]),
             _pct(c["new_win_rate"]), f"{100 * c['contribution']:+.1f} pts", _points(c["rating_change"]),
             c["verdict"] or "n/a"] for c in cats]


def _judge_rows(rows: list[dict[str, Any]], verdict: str) -> list[list[Any]]:
    """Cells of a model's per-judge breakdown."""
    out = []
    for r in rows:
        old, new = r["old_win_rate"], r["new_win_rate"]
        own = "n/a" if old is None or new is None else f"{100 * (new - old):+.1f} pts"
        out.append([r["judge"], f"{r['old_battles']} / {r['new_battles']}", _pct(old), _pct(new), own,
                    f"{100 * r['contribution']:+.1f} pts", _points(r["rating_change"]),
                    _interval(r) if r["rating_change"] is not None else "n/a", r["verdict"] or "n/a",
                    "n/a" if r["verdict"] is None else "yes" if r["verdict"] == verdict else "no"])
    return out


def judge_blocks(result: dict[str, Any], model: str) -> list[Block]:
    """A changed model's per-judge breakdown: the pooled win rate, a chart and a table (nothing with one judge:
    the Why section says so once)."""
    w = result["why"][model]
    j = w.get("judges")
    if not j:
        return []
    rate = w["win_rate"]
    text = (f"Judges, largest contribution first (contribution = the judge's points / all judges' battles, new minus "
            f"old, in win-rate points; they add up to the change in the win rate over all judges' votes, "
            f"{_pct(j['pooled']['old'])} -> {_pct(j['pooled']['new'])}")
    if (result.get("judges") or {}).get("source") == "panel":
        text += f"; the panel's aggregated battles: {_pct(rate['old'])} -> {_pct(rate['new'])}"
    text += "), beside each judge's own rating change (its battles alone, paired as the overall one):"
    blocks: list[Block] = [{"kind": "p", "text": text}, {"kind": "chart", "chart": "judges", "model": model},
                           _table(["judge", "battles old / new", "win rate old", "win rate new", "win-rate change",
                                   "contribution", "judge's rating change", "interval", "judge's verdict",
                                   "sees the change"], _judge_rows(j["rows"], w["verdict"]))]
    for judge, why_not in (j.get("skipped") or {}).items():
        blocks.append({"kind": "p", "text": f"{judge}: no rating change of its own ({why_not})"})
    return blocks


def _judges_item(w: dict[str, Any]) -> str | None:
    """The list line on the judges' agreement (a FLAG when they disagree), or None without a breakdown."""
    j = w.get("judges")
    if not j:
        return None
    return f"FLAG: {j['flag']}" if j["flag"] else f"judges: {j['agreement']}"


def _flip_rows(listed: list[dict[str, Any]]) -> list[list[Any]]:
    """Cells of a model's flipped verdicts, with links to both battles."""
    return [[f["question_id"], str(f["turn"]), f["opponent"], f["category"] or "", f["old"], f["new"],
             {"text": "old", "href": f["old_link"]}, {"text": "new", "href": f["new_link"]}] for f in listed]


def _length_change(length: dict[str, Any]) -> str:
    """`+34.6%`, or `from empty` when the old answers had no length."""
    return "from empty" if length["change"] is None else f"{100 * length['change']:+.1f}%"


def _length_text(length: dict[str, Any] | None, unit: str) -> str:
    """`mean answer length 520 -> 700 characters (+34.6%)`."""
    if not length:
        return "mean answer length: not available"
    text = f"mean answer length {length['old']:.0f} -> {length['new']:.0f} {unit} ({_length_change(length)})"
    if length.get("old_tokens") is not None:
        text += f"; {length['old_tokens']:.0f} -> {length['new_tokens']:.0f} tokens"
    return text


def why_blocks(result: dict[str, Any]) -> list[Block]:
    """The 'Why' section: per significantly changed model, categories, flipped verdicts, length and style."""
    why = result.get("why") or {}
    blocks: list[Block] = [{"kind": "h2", "text": "Why"}]
    if not why:
        return blocks + [{"kind": "p", "text": "No significant change, so nothing to explain."}]
    unit = (result.get("lengths") or {}).get("unit", "")
    judges = result.get("judges") or {}
    if judges.get("note"):
        blocks.append({"kind": "p", "text": f"Judges: {judges['note']}."})
    for model, w in why.items():
        blocks.append({"kind": "h3", "text": f"{model}: {w['verdict']}, {_sign(w['change'])} points "
                       f"(style-controlled: {_style_text(w.get('style'))})"})
        rate = w["win_rate"]
        flips = w["flips"]
        kinds = ", ".join(f"{k} {v}" for k, v in flips["by_kind"].items()) or "none"
        items = [f"win rate on the shared questions and opponents: {_pct(rate['old'])} -> {_pct(rate['new'])}",
                 f"{flips['flipped']} of {flips['shared']} shared verdicts flipped ({flips['toward']} toward "
                 f"{w['verdict']}): {kinds}", _length_text(w.get("length"), unit)]
        if w.get("longer_answers"):
            items.append(f"FLAG: rated better while its answers grew by more than {LONGER_FLAG:.0%}: part of the "
                         "gain may be the judge's preference for longer answers (compare the style-controlled change)")
        judged = _judges_item(w)
        if judged:
            items.append(judged)
        blocks.append({"kind": "list", "items": items})
        if w["categories"]:
            blocks.append({"kind": "p", "text": "Categories, largest contribution first (contribution = the "
                           "category's points / all battles, new minus old, in win-rate points; they add up to the "
                           "change in win rate), beside each category's own rating change:"})
            blocks.append({"kind": "chart", "chart": "contributions", "model": model})
            blocks.append(_table(["category", "battles old / new", "win rate old", "win rate new", "contribution",
                                  "category rating change", "category verdict"], _contribution_rows(w["categories"])))
        blocks += judge_blocks(result, model)
        if flips["listed"]:
            shown = len(flips["listed"])
            more = f" (first {shown} of {flips['flipped']})" if shown < flips["flipped"] else ""
            blocks.append({"kind": "p", "text": f"Flipped verdicts{more}, links to the battle browser:"})
            blocks.append(_table(["question", "turn", "opponent", "category", "old", "new", "old run", "new run"],
                                 _flip_rows(flips["listed"])))
    return blocks


def style_blocks(result: dict[str, Any]) -> list[Block]:
    """Raw and style-controlled changes and answer lengths of every shared model."""
    lengths, style = result.get("lengths") or {}, result.get("style") or {}
    blocks: list[Block] = [{"kind": "h2", "text": "Answer length and style control"}]
    notes = [f"lengths: {lengths['source']}, mean {lengths['unit']} per answer on the shared questions"
             if lengths.get("available") else f"lengths: {lengths.get('reason', 'not available')}",
             f"style-controlled change: {style['method']}" if style.get("available")
             else f"style-controlled change: {style.get('reason', 'not available')}",
             f"flag: significantly better and mean answer length up more than {LONGER_FLAG:.0%}"]
    blocks.append({"kind": "list", "items": notes})
    rows_len, controlled = lengths.get("models") or {}, style.get("models") or {}
    rows = []
    for r in result["models"]:
        length, ctrl = rows_len.get(r["model"]), controlled.get(r["model"])
        rows.append([r["model"], _sign(r["change"]), _points(ctrl["change"] if ctrl else None),
                     _interval(ctrl) if ctrl else "n/a", (ctrl or {}).get("verdict") or "n/a",
                     f"{length['old']:.0f}" if length else "n/a", f"{length['new']:.0f}" if length else "n/a",
                     _length_change(length) if length else "n/a",
                     "longer answers" if r["model"] in (result.get("longer_answers") or []) else ""])
    return blocks + [_table(["model", "raw change", "style-controlled change", "style-controlled interval",
                             "style-controlled verdict", "length old", "length new",
                             "length change", "flag"], rows)]


def power_blocks(result: dict[str, Any]) -> list[Block]:
    """Which resampling was used, the noise floor and the questions needed per change size."""
    power = result.get("power") or {}
    blocks: list[Block] = [{"kind": "h2", "text": "Noise floor and power"},
                           {"kind": "p", "text": f"Resampling: {result.get('resampling', 'n/a')}."}]
    if not power.get("available"):
        return blocks + [{"kind": "p", "text": f"Power estimate: {power.get('reason', 'not available')}."}]
    blocks.append({"kind": "p", "text": (
        f"From {power['basis']}: standard error {power['se']:.1f} points at {power['questions']} questions; the "
        f"smallest change detected with {power['power']:.0%} power at each model's {level_text(power['model_level'])} "
        f"level is {power['detectable']:.1f} points.")})
    blocks.append(_table(["change to detect (points)", f"questions needed ({power['power']:.0%} power)"],
                         [[f"{n['change']:.0f}", f"{n['questions']:,}"] for n in power["needed"]]))
    return blocks + [{"kind": "p", "text": f"Formula: {power['formula']}."}]


def report_blocks(result: dict[str, Any]) -> list[Block]:
    """The whole report: header, overall and per-category tables, why, length/style, noise floor."""
    title = f"Comparison: {result['new_run']['run_id']} vs {result['old_run']['run_id']}"
    blocks: list[Block] = [{"kind": "h1", "text": title}, {"kind": "list", "items": _header(result)}]
    if not result["models"]:
        return blocks + [{"kind": "list", "items": _moves(result)}]
    blocks.append({"kind": "list", "items": [f"{_levels(result)}; {result.get('resampling', '')}",
                                             f"common scale: {result['scale']}",
                                             "significantly better: " + (", ".join(result["better"]) or "none"),
                                             "significantly worse: " + (", ".join(result["worse"]) or "none")]})
    blocks += [{"kind": "h2", "text": "Overall"}, {"kind": "chart", "chart": "changes", "model": None},
               _table(HEAD, _rows(result["models"]))]
    moves = _moves(result)
    if moves:
        blocks.append({"kind": "list", "items": moves})
    if "why" in result:
        blocks += why_blocks(result) + style_blocks(result) + power_blocks(result)
    for cat, part in result.get("categories", {}).items():
        blocks += [{"kind": "h2", "text": f"Category {cat} ({part['shared_questions']} shared questions)"},
                   _table(HEAD, _rows(part["models"]))]
        if part.get("skipped"):
            blocks.append({"kind": "p", "text": f"skipped: {part['skipped']}"})
    return blocks


def summary_lines(result: dict[str, Any]) -> list[str]:
    """Short terminal lines: one 'why' line per significant change, and the noise floor."""
    lines = []
    unit = (result.get("lengths") or {}).get("unit", "")
    for model, w in (result.get("why") or {}).items():
        top = ", ".join(f"{c['category']} {100 * c['contribution']:+.1f} pts" for c in w["categories"][:3])
        length = w.get("length")
        bits = [f"categories (win-rate contribution) {top}" if top else "no categories",
                f"{w['flips']['flipped']}/{w['flips']['shared']} verdicts flipped ({w['flips']['toward']} toward "
                f"{w['verdict']})",
                f"answer length {_length_change(length)} {unit}" if length else "answer length n/a",
                f"style-controlled {_style_text(w.get('style'))} (raw {_sign(w['change'])})"]
        flag = "; FLAG: longer answers" if w.get("longer_answers") else ""
        lines.append(f"why {model}: " + "; ".join(bits) + flag)
        j = w.get("judges")
        if j:
            per = ", ".join(f"{r['judge']} {100 * r['contribution']:+.1f} pts ({r['verdict'] or 'n/a'})"
                            for r in j["rows"])
            lines.append(f"  judges behind {model} (win-rate contribution, own verdict): {per}; {_judges_item(w)}")
    judges = result.get("judges") or {}
    if result.get("why") and not judges.get("available") and judges.get("note"):
        lines.append(f"judges: {judges['note']}")
    power = result.get("power") or {}
    if power.get("available"):
        need = ", ".join(f"{n['change']:.0f} points: {n['questions']:,} questions" for n in power["needed"])
        lines.append(f"noise floor: smallest detectable change {power['detectable']:.1f} points at "
                     f"{power['questions']} questions ({power['power']:.0%} power); needed for {need}")
    elif power:
        lines.append(f"noise floor: {power.get('reason')}")
    return lines
