"""Are two runs comparable? Same judge, template, mode, judge settings, normalisation and enough shared questions.

A fact missing from one run (an older run.json, battles imported without judgments) is not a difference:
only facts both runs record are compared, and the unknown ones are listed as notes.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from arena.compare.runs import RunFacts

MIN_SHARED = 0.5  # runs sharing fewer than half of either run's questions are not comparable
JUDGE_SETTINGS = ("kind", "verdict", "order", "inconsistent", "strong_weight", "baseline", "panel", "aggregate",
                  "reasoning")
NORMALISATION = ("anchor", "baseline", "scale", "base", "init", "method", "style_control")


def _section(facts: RunFacts, key: str) -> dict[str, Any]:
    """One dict section of the recorded config ({} when absent)."""
    value = facts.config.get(key)
    return value if isinstance(value, dict) else {}


def _judges(facts: RunFacts) -> list[str]:
    """Judge names from the battles' `judge` column, else from the judgments, else the config."""
    column = facts.battles.get("judge")
    if column is not None:
        names = sorted({str(j) for j in column.dropna()})
        if names:
            return names
    if facts.judge_models:
        return facts.judge_models
    model = _section(facts, "judge").get("model")
    return [str(model)] if model else []


def _judges_by_category(old: RunFacts, new: RunFacts) -> str | None:
    """A reason when the same judges split the categories both runs have differently (judge A on x and B on y last
    week, the other way round this week): the per-category changes would then compare two judges."""
    tables = []
    for facts in (old, new):
        b = facts.battles
        if "judge" not in b or "category" not in b:
            return None
        known = b[b["judge"].notna() & b["category"].notna()]
        tables.append({str(c): sorted({str(j) for j in g}) for c, g in known.groupby("category")["judge"]})
    differ = [c for c in sorted(set(tables[0]) & set(tables[1])) if tables[0][c] != tables[1][c]]
    if not differ:
        return None
    shown = "; ".join(f"{c}: {', '.join(tables[0][c])} (old) vs {', '.join(tables[1][c])} (new)" for c in differ[:3])
    more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
    return f"different judge per category: {shown}{more}"


def _normalisation(facts: RunFacts) -> dict[str, Any]:
    """Rating normalisation options: leaderboard.json options, falling back to the config's rating section."""
    options = facts.leaderboard.get("options")
    source = options if isinstance(options, dict) else _section(facts, "rating")
    return {key: source.get(key) for key in NORMALISATION if key in source}


def question_ids(battles: pd.DataFrame) -> set[str]:
    """The question ids a run's battles cover (battles without an id are not shared with anything)."""
    if "question_id" not in battles:
        return set()
    return {str(q) for q in battles["question_id"].dropna() if str(q)}


def _differ(label: str, old: Any, new: Any, reasons: list[str], notes: list[str]) -> None:
    """Append a reason when both values are known and differ, a note when only one is known."""
    unknown = (None, [], {}, "")
    if old in unknown and new in unknown:
        return
    if old in unknown or new in unknown:
        notes.append(f"{label} is recorded in only one run (old: {old!r}, new: {new!r}); not checked")
    elif old != new:
        reasons.append(f"different {label}: {old!r} (old) vs {new!r} (new)")


def _reasoning_changes(old: RunFacts, new: RunFacts) -> list[str]:
    """Candidates whose `reasoning` setting differs between the runs: what the judges read of their answers
    changed with it (a thought block taken off or not), which can move their ratings and lengths. A run from
    before the setting read whole texts ("keep"); against it, only models whose answers read differently under
    the two settings are named."""
    from arena.compare.lengths import reading_differs
    from arena.reasoning import reasoning_mode

    def listed(facts: RunFacts) -> dict[str, bool]:
        cands = facts.config.get("candidates")
        return {str(c["name"]): "reasoning" in c for c in cands if isinstance(c, dict) and c.get("name")} \
            if isinstance(cands, list) else {}

    was, now = listed(old), listed(new)
    notes = []
    for m in sorted(set(was) & set(now)):
        a, b = reasoning_mode(old.config, m), reasoning_mode(new.config, m)
        if a == b:
            continue
        if not (was[m] and now[m]) and not (reading_differs(old, m, (a, b)) or reading_differs(new, m, (a, b))):
            continue  # against a run from before the setting: only where a thought was there to read
        before = " (old, from before the setting: whole texts)" if not was[m] else " (old)"
        after = " (new, from before the setting: whole texts)" if not now[m] else " (new)"
        notes.append(f"{m}: reasoning {a}{before} vs {b}{after}: what the judges read of its answers changed with "
                     "the setting (a thought block taken off or not)")
    return notes


def check(old: RunFacts, new: RunFacts) -> dict[str, Any]:
    """{comparable, reasons, notes, shared_questions, ...}: why two runs can or cannot be compared."""
    reasons: list[str] = []
    notes: list[str] = []
    _differ("judge", _judges(old), _judges(new), reasons, notes)
    if not reasons and (split := _judges_by_category(old, new)):
        reasons.append(split)
    _differ("judge template hash", old.template_hashes, new.template_hashes, reasons, notes)
    old_judge, new_judge = _section(old, "judge"), _section(new, "judge")
    _differ("judge mode", old_judge.get("mode"), new_judge.get("mode"), reasons, notes)
    for key in JUDGE_SETTINGS:
        # a judge from before judge.reasoning existed has auto's cache keys: its verdicts are reused under auto
        default = "auto" if key == "reasoning" and old_judge and new_judge else None
        label = f"judge.{key}"
        if default and (key not in old_judge or key not in new_judge):
            label += " (a run from before the setting counts as 'auto')"
        _differ(label, old_judge.get(key, default), new_judge.get(key, default), reasons, notes)
    _differ("dry-run judge", old.config.get("dry_run"), new.config.get("dry_run"), reasons, notes)
    notes += _reasoning_changes(old, new)
    old_norm, new_norm = _normalisation(old), _normalisation(new)
    for key in NORMALISATION:
        _differ(f"rating normalisation ({key})", old_norm.get(key), new_norm.get(key), reasons, notes)
    for label, run in (("old", old), ("new", new)):
        status = run.info.get("status")
        if status not in (None, "completed"):
            notes.append(f"the {label} run's status is {status!r}: some of its work may be missing")
    q_old, q_new = question_ids(old.battles), question_ids(new.battles)
    shared = q_old & q_new
    if not shared:
        reasons.append("different question sets: no question id is shared")
    else:
        low = min(len(shared) / len(q_old), len(shared) / len(q_new))
        if low < MIN_SHARED:
            reasons.append(f"different question sets: only {len(shared)} questions shared "
                           f"({len(q_old)} old, {len(q_new)} new; at least {MIN_SHARED:.0%} of each needed)")
        elif len(shared) < max(len(q_old), len(q_new)):
            notes.append(f"only the {len(shared)} shared questions are compared "
                         f"({len(q_old) - len(shared)} only in old, {len(q_new) - len(shared)} only in new)")
    return {
        "comparable": not reasons, "reasons": reasons, "notes": notes,
        "shared_questions": len(shared), "old_questions": len(q_old), "new_questions": len(q_new),
        "judge": {"old": _judges(old), "new": _judges(new)},
        "template_hash": {"old": old.template_hashes, "new": new.template_hashes},
    }
