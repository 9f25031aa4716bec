"""arena-hard-auto's style-controlled score, with its own features and fit for v0.1 and v2.0.

Each battle against the baseline becomes rows (a strong verdict = 3 rows). Style features compare the
candidate's answer with the baseline's on length (tokens) and header, list and bold counts:
- v0.1: (baseline - candidate) / (baseline + candidate + 1) for the length and the raw counts,
  standardised (population SD); fit: logistic BT with +-ln 10 model columns and L2 weight 1 on every
  coefficient (scikit-learn's default), each row counted twice (a tie as one win and one loss); the score
  is the fit on all rows, the interval the 2.5/97.5% bootstrap percentiles;
- v2.0: (candidate - baseline) / (candidate + baseline) for the length and, for markdown, the densities
  (count / length) as (c - b) / (c + b + 1), standardised (sample SD); fit: unpenalised logistic BT on
  the soft scores; the score is the median of the bootstrap win rates, the interval 5/95%.
Arena's own `arena rate --style-control` uses yet another definition (densities without the +1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from arena.errors import ArenaError

FEATURES = ("len", "header", "list", "bold")
_RIDGE_V20 = 1e-6  # keeps a model that won or lost every row finite; negligible otherwise


def style_rows(battles: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Candidate-side rows against the baseline: model, p (candidate score), the style counts of both."""
    a_base = (battles["model_a"] == baseline).to_numpy()
    keep = (a_base | (battles["model_b"] == baseline).to_numpy()) & (battles["model_a"] != battles["model_b"]).to_numpy()
    missing = [f"{k}_{s}" for k in FEATURES for s in "ab" if f"{k}_{s}" not in battles]
    sub = battles[keep]
    if missing or sub[[f"{k}_{s}" for k in FEATURES for s in "ab"]].isna().any().any():
        raise ArenaError("arena-hard style control needs token and markdown counts on every battle against the "
                         "baseline", hint="import the model_answer files (with conv_metadata) with the judgments")
    flip = a_base[keep]
    out = {"model": np.where(flip, sub["model_b"], sub["model_a"]),
           "p": np.where(flip, 1 - sub["score"].to_numpy(float), sub["score"].to_numpy(float))}
    for k in FEATURES:
        a, b = sub[f"{k}_a"].to_numpy(float), sub[f"{k}_b"].to_numpy(float)
        out[f"{k}_cand"], out[f"{k}_base"] = np.where(flip, b, a), np.where(flip, a, b)
    rows = pd.DataFrame(out)
    w = sub["weight"].to_numpy(float)
    if not np.allclose(w, np.round(w)):
        raise ArenaError("arena-hard style control needs whole-number battle weights (a strong verdict = 3)")
    return rows.loc[rows.index.repeat(np.round(w).astype(int))].reset_index(drop=True)


def style_features(rows: pd.DataFrame, version: str) -> np.ndarray:
    """The standardised (n, 4) features of `version`, from the rows' style counts."""
    c = rows[[f"{k}_cand" for k in FEATURES]].to_numpy(float)
    b = rows[[f"{k}_base" for k in FEATURES]].to_numpy(float)
    if version == "v0.1":
        raw = (b - c) / (b + c + 1)
    else:
        raw = np.empty_like(c)
        raw[:, 0] = (c[:, 0] - b[:, 0]) / (c[:, 0] + b[:, 0])
        dc, db = c[:, 1:] / c[:, :1], b[:, 1:] / b[:, :1]
        raw[:, 1:] = (dc - db) / (dc + db + 1)
    sd = raw.std(axis=0, ddof=0 if version == "v0.1" else 1)
    if not np.all(sd > 0) or not np.all(np.isfinite(raw)):
        raise ArenaError("arena-hard style control: a style feature does not vary (or a length is 0) over the "
                         "battles, so it cannot be standardised as arena-hard does")
    return (raw - raw.mean(axis=0)) / sd


def _design(codes: np.ndarray, n_models: int, x: np.ndarray, version: str) -> np.ndarray:
    """Model columns (v0.1: +-ln 10 for baseline/candidate, the baseline last; v2.0: the candidate's
    indicator, the baseline fixed at 0) followed by the style features."""
    if version == "v0.1":
        m = np.zeros((len(codes), n_models + 1))
        m[np.arange(len(codes)), codes] = -np.log(10)
        m[:, -1] = np.log(10)
    else:
        m = np.zeros((len(codes), n_models))
        m[np.arange(len(codes)), codes] = 1.0
    return np.hstack([m, x])


def fit(a: np.ndarray, y: np.ndarray, version: str, start: np.ndarray | None = None) -> np.ndarray:
    """Parameters minimising the version's loss: soft log-loss of y on z = a @ params (v0.1: every row
    twice plus 0.5 |params|^2; v2.0: once, with a negligible ridge)."""
    count, ridge = (2.0, 1.0) if version == "v0.1" else (1.0, _RIDGE_V20)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = a @ params
        value = -count * float(np.sum(y * log_expit(z) + (1 - y) * log_expit(-z))) + 0.5 * ridge * params @ params
        return value, count * a.T @ (expit(z) - y) + ridge * params

    x0 = np.zeros(a.shape[1]) if start is None else start
    res = minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9, "ftol": 1e-15})
    return res.x


def logits(params: np.ndarray, n_models: int, version: str) -> np.ndarray:
    """Each candidate's log-odds of beating the baseline, style terms held at 0."""
    if version == "v0.1":
        return np.log(10) * (params[:n_models] - params[n_models])
    return params[:n_models]


def style_table(battles: pd.DataFrame, baseline: str, rounds: int, seed: int,
                version: str) -> tuple[pd.DataFrame, list[str]]:
    """The style-controlled score table (model, score, ci_low, ci_high) and notes, as arena-hard computes it."""
    if rounds < 1:
        raise ArenaError("arena-hard style control reports bootstrap intervals: it needs --bootstrap 1 or more")
    rows = style_rows(battles, baseline)
    if rows.empty:
        raise ArenaError(f"no battles against the baseline {baseline!r}")
    models, codes = np.unique(rows["model"].to_numpy(str), return_inverse=True)
    x = style_features(rows, version)
    a = _design(codes, len(models), x, version)
    y = rows["p"].to_numpy(float)
    y = 1 - y if version == "v0.1" else y  # v0.1 models the baseline (model_a) winning
    point = fit(a, y, version)
    rng = np.random.default_rng(seed)
    boots, coefs = np.full((rounds, len(models)), np.nan), np.empty((rounds, len(FEATURES)))
    for r in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        params = fit(a[idx], y[idx], version, point)
        present = np.bincount(codes[idx], minlength=len(models)) > 0
        boots[r, present] = logits(params, len(models), version)[present]
        coefs[r] = params[-len(FEATURES):]
    if version == "v0.1":  # percentiles of the ratings, then as win rates (show_result's order)
        lo, hi = 100 * expit(np.nanpercentile(boots, (2.5, 97.5), axis=0))
        score = 100 * expit(logits(point, len(models), version))
    else:  # win rates per round, then their median and 5/95% quantiles
        lo, score, hi = np.nanpercentile(100 * expit(boots), (5.0, 50.0, 95.0), axis=0)
    beta = point[-len(FEATURES):] if version == "v0.1" else np.median(coefs, axis=0)
    table = pd.DataFrame({"model": models, "score": score, "ci_low": lo, "ci_high": hi,
                          "rows": np.bincount(codes, minlength=len(models))})
    table = pd.concat([table, pd.DataFrame([{"model": baseline, "score": 50.0, "ci_low": 50.0, "ci_high": 50.0,
                                             "rows": 0}])], ignore_index=True)
    table = table.sort_values(["score", "model"], ascending=[False, True]).reset_index(drop=True)
    what = ("the fit on all rows, 95% interval" if version == "v0.1"
            else "the median of the bootstrap win rates, 90% interval")
    how = (f"style-controlled as arena-hard-auto {version} computes it (length and markdown): score = {what} "
           f"from {rounds} bootstrap rounds (seed {seed}); the answers' own counts (conv_metadata) are used "
           "where the import had them")
    notes = [how,
             "style coefficients (" + ", ".join(FEATURES) + "): " + ", ".join(f"{v:+.3f}" for v in beta)
             + (" (baseline minus candidate)" if version == "v0.1" else " (candidate minus baseline)")]
    return table, notes
