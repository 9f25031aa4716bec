"""Terminal reports of a finished run: the judge stage (with the dry-run cost estimate) and the leaderboard."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arena.rating.names import names_shown
from arena.rating.leaderboard import UNPLACED_NOTES
from arena.rating.report import leader_groups, top_words


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _truncation(m: dict[str, Any]) -> str:
    """The stats' truncation counts, when there are any (kept judgments, marked, never hidden)."""
    answers, replies = m.get("truncated_answers") or 0, m.get("truncated_judge_replies") or 0
    inputs = m.get("truncated_judge_inputs") or 0
    text = (f"; truncated at max_tokens: {answers} judgments saw a cut answer, {replies} judge replies were cut"
            if answers or replies else "")
    if inputs:
        text += f"; {inputs} reward-model inputs were cut on the left to reward.max_length"
    return text


def _budget_lines(m: dict[str, Any]) -> list[str]:
    """What the budget did for one judge: a limit passed (by how much), a stop, the workspace total."""
    b = m.get("budget")
    if not b:
        return []
    lines = []
    if b.get("passed_by_usd"):
        lines.append(f"budget PASSED by ${b['passed_by_usd']:.4f} (the endpoint reported more tokens than the worst "
                     "case allowed for; see run.json errors)")
    if b.get("stopped_by"):
        from judges.budget import run_limit_left

        left = (run_limit_left(b["max_cost_usd"], b["next_worst_case_usd"], bool(b.get("panel_member")))
                if b["stopped_by"] == "max_cost_usd" else
                "left until judge.max_total_cost_usd is raised: the workspace has spent it, a re-run stops here too")
        lines.append(f"stopped at the budget ({b['stopped_by']}): spent ${b['spent_usd']:.4f} in this run, the next "
                     f"judgment could cost up to ${b['next_worst_case_usd']:.4f}; {m.get('not_done', 0)} judgments "
                     f"{left}")
    if b.get("max_total_cost_usd") is not None:
        lines.append(f"workspace total for this judge ${b['workspace_total_usd']:.4f} of max_total_cost_usd="
                     f"{b['max_total_cost_usd']:g}")
    return lines


def workspace_budget_spent(info: dict[str, Any]) -> bool:
    """Whether a judge of this run stopped at max_total_cost_usd (re-running cannot help until it is raised)."""
    j = info.get("stages", {}).get("judge") or {}
    return any((m.get("budget") or {}).get("stopped_by") == "max_total_cost_usd"
               for m in (j.get("members") or {"": j}).values())


def judge_report(info: dict[str, Any]) -> str:
    """What the judge stage did; in a dry run, what the real judge run would need."""
    j = info.get("stages", {}).get("judge")
    if not j:
        return ""
    lines = ["", f"judge {j['judge']} ({j['mode']}): {j['tasks']} judgments needed, {j['cached']} cached, "
             f"{j['new_calls']} made now" + (" [DRY RUN: verdicts drawn at random, no judge called]"
                                             if j.get("dry_run") else "")]
    for name, m in (j.get("members") or {j["judge"]: j}).items():
        lines.append(f"  {name}: ok {m['ok']}, unparsed {m['unparsed']}, errors {m['errors']}; position consistency "
                     f"{_pct(m.get('position_consistency'))}, first position wins "
                     f"{_pct(m.get('first_position_win_rate'))}, ties {_pct(m.get('tie_rate'))}{_truncation(m)}")
        lines += [f"    {line}" for line in _budget_lines(m)]
        if m.get("usage_bounded"):
            lines.append(f"    {m['usage_bounded']} judgment(s) without a usage report from the endpoint: their tokens and "
                         "cost are upper bounds (a token per byte, replies capped at max_tokens), so the budget is never "
                         "passed but the spend shown is high")
    if j.get("aggregate"):
        lines.append(f"  panel of {len(j['members'])} judges, aggregated by {j['aggregate']}")
    if not j.get("dry_run"):
        lines.append(f"  spent in this run ${j.get('spent_now_usd', 0.0):.4f}; all judgments this run uses: tokens in "
                     f"{j['prompt_tokens']:,}, out {j['completion_tokens']:,}, cost ${j['cost_usd']:.4f}")
    sched = j.get("schedule") or {}
    if sched.get("pairs") == "adaptive":
        lines.append(f"  adaptive schedule: {sched['calls']:,} calls in {sched['rounds']} rounds, {sched['saved_calls']:,} "
                     f"open calls not needed; stopped: {sched['stop_reason']}")
    est = j.get("estimate")
    if est and est.get("no_api_cost"):  # a reward model: no tokens billed
        lines += ["", "the real judge run would need:",
                  f"  judge calls        {est['calls']:,} ({est['cached']:,} already in the cache)",
                  f"  estimated cost     $0 ({est['method']})"]
    elif est:
        cost = f"${est['cost_usd']:.4f}" if est["priced"] else "unknown (set judge.price to get a cost estimate)"
        lines += ["", "the real judge run would need:",
                  f"  judge calls        {est['calls']:,} ({est['cached']:,} already in the cache)",
                  f"  input tokens       ~{est['prompt_tokens']:,}",
                  f"  output tokens      ~{est['completion_tokens']:,}",
                  f"  estimated cost     {cost}",
                  f"  (estimate: {est['method']}; follow-up requests for unparseable replies are not included)"]
        if est.get("max_calls") is not None:
            lines.append(f"  (pairs: adaptive: an upper bound, judge.adaptive.max_calls={est['max_calls']:,} of "
                         f"{est['open_calls']:,} open calls, costed on the longest prompts; the real run may stop "
                         "sooner, when its ranking separates)")
        elif sched.get("pairs") == "adaptive":
            lines.append("  (pairs: adaptive: judge calls is an upper bound, all open calls; the real run stops when "
                         "its ranking separates, or at judge.adaptive.max_calls when set)")
    return "\n".join(lines)


def rating_report(run_path: Path, top: int = 20) -> str:
    """The overall leaderboard of a run, if it has one."""
    path = Path(run_path) / "leaderboard.json"
    if not path.exists():
        single = Path(run_path) / "single_scores.json"
        if single.exists():
            table = json.loads(single.read_text())
            rows = ["", f"single-answer scores (judge {table['judge']}):", f"{'model':<28} {'mean':>6} {'n':>5}"]
            rows += [f"{m['model']:<28} {m['mean']:>6.2f} {m['n']:>5}" for m in table["models"][:top]]
            return "\n".join(rows)
        return ""
    lb = json.loads(path.read_text())
    table = lb["overall"]["table"]
    has_score = any("score" in r for r in table)
    lo, hi = lb["options"].get("percentiles", (2.5, 97.5))
    head = f"{'rank':>4} {'model':<28} {'rating':>7} {f'CI {lo:g}-{hi:g}%':>17} {'battles':>8}" + ("  win% vs base" if has_score else "")
    how = lb["overall"].get("resampling") or f"{lb['options']['bootstrap']} bootstrap rounds"
    rows = ["", f"leaderboard (Bradley-Terry, {how}):", head]
    for r in table[:top]:
        ci = f"{r['ci_low']:.0f}..{r['ci_high']:.0f}" if r.get("ci_low") is not None else (
            "undefined" if r.get("ci_note") else "n/a")
        line = f"{'-' if r.get('ci_note') in UNPLACED_NOTES else r['rank']:>4} {r['model']:<28} {r['rating']:>7.1f} {ci:>17} {r['battles']:>8}"
        if has_score and r.get("score") is not None:
            line += f"  {r['score']:>6.1f}"
        rows.append(line + ("  (low data)" if r.get("low_data") else ""))
    leaders = lb["overall"].get("top_models") or []
    if len(leaders) > 1:
        rows.append(f"  {top_words(len(leaders), leader_groups(table, leaders))}{names_shown(leaders)}")
    overall = lb["overall"].get("warnings", [])
    for w in overall[:5]:
        rows.append(f"  warning: {w}")
    extra = len(lb.get("warnings", [])) - len(overall[:5])
    if extra > 0:
        rows.append(f"  ({extra} more warnings, most per category, in leaderboard.json)")
    return "\n".join(rows)
