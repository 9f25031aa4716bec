"""Noise floor and power: how large a change this comparison can detect, and how many questions a team would need.

The interval of a difference narrows like 1/sqrt(n) in the number of shared questions n. From the widest
interval of this comparison (the model whose judgments changed most: a conservative noise floor),

    SE(n)  = (high - low) / (2 z),            z = z_{1 - a/2}, a = 1 - each model's level
    MDE(n) = (z + z_p) SE(n)                  smallest change detected with power p (0.8)
    n(D)   = n ((z + z_p) SE(n) / D)^2        questions needed to detect a change of D rating points

(a normal approximation of the percentile interval; the bootstrap intervals are not exactly symmetric).
When every paired interval has width 0 (identical verdicts, e.g. two dry runs), SE comes from the new run's
own leaderboard intervals instead, sqrt(2) x their median width / (2 z_L), and the printed formula says so.
"""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import norm

POWER = 0.8
SIZES = (10.0, 25.0, 50.0)  # rating points asked about by default
_SCALING = ("smallest detectable change = (z + z_p) SE; questions needed for a change D: n_needed = "
            "n ((z + z_p) SE / D)^2, with z = z_(1-a/2) at each model's level, z_p = z_(power), "
            "n = shared questions (interval width ~ 1/sqrt(n))")
FORMULA = "SE = (high - low) / (2 z) from the widest paired interval; " + _SCALING
# when every paired interval has width 0: the new run's own leaderboard intervals (see _unpaired)
LEADERBOARD_FORMULA = ("SE = sqrt(2) x (median width of the new run's leaderboard intervals) / (2 z_L), "
                       "z_L = z at the leaderboard's own level{scaled}; " + _SCALING)
SCALED = " (x sqrt(n_leaderboard / n) when the leaderboard has n_leaderboard questions and n are shared)"


def _unpaired(leaderboard: dict[str, Any] | None) -> tuple[float | None, str]:
    """SE of a difference between two independent runs, sqrt(2) x the median SE of the new run's own leaderboard
    intervals: the noise a model whose answers all change would meet (None without such intervals)."""
    table = ((leaderboard or {}).get("overall") or {}).get("table") or []
    options = (leaderboard or {}).get("options") or {}
    low_pct, high_pct = options.get("percentiles") or (2.5, 97.5)
    z = float(norm.ppf(high_pct / 100.0)) if high_pct > low_pct else 0.0
    widths = sorted(r["ci_high"] - r["ci_low"] for r in table
                    if isinstance(r.get("ci_low"), (int, float)) and isinstance(r.get("ci_high"), (int, float))
                    and r["ci_high"] > r["ci_low"])
    if not widths or z <= 0:
        return None, ""
    median = widths[len(widths) // 2]
    return (math.sqrt(2.0) * median / (2.0 * z),
            f"every paired interval has width 0 (identical verdicts on the shared questions), so the new run's own "
            f"leaderboard intervals instead (median width {median:.1f}; x sqrt(2) for two independent runs: the "
            "noise a model whose answers all change would meet)")


def noise_floor(models: list[dict[str, Any]], n_questions: int, model_level: float,
                sizes: tuple[float, ...] = SIZES, power: float = POWER,
                leaderboard: dict[str, Any] | None = None, leaderboard_questions: int | None = None) -> dict[str, Any]:
    """Standard error, smallest detectable change and questions needed per change size, from the interval widths
    (or, when every paired interval has width 0, from the new run's leaderboard intervals, which come from its
    `leaderboard_questions` questions: their SE is scaled to the n_questions shared ones by the square root of
    the ratio)."""
    widths = [(r["ci_high"] - r["ci_low"], r["model"]) for r in models
              if r.get("ci_low") is not None and r.get("ci_high") is not None
              and math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]) and not r["verdict"].startswith("ref")]
    if not widths or n_questions < 1:
        return {"available": False, "reason": "no interval to scale (no shared model with an interval)"}
    width, model = max(widths)
    z, z_p = float(norm.ppf(1.0 - (1.0 - model_level) / 2.0)), float(norm.ppf(power))
    se = width / (2.0 * z)
    basis = f"the widest paired interval ({model}, {width:.1f} points wide)"
    formula = FORMULA
    if se <= 1e-9:
        se, basis = _unpaired(leaderboard)
        if se is None:
            return {"available": False, "reason": "every interval has width 0: the runs' verdicts are identical on "
                    "the shared questions (cached judgments), so this pair shows no noise to scale"}
        scaled = bool(leaderboard_questions and leaderboard_questions != n_questions)
        if scaled:
            se *= math.sqrt(leaderboard_questions / n_questions)
            basis += (f"; its {leaderboard_questions} questions scaled to the {n_questions} shared ones "
                      f"(x sqrt({leaderboard_questions}/{n_questions}))")
        formula = LEADERBOARD_FORMULA.format(scaled=SCALED if scaled else "")
    mde = (z + z_p) * se
    return {
        "available": True, "questions": n_questions, "power": power, "model_level": model_level,
        "basis": basis, "se": se, "detectable": mde,
        "needed": [{"change": d, "questions": math.ceil(n_questions * (mde / d) ** 2)} for d in sizes],
        "formula": formula,
    }
