"""Leaderboards: ranks, categories, baseline scores, win-rate matrix, degenerate data, style control, files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from test_rating_bt import FACTOR, make_battles

from arena.errors import ArenaError
from arena.rating.report import format_table, result_to_dict, top_models
from arena.rating import (
    RatingOptions,
    rank_by_ci,
    rate_all,
    rate_battles,
    validate_battles,
    write_leaderboard,
)


def frame(rows: list[tuple[str, str, str]], **extra: list) -> pd.DataFrame:
    """Validated battles from (model_a, model_b, winner) tuples."""
    data = pd.DataFrame(rows, columns=["model_a", "model_b", "winner"])
    for key, values in extra.items():
        data[key] = values
    return validate_battles(data)


def test_rank_by_ci_hand_case() -> None:
    low, high = np.array([10, 8, 2, 0]), np.array([14, 12, 9, 1])
    assert rank_by_ci(low, high).tolist() == [1, 1, 2, 4]


def test_table_tallies_matrix_and_lengths() -> None:
    battles = frame(
        [("x", "y", "model_a"), ("y", "x", "tie"), ("x", "z", "model_b"), ("z", "y", "model_a")],
        len_a=[10, 20, 30, 40],
        len_b=[50, 60, 70, 80],
    )
    result = rate_battles(battles, RatingOptions(bootstrap=0))
    t = result.table.set_index("model")
    assert t.loc["x", ["battles", "wins", "ties", "losses"]].tolist() == [3, 1, 1, 1]
    assert t.loc["x", "mean_length"] == pytest.approx((10 + 60 + 30) / 3)
    w = result.winrate
    np.testing.assert_allclose(np.diag(w), 0.5)
    np.testing.assert_allclose(w.to_numpy() + w.to_numpy().T, 1.0)
    diff = t.loc["x", "rating"] - t.loc["y", "rating"]
    assert w.loc["x", "y"] == pytest.approx(1 / (1 + 10 ** (-diff / 400)))
    assert result.table["rating"].is_monotonic_decreasing


def test_category_is_refitted_not_averaged() -> None:
    a = make_battles(300, [0, 100, -50], 1)
    b = make_battles(300, [0, -100, 50], 2)
    a["category"], b["category"] = "math", "writing"
    both = pd.concat([a, b], ignore_index=True)
    options = RatingOptions(bootstrap=50, seed=0)
    overall, per_category, _ = rate_all(both, options)
    alone = rate_battles(a, options).table.set_index("model")
    math_table = per_category["math"].table.set_index("model")
    pd.testing.assert_frame_equal(
        math_table[["rating", "ci_low", "ci_high"]], alone[["rating", "ci_low", "ci_high"]]
    )
    assert not np.allclose(overall.table.set_index("model").loc[alone.index, "rating"], alone["rating"])
    assert set(per_category) == {"math", "writing"}


def test_baseline_score_equals_empirical_win_rate_against_baseline() -> None:
    rows = (
        [("base", "p", "model_b")] * 6
        + [("p", "base", "tie")] * 2
        + [("base", "p", "model_a")] * 2
        + [("q", "base", "model_a")] * 3
        + [("base", "q", "model_a")] * 7
    )
    result = rate_battles(frame(rows), RatingOptions(bootstrap=100, seed=0, baseline="base"))
    t = result.table.set_index("model")
    assert t.loc["p", "score"] == pytest.approx(70.0, abs=1e-5)
    assert t.loc["q", "score"] == pytest.approx(30.0, abs=1e-5)
    assert t.loc["p", "observed_win_rate"] == pytest.approx(70.0)
    assert t.loc["base", "score"] == pytest.approx(50.0) and t.loc["base", "rating"] == pytest.approx(1000.0)
    assert t.loc["p", "score_ci_low"] < 70 < t.loc["p", "score_ci_high"]


def test_missing_anchor_raises_with_known_models() -> None:
    with pytest.raises(ArenaError, match="anchor model 'nope' has no battles"):
        rate_battles(frame([("x", "y", "tie")] * 3), RatingOptions(bootstrap=0, anchor=("nope", 1114.0)))


@pytest.mark.parametrize("rounds", [200, 0])
def test_models_of_groups_that_never_met_are_not_ranked_against_each_other(rounds: int) -> None:
    """Two groups that never played each other: each group is centred on its own, so a rank of one group's
    model below another group's (a 1, c 2 before, from the centring alone) says nothing. Ranks count within
    a group: the leaders of both groups share rank 1, the others are ranked in their group."""
    rows = [("a", "b", "model_a")] * 90 + [("a", "b", "model_b")] * 10
    rows += [("c", "d", "model_a")] * 150 + [("c", "d", "model_b")] * 50
    result = rate_battles(frame(rows), RatingOptions(bootstrap=rounds, seed=0))
    ranks = result.table.set_index("model")["rank"].to_dict()
    assert ranks == {"a": 1, "b": 2, "c": 1, "d": 2}
    assert sorted(top_models(result)) == ["a", "c"]
    text = format_table(result)  # not "share rank 1 (not separated by their intervals)": they never met
    assert "2 models at rank 1 in 2 groups that never met" in text
    assert "not separated by their intervals" not in text and result_to_dict(result)["groups"] == 2
    assert result.table.set_index("model")["group"].to_dict() == {"a": 1, "b": 1, "c": 2, "d": 2}
    assert result.table.set_index("model").loc["a", "rating"] > result.table.set_index("model").loc["c", "rating"]


def test_a_tie_in_one_group_is_a_tie_even_when_another_group_exists() -> None:
    """a and b met 40 times and are not separated; x and y met only in weightless battles: that pair is no
    group of its own, and the top line says a and b share rank 1 (a review found 'rank 1 of their own group')."""
    rows = [("a", "b", "model_a"), ("a", "b", "model_b")] * 20
    battles = frame(rows + [("x", "y", "model_a")] * 3, weight=[1.0] * 40 + [0.0] * 3)
    result = rate_battles(battles, RatingOptions(bootstrap=100, seed=0))
    assert result.groups == 1 and "group" not in result.table
    assert "top: 2 models share rank 1 (not separated by their intervals): a, b" in format_table(result)
    assert not any("disconnected" in w for w in result.warnings)


def test_degenerate_data_warnings() -> None:
    disconnected = frame(
        [("a", "b", "model_a"), ("b", "a", "model_a"), ("c", "d", "tie"), ("d", "c", "model_b")]
    )
    result = rate_battles(disconnected, RatingOptions(bootstrap=20))
    assert any("disconnected" in w for w in result.warnings)
    assert np.isfinite(result.table[["rating", "ci_low", "ci_high"]].to_numpy()).all()

    ties = rate_battles(
        frame([("a", "b", "tie"), ("b", "c", "tie (bothbad)"), ("c", "a", "tie")] * 3),
        RatingOptions(bootstrap=20),
    )
    assert any("every battle is a tie" in w for w in ties.warnings)
    np.testing.assert_allclose(ties.table["rating"], 1000.0, atol=1e-6)

    single = rate_battles(
        frame([("a", "b", "model_a"), ("b", "a", "model_a"), ("c", "a", "tie")]), RatingOptions(bootstrap=20)
    )
    assert any("'c' has only 1 battle" in w for w in single.warnings)

    selfplay = rate_battles(
        frame([("a", "a", "tie"), ("a", "b", "model_a"), ("b", "a", "model_a")]), RatingOptions(bootstrap=0)
    )
    assert any("against itself" in w for w in selfplay.warnings)

    with pytest.raises(ArenaError, match="at least two models|between two different models"):
        rate_battles(frame([("a", "a", "tie")]), RatingOptions(bootstrap=0))


def style_textbook(battles: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    """Per-battle contextual BT written from the definitions: z = th_a - th_b + x . beta."""
    la, lb = battles["len_a"].to_numpy(float), battles["len_b"].to_numpy(float)
    feats = [(la - lb) / (la + lb)]
    for kind in ("header", "bold"):
        da, db = battles[f"{kind}_a"] / la, battles[f"{kind}_b"] / lb
        total = (da + db).to_numpy()
        feats.append(np.where(total > 0, (da - db).to_numpy() / np.where(total > 0, total, 1), 0.0))
    x = np.column_stack(feats)
    x = x / np.sqrt((x**2).mean(axis=0))  # scaled, not centred: the sides of a battle are arbitrary
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    a = battles["model_a"].map(models.index).to_numpy()
    b = battles["model_b"].map(models.index).to_numpy()
    s = battles["score"].to_numpy()
    m = len(models)

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        theta, beta = np.r_[0.0, params[: m - 1]], params[m - 1 :]
        z = theta[a] - theta[b] + x @ beta
        p = 1 / (1 + np.exp(-z))
        g = p - s
        grad_t = np.bincount(a, g, m) - np.bincount(b, g, m)
        return float(-(s * np.log(p) + (1 - s) * np.log(1 - p)).sum()), np.r_[grad_t[1:], x.T @ g]

    res = minimize(loss, np.zeros(m - 1 + x.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-9})
    r = np.r_[0.0, res.x[: m - 1]] * FACTOR
    return dict(zip(models, r - r.mean() + 1000)), res.x[m - 1 :]


def styled_battles(n: int, seed: int) -> pd.DataFrame:
    """Battles where longer, bolder answers win more often, on top of model strength."""
    rng = np.random.default_rng(seed)
    base = make_battles(n, [0, 50, -50, 20], seed, tie_rate=0.0)
    base["len_a"], base["len_b"] = (
        rng.integers(20, 400, n).astype(float),
        rng.integers(20, 400, n).astype(float),
    )
    base["header_a"], base["header_b"] = (
        rng.integers(0, 4, n).astype(float),
        rng.integers(0, 4, n).astype(float),
    )
    base["bold_a"], base["bold_b"] = rng.integers(0, 6, n).astype(float), rng.integers(0, 6, n).astype(float)
    longer = (base["len_a"] - base["len_b"]) / (base["len_a"] + base["len_b"])
    flip = rng.random(n) < 0.35 * np.abs(longer)
    wanted = np.where(longer > 0, 1.0, 0.0)
    base.loc[flip, "score"] = wanted[flip]
    return base


def test_style_control_matches_textbook_contextual_bt() -> None:
    battles = styled_battles(600, 3)
    result = rate_battles(battles, RatingOptions(bootstrap=0, style_control=True))
    ref_ratings, ref_beta = style_textbook(battles)
    t = result.table.set_index("model")
    for model, value in ref_ratings.items():
        assert t.loc[model, "rating"] == pytest.approx(value, abs=0.01)
    coef = result.style.set_index("feature")["coefficient"]
    assert list(coef.index) == ["length", "header_density", "bold_density"]
    np.testing.assert_allclose(coef.to_numpy(), ref_beta, atol=1e-4)
    assert coef["length"] > 0.2


def swap_sides(battles: pd.DataFrame, which: np.ndarray) -> pd.DataFrame:
    """The same battles with model_a and model_b (and their features and the score) exchanged where `which`."""
    out = battles.copy()
    for a, b in (("model_a", "model_b"), ("len_a", "len_b"), ("header_a", "header_b"), ("bold_a", "bold_b")):
        out.loc[which, a], out.loc[which, b] = battles.loc[which, b], battles.loc[which, a]
    out.loc[which, "score"] = 1.0 - battles.loc[which, "score"]
    return out


def test_style_control_does_not_depend_on_which_side_a_model_is_written() -> None:
    """A battle reads the same with its sides swapped. Sorted sides (as the pipeline writes them) and random
    sides must give the same ratings; centred features gave the first-written model a bonus."""
    battles = styled_battles(600, 5)
    # m0 writes longer answers, and sorts first: with sorted sides the length feature is mostly positive
    battles.loc[battles["model_a"] == "m0", "len_a"] *= 3
    battles.loc[battles["model_b"] == "m0", "len_b"] *= 3
    rng = np.random.default_rng(0)
    random_sides = swap_sides(battles, rng.random(len(battles)) < 0.5)
    sorted_sides = swap_sides(battles, (battles["model_a"] > battles["model_b"]).to_numpy())
    assert (sorted_sides["model_a"] < sorted_sides["model_b"]).all()
    fits = [rate_battles(b, RatingOptions(bootstrap=0, style_control=True)) for b in (random_sides, sorted_sides)]
    r1, r2 = (f.table.set_index("model")["rating"] for f in fits)
    np.testing.assert_allclose(r1.sort_index().to_numpy(), r2.sort_index().to_numpy(), atol=1e-3)
    c1, c2 = (f.style.set_index("feature")["coefficient"] for f in fits)
    np.testing.assert_allclose(c1.to_numpy(), c2.to_numpy(), atol=1e-5)


def test_style_control_bootstrap_and_missing_lengths() -> None:
    battles = styled_battles(300, 4)
    result = rate_battles(battles, RatingOptions(bootstrap=30, seed=1, style_control=True))
    assert (result.style["ci_low"] < result.style["coefficient"]).all()
    assert np.isfinite(result.table[["ci_low", "ci_high"]].to_numpy()).all()
    with pytest.raises(ArenaError, match="len_a and len_b"):
        rate_battles(make_battles(50, [0, 1], 1), RatingOptions(bootstrap=0, style_control=True))


def test_write_leaderboard_files(tmp_path: Path) -> None:
    battles = make_battles(400, [0, 100, -50], 8)
    battles["category"] = np.where(np.arange(400) % 2 == 0, "math", "coding")
    path = tmp_path / "battles.jsonl"
    battles[["model_a", "model_b", "winner", "category"]].to_json(path, orient="records", lines=True)
    out = tmp_path / "out"
    report = write_leaderboard(tmp_path, out, RatingOptions(bootstrap=50, anchor=("m0", 1114.0)))
    on_disk = json.loads((out / "leaderboard.json").read_text())
    assert on_disk == report
    assert set(on_disk["categories"]) == {"coding", "math"}
    assert on_disk["options"]["anchor"] == ["m0", 1114.0]
    rows = {r["model"]: r for r in on_disk["overall"]["table"]}
    assert rows["m0"]["rating"] == pytest.approx(1114.0)
    assert len(on_disk["overall"]["winrate_matrix"]["matrix"]) == 3
    csv = pd.read_csv(out / "leaderboard.csv")
    assert list(csv.columns[:5]) == ["model", "rating", "ci_low", "ci_high", "rank"]
    assert math.isclose(csv.set_index("model").loc["m0", "rating"], 1114.0)


def test_leaderboard_json_leaves_out_the_win_rate_matrix_beyond_a_hundred_models(tmp_path: Path) -> None:
    """1000 models made the matrix a million numbers per category (a 157 MB leaderboard.json); it is a function
    of the ratings, so beyond WINRATE_MATRIX_MODELS the file says how to compute it instead."""
    from arena.rating.report import WINRATE_MATRIX_MODELS, result_to_dict

    def ring(n: int) -> pd.DataFrame:
        names = [f"m{k:03d}" for k in range(n)]
        return validate_battles(pd.DataFrame({
            "model_a": names * 2, "model_b": names[1:] + names[:1] + names[2:] + names[:2],
            "winner": ["model_a"] * n + ["model_b"] * n,
        }))

    small = result_to_dict(rate_battles(ring(WINRATE_MATRIX_MODELS), RatingOptions(bootstrap=0)))
    assert len(small["winrate_matrix"]["matrix"]) == WINRATE_MATRIX_MODELS
    big_result = rate_battles(ring(WINRATE_MATRIX_MODELS + 1), RatingOptions(bootstrap=0))
    big = result_to_dict(big_result)
    assert big["winrate_matrix"]["models"] == [] and big["winrate_matrix"]["matrix"] == []
    assert f"{WINRATE_MATRIX_MODELS + 1} models" in big["winrate_matrix"]["omitted"]
    assert len(json.dumps(big)) < len(json.dumps(small)) / 3
    # the formula the note gives reproduces the engine's matrix
    r = big_result.table.set_index("model")["rating"]
    a, b = r.index[0], r.index[-1]
    assert big_result.winrate.loc[a, b] == pytest.approx(1 / (1 + 10 ** ((r[b] - r[a]) / 400)))
