"""The peers' numbers recomputed their way from the raw files, independently of Arena's importers.

Each function follows one peer's published method (read from its source, written anew here): FastChat's
MT-bench show_result (single means, pairwise win rates), arena-hard-auto v0.1 (Bradley-Terry by logistic
regression anchored at the baseline, predicted win rate; 2.5/97.5% bootstrap bounds) and v2.0 (per-model
bootstrap of the score rows: mean as the score, 5/95% bounds). Used by benchmarks/reproduce_peers.py.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

STRONG = 3
# 5-way label -> (candidate's score, rows) in game 1 (baseline shown as A); game 2 swaps the positions
V01_LABELS = {"A>B": (0.0, 1), "A>>B": (0.0, STRONG), "A=B": (0.5, 1), "B>A": (1.0, 1), "B>>A": (1.0, STRONG)}


def jsonl(path: Path) -> list[dict]:
    """Records of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fastchat_single(files: list[Path]) -> pd.DataFrame:
    """FastChat single grading: drop score -1, mean per model overall and per turn."""
    df = pd.concat([pd.DataFrame(jsonl(f))[["model", "score", "turn"]] for f in files])
    df = df[df["score"] != -1]
    out = df.groupby("model")["score"].mean().rename("score").to_frame()
    for t in (1, 2):
        out[f"turn_{t}"] = df[df["turn"] == t].groupby("model")["score"].mean()
    return out


def fastchat_pairwise(files: list[Path]) -> pd.DataFrame:
    """FastChat pairwise: drop rows with an error game; games that disagree (or a tie) are a tie."""
    tally: dict[str, list[int]] = {}
    for f in files:
        for r in jsonl(f):
            if "error" in (r["g1_winner"], r["g2_winner"]):
                continue
            m1, m2 = r["model_1"], r["model_2"]
            for m in (m1, m2):
                tally.setdefault(m, [0, 0, 0])
            if r["g1_winner"] == "tie" or r["g1_winner"] != r["g2_winner"]:
                tally[m1][2] += 1
                tally[m2][2] += 1
            else:
                win, lose = (m1, m2) if r["g1_winner"] == "model_1" else (m2, m1)
                tally[win][0] += 1
                tally[lose][1] += 1
    df = pd.DataFrame(tally, index=["win", "loss", "tie"]).T
    total = df.sum(axis=1)
    df["win_rate"], df["loss_rate"] = df["win"] / total, df["loss"] / total
    df["win_rate_adjusted"] = (df["win"] + 0.5 * df["tie"]) / total
    return df


def arena_hard_rows(files: list[Path], drop_pair: bool = False) -> dict[str, np.ndarray]:
    """Each model's score rows against the baseline (strong verdicts as 3 rows). v0.1 drops a null or
    malformed game alone; v2.0's loader (drop_pair) drops both games of a question when either is null."""
    rows: dict[str, list[float]] = {}
    for f in files:
        for r in jsonl(f):
            games = r["games"]
            labels = [g.get("score") if g else None for g in games]
            if drop_pair and any(lab is None for lab in labels):
                continue
            for g, label in enumerate(labels):
                if label not in V01_LABELS:
                    continue
                s, n = V01_LABELS[label]
                rows.setdefault(r["model"], []).extend([s if g == 0 else 1 - s] * n)
    return {m: np.array(v) for m, v in rows.items()}


def bt_winrate_v01(rows: dict[str, np.ndarray], baseline: str) -> dict[str, float]:
    """arena-hard v0.1's score: BT by unpenalised logistic regression (every battle twice, a tie = one
    win + one loss, features +-ln 10), ratings anchored at the baseline, predicted win rate x100."""
    from sklearn.linear_model import LogisticRegression

    models = sorted(set(rows) - {baseline}) + [baseline]
    xs, ys = [], []
    for k, m in enumerate(models[:-1]):  # battle: model_a = baseline, model_b = m; y = 1 if model_a won
        s = rows[m]
        x = np.zeros((len(s), len(models)))
        x[:, -1], x[:, k] = math.log(10), -math.log(10)
        xs += [x, x]
        ys += [(s <= 0.5).astype(float), (s == 0).astype(float)]
    fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10_000)
    fit.fit(np.vstack(xs), np.concatenate(ys))
    elo = 400 * fit.coef_[0]
    elo = elo - elo[-1]  # baseline at 0 (arena-hard: 1000)
    return {m: 100 / (1 + 10 ** (-elo[k] / 400)) for k, m in enumerate(models[:-1])}


def bootstrap_v01(values: np.ndarray, rounds: int, seed: int) -> tuple[float, float]:
    """2.5% and 97.5% quantiles of the win rate over battle resamples (one model against the baseline,
    where the BT refit equals the resample's mean)."""
    rng = np.random.RandomState(seed)
    means = [100 * values[rng.randint(0, len(values), len(values))].mean() for _ in range(rounds)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def bootstrap_v20(values: np.ndarray, rounds: int, seed: int) -> tuple[float, float, float]:
    """v2.0's show_result: each round samples the model's rows with replacement (pandas sample), takes
    the mean; score = mean of the rounds, bounds = their 5% and 95% quantiles."""
    frame = pd.DataFrame({"s": values})
    means = pd.Series([frame.sample(frac=1.0, replace=True, random_state=seed + r)["s"].mean()
                       for r in range(rounds)]) * 100
    return float(means.mean()), float(means.quantile(0.05)), float(means.quantile(0.95))


def alpaca_published(path: Path) -> pd.DataFrame:
    """AlpacaEval's published leaderboard rows, by model."""
    return pd.read_csv(path).set_index("model")
