"""Bradley-Terry fit: against a per-battle textbook fit, hand-worked cases, invariances, anchors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from arena.rating import RatingOptions, rate_battles, validate_battles

FACTOR = 400 / math.log(10)


def make_battles(
    n: int, strengths: list[float], seed: int, tie_rate: float = 0.2, weights: bool = False
) -> pd.DataFrame:
    """Random battles drawn from BT strengths (in rating points)."""
    rng = np.random.default_rng(seed)
    m = len(strengths)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + 10 ** ((np.take(strengths, b) - np.take(strengths, a)) / 400))
    u = rng.random(n)
    win_a = u < p * (1 - tie_rate)
    tie = (~win_a) & (u < p * (1 - tie_rate) + tie_rate)
    winner = np.where(
        win_a, "model_a", np.where(tie, np.where(rng.random(n) < 0.5, "tie", "tie (bothbad)"), "model_b")
    )
    frame = pd.DataFrame({"model_a": [f"m{i}" for i in a], "model_b": [f"m{i}" for i in b], "winner": winner})
    if weights:
        frame["weight"] = rng.choice([1.0, 1.0, 3.0], n)
    return validate_battles(frame)


def textbook_ratings(battles: pd.DataFrame) -> dict[str, float]:
    """Slow reference: maximise the per-battle logistic likelihood directly (mean 1000)."""
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    idx = {m: k for k, m in enumerate(models)}
    rows = [
        (idx[a], idx[b], s, w)
        for a, b, s, w in zip(battles["model_a"], battles["model_b"], battles["score"], battles["weight"])
    ]

    def loss_grad(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.r_[0.0, free]
        loss, grad = 0.0, np.zeros(len(models))
        for a, b, s, w in rows:
            p = 1 / (1 + math.exp(theta[b] - theta[a]))
            loss -= w * (s * math.log(p) + (1 - s) * math.log(1 - p))
            grad[a] -= w * (s - p)
            grad[b] += w * (s - p)
        return loss, grad[1:]

    res = minimize(loss_grad, np.zeros(len(models) - 1), jac=True, method="BFGS", options={"gtol": 1e-9})
    r = np.r_[0.0, res.x] * FACTOR
    r = r - r.mean() + 1000
    return dict(zip(models, r))


def ratings_of(battles: pd.DataFrame, **kwargs: object) -> dict[str, float]:
    """Point ratings from the engine, no bootstrap."""
    options = RatingOptions(bootstrap=0, **kwargs)  # type: ignore[arg-type]
    table = rate_battles(battles, options).table
    return dict(zip(table["model"], table["rating"]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_textbook_per_battle_fit(seed: int) -> None:
    battles = make_battles(300, [0, 80, -50, 200, 30], seed, weights=seed == 2)
    ours, ref = ratings_of(battles), textbook_ratings(battles)
    for model in ref:
        assert ours[model] == pytest.approx(ref[model], abs=0.01)


def test_soft_probabilities_match_textbook() -> None:
    battles = make_battles(200, [0, 100, -100, 50], 5)
    rng = np.random.default_rng(5)
    raw = battles[["model_a", "model_b"]].copy()
    raw["prob_a"] = rng.uniform(0.05, 0.95, len(raw))
    soft = validate_battles(raw)
    ours, ref = ratings_of(soft), textbook_ratings(soft)
    for model in ref:
        assert ours[model] == pytest.approx(ref[model], abs=0.01)


@pytest.mark.parametrize("p", [0.75, 0.9, 0.3])
def test_two_models_rating_difference_is_logit(p: float) -> None:
    wins = int(p * 100)
    frame = pd.DataFrame(
        {
            "model_a": ["x"] * 100,
            "model_b": ["y"] * 100,
            "winner": ["model_a"] * wins + ["model_b"] * (100 - wins),
        }
    )
    r = ratings_of(validate_battles(frame))
    assert r["x"] - r["y"] == pytest.approx(400 * math.log10(p / (1 - p)), abs=1e-4)
    assert (r["x"] + r["y"]) / 2 == pytest.approx(1000, abs=1e-9)


def test_ties_count_half_a_win() -> None:
    # 6 wins, 2 losses, 4 ties -> score 8 of 12 -> p = 2/3
    winners = ["model_a"] * 6 + ["model_b"] * 2 + ["tie", "tie (bothbad)"] * 2
    frame = pd.DataFrame({"model_a": ["x"] * 12, "model_b": ["y"] * 12, "winner": winners})
    r = ratings_of(validate_battles(frame))
    assert r["x"] - r["y"] == pytest.approx(400 * math.log10(2), abs=1e-4)


def test_weight_equals_repeated_battles() -> None:
    battles = make_battles(150, [0, 60, -40], 3)
    weighted = battles.copy()
    weighted["weight"] = np.where(np.arange(len(battles)) % 5 == 0, 3.0, 1.0)
    repeated = pd.concat([battles, battles[weighted["weight"] == 3.0], battles[weighted["weight"] == 3.0]])
    a, b = ratings_of(weighted), ratings_of(repeated.reset_index(drop=True))
    for model in a:
        assert a[model] == pytest.approx(b[model], abs=1e-6)


def test_recovers_known_strengths() -> None:
    truth = [0.0, 100.0, -100.0, 250.0, 50.0, -200.0]
    battles = make_battles(60_000, truth, 11, tie_rate=0.0)
    r = ratings_of(battles)
    shift = 1000 - np.mean(truth)
    for k, t in enumerate(truth):
        assert r[f"m{k}"] == pytest.approx(t + shift, abs=12)


def test_invariant_to_order_and_sides() -> None:
    battles = make_battles(400, [0, 50, 120, -30], 4)
    base = rate_battles(battles, RatingOptions(bootstrap=50, seed=3)).table.set_index("model")
    shuffled = battles.sample(frac=1.0, random_state=1).reset_index(drop=True)
    swapped = battles.copy()
    swapped["model_a"], swapped["model_b"] = battles["model_b"], battles["model_a"]
    swapped["score"] = 1.0 - battles["score"]
    for other in (shuffled, swapped):
        table = rate_battles(other, RatingOptions(bootstrap=50, seed=3)).table.set_index("model")
        for col in ("rating", "ci_low", "ci_high"):
            np.testing.assert_allclose(table.loc[base.index, col], base[col], atol=1e-6)


def test_anchor_shifts_only() -> None:
    battles = make_battles(300, [0, 80, -50], 6)
    free = ratings_of(battles)
    anchored = ratings_of(battles, anchor=("m1", 1114.0))
    assert anchored["m1"] == pytest.approx(1114.0, abs=1e-9)
    for model in free:
        assert anchored[model] - anchored["m0"] == pytest.approx(free[model] - free["m0"], abs=1e-6)


def test_custom_scale_and_base() -> None:
    battles = make_battles(300, [0, 80, -50], 7)
    default, natural = ratings_of(battles), ratings_of(battles, scale=1.0, base=math.e, init=0.0)
    for model in default:
        assert natural[model] * FACTOR == pytest.approx(default[model] - 1000, abs=1e-5)
