"""The comparison of two runs as one JSON-ready dict: comparability, per-model changes with verdicts, categories."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from arena.compare.comparable import check, question_ids
from arena.compare.paired import PairedResult, change_intervals, paired_bootstrap
from arena.compare.runs import RunFacts
from arena.compare.why import APP_URL, explain
from arena.errors import ArenaError

BETTER, WORSE, SAME = "better", "worse", "no detectable change"
REFERENCE, NO_DATA = "reference (fixed)", "not enough data"
MIN_SHARED_QUESTIONS = 5  # fewer shared questions (overall or in a category): changes without intervals or verdicts
SCHEMA_VERSION = 1  # of compare.json: bump when a field changes meaning
STYLE_ROUNDS = 200  # default rounds of the style-controlled interval (each round refits both runs' style model)
TOL = 1e-6  # rating points: an interval bound this close to 0 is 0 (identical runs give +-1e-12 from the fits)


def _options(run: RunFacts) -> dict[str, Any]:
    """Rating options of a run: leaderboard.json's, else the config's rating section."""
    options = run.leaderboard.get("options")
    if isinstance(options, dict):
        return options
    rating = run.config.get("rating")
    return rating if isinstance(rating, dict) else {}


def _reference(old: RunFacts, new: RunFacts) -> tuple[str | None, float | None]:
    """(model whose change is 0 by definition, its rating) from a shared anchor, rating baseline or judge baseline."""
    o, n = _options(old), _options(new)
    if o.get("anchor") and o.get("anchor") == n.get("anchor"):
        name, value = o["anchor"]
        return str(name), float(value)
    if o.get("baseline") and o.get("baseline") == n.get("baseline"):
        return str(o["baseline"]), None
    judge_old, judge_new = old.config.get("judge") or {}, new.config.get("judge") or {}
    if judge_old.get("mode") == "baseline" and judge_old.get("baseline") and \
            judge_old.get("baseline") == judge_new.get("baseline"):
        return str(judge_old["baseline"]), None
    return None, None


def _ranks(ratings: dict[str, float]) -> dict[str, int]:
    """Ordinal rank by rating, 1 = best (ties share the better rank)."""
    values = sorted(ratings.values(), reverse=True)
    return {m: 1 + sum(v > r for v in values) for m, r in ratings.items()}


def verdict(low: float, high: float) -> str:
    """better when the whole interval of the change is above 0, worse when below, else no detectable change."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NO_DATA
    return BETTER if low > TOL else WORSE if high < -TOL else SAME


def scale_text(reference: str | None) -> str:
    """How the two runs were put on one scale."""
    if reference:
        return f"{reference} fixed (its change is 0 by definition)"
    return "new run shifted so that the median change over the shared models is 0"


def model_level(level: float, n_models: int, adjust: bool) -> float:
    """Level of each model's interval: Bonferroni 1 - (1 - level) / n_models when adjusting, so that the chance of
    flagging ANY unchanged model is at most 1 - level; else `level` for each model alone."""
    return 1.0 - (1.0 - level) / max(n_models, 1) if adjust else level


def _model_rows(res: PairedResult, each_level: float, factor: float, init: float,
                ref_value: float | None, n_questions: int) -> tuple[list[dict[str, Any]], dict, dict, str]:
    """Per shared model: ratings on the common scale, change, interval (at `each_level`, the per-model level),
    ranks and verdict; plus all ratings and how the intervals were made (`change_intervals`). With fewer than
    MIN_SHARED_QUESTIONS shared questions no model gets an interval or a verdict."""
    old_models, new_models = res.old.counts.models, res.new.counts.models
    raw_old = factor * res.old.theta
    if res.reference is not None:
        c_old = raw_old[old_models.index(res.reference)] - ((ref_value if ref_value is not None else init) - init)
    else:
        c_old = float(np.mean([raw_old[old_models.index(m)] for m in res.shared])) if res.shared else 0.0
    old_r = {m: init + raw_old[i] - c_old for i, m in enumerate(old_models)}
    raw_new = factor * res.new.theta
    shift = (raw_new[new_models.index(res.shared[0])] - raw_old[old_models.index(res.shared[0])] - res.diff[0]
             if res.shared else 0.0)
    new_r = {m: init + raw_new[i] - c_old - shift for i, m in enumerate(new_models)}
    ranks_old, ranks_new = _ranks(old_r), _ranks(new_r)
    battles_old, battles_new = res.old.counts.model_battles(), res.new.counts.model_battles()
    enough = np.isfinite(res.draws).sum(axis=0) >= max(1, 0.5 * len(res.draws))  # else no interval
    lows, highs, how = change_intervals(res.draws, res.diff, each_level, enough)
    if n_questions < MIN_SHARED_QUESTIONS:
        enough[:] = False
        how = (f"none: {n_questions} shared question{'' if n_questions == 1 else 's'}, and a verdict needs at least "
               f"{MIN_SHARED_QUESTIONS} (resampling fewer questions cannot show how much the verdicts vary: one "
               "question gives the same draw every round)")
    rows = []
    for k, model in enumerate(res.shared):
        low, high = (lows[k], highs[k]) if enough[k] else (math.nan, math.nan)
        rows.append({
            "model": model, "old_rating": old_r[model], "new_rating": new_r[model], "change": float(res.diff[k]),
            "ci_low": float(low), "ci_high": float(high),
            "verdict": REFERENCE if model == res.reference else verdict(float(low), float(high)),
            "old_rank": ranks_old[model], "new_rank": ranks_new[model],
            "rank_change": ranks_old[model] - ranks_new[model],
            "old_battles": int(battles_old[old_models.index(model)]),
            "new_battles": int(battles_new[new_models.index(model)]),
        })
    rows.sort(key=lambda r: -r["new_rating"])
    return rows, old_r, new_r, how


def _compare_frames(old: pd.DataFrame, new: pd.DataFrame, questions: list[str], settings: dict[str, Any],
                    seed: int) -> dict[str, Any]:
    """Paired bootstrap and per-model rows for one pair of battle tables."""
    res = paired_bootstrap(old, new, questions, settings["rounds"], seed, settings["factor"],
                           settings["reference"], settings["prior_weight"])
    level = model_level(settings["level"], len(res.shared), settings["adjust"])
    rows, old_r, new_r, how = _model_rows(res, level, settings["factor"], settings["init"], settings["ref_value"],
                                          len(questions))
    return {
        "shared_questions": len(questions), "models": rows, "scale": scale_text(res.reference),
        "model_level": level, "intervals": how,
        "entered": sorted((m, new_r[m]) for m in new_r if m not in old_r),
        "left": sorted((m, old_r[m]) for m in old_r if m not in new_r),
    }


def _categories(old: pd.DataFrame, new: pd.DataFrame, shared: set[str], settings: dict[str, Any],
                seed: int) -> dict[str, Any]:
    """The same comparison inside every category both runs judged (each with its own seeded stream)."""
    out: dict[str, Any] = {}
    if "category" not in old or "category" not in new:
        return out
    cats = sorted({c for c in old["category"].dropna()} & {c for c in new["category"].dropna()})
    for i, cat in enumerate(cats):
        o, n = old[old["category"] == cat], new[new["category"] == cat]
        questions = sorted(question_ids(o) & question_ids(n) & shared)
        if not questions:
            continue
        try:
            part = _compare_frames(o, n, questions, settings, seed + 1 + i)
        except ArenaError as exc:  # e.g. only self-battles, or one model, in this category
            out[str(cat)] = {"shared_questions": len(questions), "models": [], "skipped": str(exc)}
            continue
        out[str(cat)] = {key: part[key] for key in ("shared_questions", "model_level", "intervals", "scale", "models")}
    return out


def compare_runs(old: RunFacts, new: RunFacts, level: float = 0.95, rounds: int = 500, seed: int = 0,
                 categories: bool = True, picked: str = "", adjust: bool = True,
                 force: bool = False, app_url: str = APP_URL, style_rounds: int | None = None,
                 why: bool = True) -> dict[str, Any]:
    """Compare two loaded runs: the verdicts when they are comparable (or `force`d and sharing questions),
    else only the reasons why not; with `why`, the explanation of each significant change (arena.compare.why)."""
    verdict_info = check(old, new)
    options = _options(new)
    scale, base = float(options.get("scale", 400.0)), float(options.get("base", 10.0))
    reference, ref_value = _reference(old, new)
    settings = {"rounds": rounds, "style_rounds": min(rounds, STYLE_ROUNDS) if style_rounds is None else style_rounds,
                "level": level, "adjust": adjust, "factor": scale / math.log(base),
                "init": float(options.get("init", 1000.0)), "prior_weight": float(options.get("prior_weight", 0.01)),
                "reference": reference, "ref_value": ref_value}
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "summary": "not comparable",
        "old_run": {"run_id": old.run_id, "path": str(old.path)},
        "new_run": {"run_id": new.run_id, "path": str(new.path)}, "picked": picked,
        **verdict_info, "level": level, "rounds": rounds, "seed": seed,
        "adjust": "bonferroni over the shared models" if adjust else "none (each model at the level alone)",
        "scale": scale_text(None),
        "models": [], "entered": [], "left": [], "categories": {}, "better": [], "worse": [],
    }
    models_old = set(old.battles["model_a"]) | set(old.battles["model_b"])
    models_new = set(new.battles["model_a"]) | set(new.battles["model_b"])
    out["entered"] = [{"model": m} for m in sorted(models_new - models_old)]
    out["left"] = [{"model": m} for m in sorted(models_old - models_new)]
    _unrated(out, new)
    shared = question_ids(old.battles) & question_ids(new.battles)
    if not shared or not (verdict_info["comparable"] or force):
        return out
    questions = sorted(shared)
    out["resampling"] = (f"paired question bootstrap: {rounds} rounds, each resampling the {len(questions)} "
                         "shared questions once and applying the same draw to both runs")
    main = _compare_frames(old.battles, new.battles, questions, settings, seed)
    out["models"], out["model_level"], out["scale"] = main["models"], main["model_level"], main["scale"]
    out["intervals"] = main["intervals"]
    if len(main["models"]) < 3 and main["scale"] == scale_text(None):
        out["notes"].append("fewer than 3 models in both runs and no shared anchor or baseline: a change cannot be "
                            "attributed to one model (their changes are measured against each other)")
    out["entered"] = [{"model": m, "new_rating": r} for m, r in main["entered"]]
    out["left"] = [{"model": m, "old_rating": r} for m, r in main["left"]]
    _unrated(out, new)
    if categories:
        out["categories"] = _categories(old.battles, new.battles, shared, settings, seed)
    out["better"] = [r["model"] for r in out["models"] if r["verdict"] == BETTER]
    out["worse"] = [r["model"] for r in out["models"] if r["verdict"] == WORSE]
    forced = not verdict_info["comparable"]
    out["summary"] = "not comparable (forced)" if forced else summary(out["better"], out["worse"])
    if why:
        out.update(explain(old, new, out, questions, settings, app_url))
    return out


def _unrated(out: dict[str, Any], new: Any) -> None:
    """Models the new run was configured with but has no battles for (their answers or judgments failed) did not
    leave: they move from `left` to `unrated`."""
    cands = new.config.get("candidates") if isinstance(new.config.get("candidates"), list) else []
    configured = {c.get("name") for c in cands if isinstance(c, dict)}
    out["unrated"] = [e for e in out["left"] if e["model"] in configured]
    out["left"] = [e for e in out["left"] if e["model"] not in configured]


def summary(better: list[str], worse: list[str]) -> str:
    """One word for CI: mixed, regression, improvement or no detectable change."""
    if better and worse:
        return "mixed"
    return "regression" if worse else "improvement" if better else SAME
