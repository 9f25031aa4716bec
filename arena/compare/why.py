"""Why a model's rating changed: per-category contributions, flipped verdicts and the style-controlled change.

All of it is read from the two runs' battles on the questions both runs share, from each model's side
(own score 1 win, 0.5 tie, 0 loss; battle weights as in the rating), against opponents rated in both runs.

- Category contribution: the change in the model's (weighted) win rate that comes from one category,
  points_new(c) / battles_new - points_old(c) / battles_old. The contributions add up to the overall
  change in win rate; with the same battles per category in both runs each one is the category's change
  in win rate times its share of the model's battles.
- Flipped verdict: a (question, opponent, turn) whose outcome for the model (win / tie / loss) differs
  between the runs; each has a link to the battle in the app's battle browser.
- Style-controlled change: both runs refitted with the style-controlled BT of `arena.rating.style`
  (answer length and markdown densities as covariates), differences on the same common scale as the raw ones.
- Per judge (a panel, or several judges in the battles): `arena.compare.judges`, the same contributions by judge.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from arena.compare.cli import APP_URL
from arena.compare.paired import centred_difference, change_intervals
from arena.errors import ArenaError
from arena.rating.counts import encode_models
from arena.rating.style import style_control, style_features

OUTCOME = {1: "win", 0: "tie", -1: "loss"}
MAX_FLIPS = 30  # flipped verdicts listed per model (all are counted)


def _sided(battles: pd.DataFrame, questions: set[str], models: set[str]) -> pd.DataFrame:
    """Battles on the shared questions between shared models, one row per (battle, side)."""
    ids = battles["question_id"].astype(str)
    keep = battles[ids.isin(questions) & battles["model_a"].isin(models) & battles["model_b"].isin(models)
                   & (battles["model_a"] != battles["model_b"])]
    turn = keep["turn"] if "turn" in keep else pd.Series(1.0, index=keep.index)
    cat = keep["category"] if "category" in keep else pd.Series(None, index=keep.index, dtype=object)
    line = keep["line"] if "line" in keep else pd.Series(np.arange(len(keep)), index=keep.index)
    judge = keep["judge"].astype(object).where(keep["judge"].notna(), "") if "judge" in keep else \
        pd.Series("", index=keep.index, dtype=object)
    common = {"question_id": keep["question_id"].astype(str).to_numpy(), "turn": turn.fillna(1).to_numpy(float),
              "category": cat.to_numpy(object), "weight": keep["weight"].to_numpy(float),
              "line": line.to_numpy(np.int64), "judge": judge.astype(str).to_numpy(object)}
    score = keep["score"].to_numpy(float)
    return pd.concat([
        pd.DataFrame({"model": keep["model_a"].to_numpy(object), "opponent": keep["model_b"].to_numpy(object),
                      "score": score, **common}),
        pd.DataFrame({"model": keep["model_b"].to_numpy(object), "opponent": keep["model_a"].to_numpy(object),
                      "score": 1.0 - score, **common}),
    ], ignore_index=True)


def contributions(old: pd.DataFrame, new: pd.DataFrame, model: str, parts: dict[str, Any],
                  key: str = "category") -> list[dict]:
    """Per value of the `key` column (category, judge): battles, win rates, the contribution to the overall
    win-rate change and that part's own rating change with its interval and verdict (`parts`: the per-category
    or per-judge comparisons, {value: {"models": rows}}); largest contribution in the direction of the change
    first."""
    o, n = old[old["model"] == model], new[new["model"] == model]
    w_old, w_new = float(o["weight"].sum()), float(n["weight"].sum())
    if not w_old or not w_new or (o[key].isna().all() and n[key].isna().all()):
        return []
    groups = [(str(v), o[key] == v, n[key] == v) for v in sorted(set(o[key].dropna()) | set(n[key].dropna()), key=str)]
    if o[key].isna().any() or n[key].isna().any():  # battles without one: their own row, so the rows add up
        groups.append((f"(no {key})", o[key].isna(), n[key].isna()))
    rows = []
    for value, in_old, in_new in groups:
        oc, nc = o[in_old], n[in_new]
        pts_old, pts_new = float((oc["score"] * oc["weight"]).sum()), float((nc["score"] * nc["weight"]).sum())
        part = next((r for r in (parts.get(value) or {}).get("models", []) if r["model"] == model), None)
        rows.append({
            key: value, "old_battles": len(oc), "new_battles": len(nc),
            "old_win_rate": pts_old / oc["weight"].sum() if len(oc) else None,
            "new_win_rate": pts_new / nc["weight"].sum() if len(nc) else None,
            "contribution": pts_new / w_new - pts_old / w_old,
            "rating_change": part["change"] if part else None, "verdict": part["verdict"] if part else None,
            "ci_low": part["ci_low"] if part else None, "ci_high": part["ci_high"] if part else None,
        })
    total = sum(r["contribution"] for r in rows)
    rows.sort(key=lambda r: -r["contribution"] if total >= 0 else r["contribution"])
    return rows


def _outcome(score: float) -> int:
    """+1 win, 0 tie, -1 loss from the model's (mean) score."""
    return 1 if score > 0.5 + 1e-9 else -1 if score < 0.5 - 1e-9 else 0


def battle_link(app_url: str, run_id: str, model: str, opponent: str, question: str, position: int) -> str:
    """URL of one battle in the app's battle browser (page, run, both models, question, position among the
    battles of that pair on that question)."""
    query = urlencode({"page": "battles", "run": run_id, "model": model, "opponent": opponent,
                       "question": question, "battle": position})
    return f"{app_url}?{query}"


def _positions(sided: pd.DataFrame) -> pd.Series:
    """1-based position of each battle among the battles of its pair on its question, in file order (what the
    battle browser shows when filtered to the model, the opponent and the question)."""
    pair = sided["model"].where(sided["model"] < sided["opponent"], sided["opponent"]) + "\x1f" + \
        sided["model"].where(sided["model"] >= sided["opponent"], sided["opponent"])
    return sided.groupby([sided["question_id"], pair])["line"].rank(method="dense").astype(int)


def flips(old: pd.DataFrame, new: pd.DataFrame, model: str, runs: tuple[str, str], app_url: str,
          direction: int) -> dict[str, Any]:
    """Shared (question, opponent, turn) of `model` whose outcome changed; those in `direction` (+1 toward
    better, -1 toward worse) listed first, at most MAX_FLIPS, each linked to both runs' battles."""
    sides, judged = [], []
    for frame in (old, new):
        mine = frame[frame["model"] == model].assign(position=_positions(frame).loc[frame["model"] == model])
        sides.append(mine.groupby(["question_id", "opponent", "turn"], sort=True).agg(
            score=("score", "mean"), category=("category", "first"), position=("position", "first")))
        judged.append(mine.groupby(["question_id", "opponent", "turn", "judge"], sort=True).agg(
            score=("score", "mean"), position=("position", "first")))
    both = sides[0].merge(sides[1], left_index=True, right_index=True, suffixes=("_old", "_new"))
    # several judges per (question, opponent, turn): link the battle of the judge whose verdict moved most
    # the way the outcome flipped, not the first judge's (whose verdict may not have changed at all)
    per_judge = judged[0].merge(judged[1], left_index=True, right_index=True, suffixes=("_old", "_new"))
    per_judge = per_judge.assign(moved=per_judge["score_new"] - per_judge["score_old"])
    was, now = both["score_old"].map(_outcome), both["score_new"].map(_outcome)
    changed = both[was != now].assign(step=(now - was)[was != now])
    counts: dict[str, int] = {}
    for a, b in zip(was[was != now], now[was != now]):
        key = f"{OUTCOME[a]} -> {OUTCOME[b]}"
        counts[key] = counts.get(key, 0) + 1
    changed = changed.assign(toward=np.sign(changed["step"]) == direction).sort_values(
        ["toward", "step"], ascending=[False, direction < 0], kind="stable")
    listed = []
    for (qid, opp, turn), row in changed.head(MAX_FLIPS).iterrows():
        try:
            votes = per_judge.loc[(qid, opp, turn)]
        except KeyError:
            votes = per_judge.iloc[:0]
        if len(votes) > 1:
            mover = votes.iloc[int(np.argmax(votes["moved"].to_numpy() * np.sign(row["step"])))]
            row = row.copy()
            row["position_old"], row["position_new"] = mover["position_old"], mover["position_new"]
        listed.append({
            "question_id": qid, "opponent": opp, "turn": int(turn),
            "category": None if pd.isna(row["category_new"]) else str(row["category_new"]),
            "old": OUTCOME[_outcome(row["score_old"])], "new": OUTCOME[_outcome(row["score_new"])],
            "old_link": battle_link(app_url, runs[0], model, opp, qid, int(row["position_old"])),
            "new_link": battle_link(app_url, runs[1], model, opp, qid, int(row["position_new"])),
        })
    return {"shared": len(both), "flipped": int((was != now).sum()),
            "toward": int((np.sign(now - was) == direction).sum()), "by_kind": dict(sorted(counts.items())),
            "listed": listed}


def _style_fit(battles: pd.DataFrame, questions: list[str], rounds: int, seed: int,
               prior_weight: float) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Models, style-controlled strengths, (rounds, M) question-bootstrap draws, and the number of question codes.

    Whole questions are resampled (clusters = the question's index in `questions`): with the same seed and the
    same number of questions, two runs draw the same question multiplicities in every round (paired)."""
    x, names, _ = style_features(battles)
    models, a, b = encode_models(battles)
    clusters = pd.Index(questions).get_indexer(battles["question_id"].astype(str))
    fit = style_control(a, b, x, names, battles["score"].to_numpy(float), battles["weight"].to_numpy(float),
                        len(models), rounds, seed, prior_weight, clusters)
    return models, fit.theta, fit.draws[:, : len(models)], int(clusters.max()) + 1


def style_changes(old: pd.DataFrame, new: pd.DataFrame, questions: list[str], shared: list[str],
                  settings: dict[str, Any], level: float, seed: int) -> dict[str, Any]:
    """Style-controlled rating change per shared model with a paired question-bootstrap interval and verdict at
    each model's `level` (same rounds and common scale as the raw change), or why it is not available."""
    from arena.compare.result import verdict

    frames = []
    wanted = set(questions)
    for battles in (old, new):
        keep = battles[battles["question_id"].astype(str).isin(wanted) & (battles["model_a"] != battles["model_b"])]
        if "len_a" not in keep or keep.empty or keep[["len_a", "len_b"]].isna().any().any():
            return {"available": False, "reason": "not available: the battles do not record answer lengths "
                    "(len_a / len_b) on every shared battle"}
        frames.append(keep.reset_index(drop=True))
    try:
        fits = [_style_fit(f, questions, settings["style_rounds"], seed, settings["prior_weight"]) for f in frames]
    except ArenaError as exc:
        return {"available": False, "reason": f"not available: {exc}"}
    (m_old, t_old, d_old, q_old), (m_new, t_new, d_new, q_new) = fits
    both = [m for m in shared if m in m_old and m in m_new]
    ref = both.index(settings["reference"]) if settings["reference"] in both else None
    idx = (np.array([m_old.index(m) for m in both]), np.array([m_new.index(m) for m in both]))
    diff = centred_difference(t_old, t_new, *idx, settings["factor"], ref)
    rows = {m: {"change": float(d), "ci_low": None, "ci_high": None, "verdict": None} for m, d in zip(both, diff)}
    how = "none: the two runs' draws are not paired"
    if q_old == q_new and len(d_old):  # the same question codes in both runs: the draws are paired
        draws = centred_difference(d_old, d_new, *idx, settings["factor"], ref)
        lows, highs, how = change_intervals(draws, diff, level)
        for k, model in enumerate(both):
            low, high = float(lows[k]), float(highs[k])
            rows[model].update(ci_low=low, ci_high=high, verdict="reference (fixed)" if k == ref else verdict(low, high))
    return {"available": True, "models": rows, "changes": {m: r["change"] for m, r in rows.items()},
            "method": "style-controlled BT (answer length and markdown densities as covariates), refitted on both "
                      + (f"runs; {settings['style_rounds']} paired question-bootstrap rounds (same draws in both "
                         "runs), intervals at each model's level (" + how + ")" if settings["style_rounds"] else
                         "runs; point estimates (--style-rounds 0)") + ", same common scale as the raw change"}


def _win_rate(sided: pd.DataFrame, model: str) -> float | None:
    """Weighted mean own score of a model (None without battles)."""
    mine = sided[sided["model"] == model]
    total = float(mine["weight"].sum())
    return float((mine["score"] * mine["weight"]).sum()) / total if total else None


def explain(old: Any, new: Any, out: dict[str, Any], questions: list[str], settings: dict[str, Any],
            app_url: str = APP_URL) -> dict[str, Any]:
    """{why: per significantly changed model, judges, lengths, style, power} for a comparison `out` of runs old/new."""
    from arena.compare.judges import judge_breakdown
    from arena.compare.lengths import answer_lengths, longer_and_better
    from arena.compare.power import noise_floor

    models = [r["model"] for r in out["models"]]
    qs = set(questions)
    sided_old, sided_new = _sided(old.battles, qs, set(models)), _sided(new.battles, qs, set(models))
    lengths = answer_lengths(old, new, models, qs)
    style = style_changes(old.battles, new.battles, questions, models, settings,
                          out.get("model_level", out["level"]), out.get("seed", 0))
    longer = longer_and_better(lengths, out["better"])
    why: dict[str, Any] = {}
    for row in out["models"]:
        direction = {"better": 1, "worse": -1}.get(row["verdict"])
        if direction is None:
            continue
        model = row["model"]
        why[model] = {
            "verdict": row["verdict"], "change": row["change"],
            "style": (style.get("models") or {}).get(model),
            "win_rate": {"old": _win_rate(sided_old, model), "new": _win_rate(sided_new, model)},
            "categories": contributions(sided_old, sided_new, model, out.get("categories") or {}),
            "flips": flips(sided_old, sided_new, model, (out["old_run"]["run_id"], out["new_run"]["run_id"]),
                           app_url, direction),
            "length": (lengths.get("models") or {}).get(model), "longer_answers": model in longer,
        }
    judges = judge_breakdown(old, new, why, models, questions, settings, out.get("seed", 0),
                             (out.get("judge") or {}).get("new"))
    power = noise_floor(out["models"], len(questions), out.get("model_level", out["level"]),
                        leaderboard=new.leaderboard,
                        leaderboard_questions=int(new.battles["question_id"].astype(str).nunique()))
    return {"why": why, "judges": judges, "lengths": lengths, "style": style, "longer_answers": longer,
            "power": power}
