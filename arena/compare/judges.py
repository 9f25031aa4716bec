"""Which judge saw a change: per-judge win rates, contributions and rating changes of each significant change.

Where the judges' battles come from:
- a judge panel: each member's own battles, `runs/<run>/judges/<name>/battles.jsonl` (the run's battles.jsonl
  holds their aggregate, majority vote or mean);
- several judges in one battles file (the `judge` column, e.g. imported battles): each judge's battles;
- one judge: no breakdown (the report says so in one line).

For a significantly changed model, on the shared questions against opponents rated in both runs:
- a judge's win rate is the model's weighted mean own score in that judge's battles;
- a judge's contribution is points_new(j) / weight_new(all judges) - points_old(j) / weight_old(all judges),
  as for categories: the contributions add up to the change in the win rate over all judges' votes pooled.
  With several judges in one file the pooled votes are the run's battles; for a panel whose judges all decided
  every battle, the pooled win rate equals that of `aggregate: mean` (a majority vote can differ: both shown);
- a judge's rating change is the paired comparison of that judge's battles alone (same shared questions,
  rounds, level and scale as the overall one, its own seeded stream);
- a judge "sees" the change when its own verdict is the overall one. When some judges see it and others do not
  (no detectable change, or the opposite), the change is flagged: the judges disagree, and when only one judge
  sees it, the change comes from that judge alone. A judge with no rating change of its own for the model (it
  did not judge the model in one run, or its comparison was skipped) is named, but neither sees nor misses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from arena.compare.comparable import question_ids
from arena.compare.runs import RunFacts
from arena.compare.why import _sided, _win_rate, contributions
from arena.errors import ArenaError
from arena.rating.io import load_battles

SEED_OFFSET = 10_007  # per-judge streams: seed + SEED_OFFSET + k (the categories use seed + 1 + k)


def _panel_folders(run: Path) -> dict[str, Path]:
    """Panel members with battles: {name: runs/<run>/judges/<name>} (empty without a panel). A member that
    decided no battle (every call failed: an empty file) is left out."""
    root = run / "judges"
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir())
            if any(f.is_file() and f.stat().st_size for f in (d / "battles.jsonl", d / "battles.jsonl.gz"))}


def judge_battles(run: RunFacts) -> tuple[str, dict[str, pd.DataFrame]]:
    """(source, {judge: its battles}): "panel" (members' files), "battles" (several judges in the battles'
    `judge` column) or "single" (one judge, or none recorded: {} then)."""
    folders = _panel_folders(run.path)
    if folders:
        return "panel", {name: load_battles(folder) for name, folder in folders.items()}
    battles = run.battles
    if "judge" in battles:
        names = sorted({str(j) for j in battles["judge"].dropna()})
        if len(names) > 1:
            column = battles["judge"].astype(str)
            return "battles", {j: battles[column == j] for j in names}
        if names:
            return "single", {names[0]: battles}
    return "single", {}


def _source_text(source: str, names: list[str], run: RunFacts) -> str:
    """Where the per-judge battles were read from, for the report."""
    if source == "panel":
        judge = run.config.get("judge") if isinstance(run.config.get("judge"), dict) else {}
        method = judge.get("aggregate") or "majority"
        return (f"judge panel of {len(names)} ({', '.join(names)}; the run's battles aggregate them by {method}): "
                "each judge's own battles from runs/RUN/judges/NAME/battles.jsonl")
    return f"{len(names)} judges in the battles' judge column ({', '.join(names)})"


def _per_judge_comparisons(per_old: dict[str, pd.DataFrame], per_new: dict[str, pd.DataFrame], names: list[str],
                           questions: list[str], settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """{judge: {"models": rows}} from each judge's own paired comparison (skipped: {"models": [], "skipped"})."""
    from arena.compare.result import _compare_frames

    shared = set(questions)
    out: dict[str, Any] = {}
    for k, name in enumerate(names):
        o, n = per_old[name], per_new[name]
        qs = sorted(question_ids(o) & question_ids(n) & shared)
        try:
            if not qs:
                raise ArenaError("no shared question")
            out[name] = {"models": _compare_frames(o, n, qs, settings, seed + SEED_OFFSET + k)["models"]}
        except ArenaError as exc:  # e.g. a judge that decided too few battles
            out[name] = {"models": [], "skipped": str(exc)}
    return out


def _do_not(names: list[str]) -> str:
    """`b does not` / `b, c do not`."""
    return f"{', '.join(names)} {'do' if len(names) > 1 else 'does'} not"


def _agreement(model_verdict: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[str], str, str | None]:
    """(judges that see the change, those that do not, a sentence on their agreement, the disagreement flag)."""
    opposite = {"better": "worse", "worse": "better"}[model_verdict]
    rated = [r for r in rows if r["verdict"] is not None]  # no comparison of its own (e.g. the model unjudged
    unrated = [r["judge"] for r in rows if r["verdict"] is None]  # in one run): it neither sees nor misses
    see = [r["judge"] for r in rated if r["verdict"] == model_verdict]
    miss = [r["judge"] for r in rated if r["verdict"] != model_verdict]
    against = [r["judge"] for r in rated if r["verdict"] == opposite]
    tail = f"; {', '.join(against)} even {'see' if len(against) > 1 else 'sees'} it {opposite}" if against else ""
    if not rated:
        return see, miss, "no judge has a rating change of its own", None
    tail += f"; no rating change of its own: {', '.join(unrated)}" if unrated else ""
    if not miss:
        who = f"the one judge with its own verdict ({see[0]}) sees" if len(see) == 1 else f"all {len(see)} judges see"
        return see, miss, f"{who} the change ({model_verdict})" + tail, None
    if not see:
        text = "no judge alone shows a significant change; only their votes together do"
        return see, miss, text + tail, ("judges disagree" + tail) if against else None
    if len(see) == 1:
        flag = f"the change comes from one judge only: {see[0]} sees it, {_do_not(miss)} (judges disagree)"
    else:
        flag = f"judges disagree: {', '.join(see)} see the change, {_do_not(miss)}"
    return see, miss, flag + tail, flag + tail


def _no_breakdown(names: list[str], only_old: list[str], only_new: list[str], recorded: list[str]) -> str:
    """The one line said instead of a per-judge table (`recorded`: the judge names the runs record elsewhere,
    from their judgments or config, for battles without a judge column)."""
    if not names and (only_old or only_new):
        return (f"no judge judged both runs (old: {', '.join(only_old) or 'not recorded'}; new: "
                f"{', '.join(only_new) or 'not recorded'}): no per-judge breakdown")
    judge = ", ".join(names or recorded) or "not recorded"
    text = f"one judge ({judge}) judged both runs: no per-judge breakdown"
    if only_old or only_new:
        text += f" (left out, judged one run only: {', '.join(only_old + only_new)})"
    return text


def judge_breakdown(old: RunFacts, new: RunFacts, why: dict[str, Any], models: list[str], questions: list[str],
                    settings: dict[str, Any], seed: int, recorded: list[str] | None = None) -> dict[str, Any]:
    """Fill why[model]["judges"] for every significantly changed model; return what the report says about the
    judges: {available, source, judges, only_old, only_new, note}. `recorded`: the new run's judge names as the
    comparability check read them (used only to name a single judge that the battles do not record)."""
    source_old, per_old = judge_battles(old)
    source_new, per_new = judge_battles(new)
    names = sorted(set(per_old) & set(per_new))
    info: dict[str, Any] = {"available": False, "source": source_new, "judges": names,
                            "only_old": sorted(set(per_old) - set(per_new)),
                            "only_new": sorted(set(per_new) - set(per_old))}
    if len(names) < 2:
        info["note"] = _no_breakdown(names, info["only_old"], info["only_new"], recorded or [])
        return info
    info.update(available=True, note=_source_text(source_new if source_new == source_old else "battles", names, new))
    if info["only_old"] or info["only_new"]:
        info["note"] += (f"; left out, judged one run only: {', '.join(info['only_old'] + info['only_new'])}")
    if not why:
        return info
    qs, shared = set(questions), set(models)
    sided = [pd.concat([_sided(per[j], qs, shared).assign(judge=j) for j in names], ignore_index=True)
             for per in (per_old, per_new)]
    parts = _per_judge_comparisons(per_old, per_new, names, questions, settings, seed)
    skipped = {j: p["skipped"] for j, p in parts.items() if p.get("skipped")}
    for model, w in why.items():
        rows = contributions(sided[0], sided[1], model, parts, key="judge")
        see, miss, agreement, flag = _agreement(w["verdict"], rows)
        w["judges"] = {"pooled": {"old": _win_rate(sided[0], model), "new": _win_rate(sided[1], model)},
                       "rows": rows, "see": see, "miss": miss, "agreement": agreement, "flag": flag,
                       "skipped": skipped}
    return info
