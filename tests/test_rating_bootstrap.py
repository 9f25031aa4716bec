"""Bootstrap intervals: reproducibility, exact refits, equivalence with battle resampling, degenerate rounds."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from test_rating_bt import make_battles

from arena.rating import RatingOptions, rate_battles, validate_battles
from arena.rating.bootstrap import bootstrap_bt, resample_counts
from arena.rating.bt import fit_lbfgs
from arena.rating.counts import aggregate
from arena.rating.report import format_table, top_models


def intervals(battles: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    """Leaderboard indexed by model."""
    return rate_battles(battles, RatingOptions(**kwargs)).table.set_index("model")  # type: ignore[arg-type]


def test_same_seed_same_intervals_other_seed_differs() -> None:
    battles = make_battles(500, [0, 40, 90, -20], 1)
    a, b = intervals(battles, bootstrap=100, seed=7), intervals(battles, bootstrap=100, seed=7)
    c = intervals(battles, bootstrap=100, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    assert (a["ci_low"] < a["rating"]).all() and (a["rating"] < a["ci_high"]).all()


def test_batched_refits_equal_independent_fits() -> None:
    battles = make_battles(3000, [0, 40, 90, -20, 150, 10], 2)
    counts = aggregate(battles)
    s, n = counts.pair_stats()
    theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, counts.n_models)
    draws = bootstrap_bt(counts, theta, 60, seed=4, prior_weight=0.01)
    resampled = np.vstack(list(resample_counts(counts, 60, seed=4)))
    for r in range(0, 60, 7):
        s_r, n_r = counts.pair_stats(resampled[r])
        ref = fit_lbfgs(counts.pair_i, counts.pair_j, s_r, n_r, counts.n_models)
        got = draws.theta[r] - draws.theta[r].mean()
        np.testing.assert_allclose(got, ref - ref.mean(), atol=1e-6)


def test_multinomial_matches_battle_resampling() -> None:
    battles = make_battles(800, [0, 60, -60], 3)
    ours = intervals(battles, bootstrap=300, seed=1)
    codes = {"m0": 0, "m1": 1, "m2": 2}
    a, b = battles["model_a"].map(codes).to_numpy(), battles["model_b"].map(codes).to_numpy()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    own = np.where(a < b, battles["score"], 1 - battles["score"])
    pairs = [(0, 1), (0, 2), (1, 2)]
    key = np.array([pairs.index((x, y)) for x, y in zip(lo, hi)])
    rng = np.random.default_rng(0)
    rounds = []
    for _ in range(300):
        idx = rng.integers(0, len(battles), len(battles))
        s, n = np.bincount(key[idx], own[idx], 3), np.bincount(key[idx], minlength=3).astype(float)
        theta = fit_lbfgs(np.array([0, 0, 1]), np.array([1, 2, 2]), s, n, 3)
        rounds.append(theta * 400 / np.log(10))
    ref = np.array(rounds)
    for model, k in codes.items():
        width = ours.loc[model, "ci_high"] - ours.loc[model, "ci_low"]
        ref_width = np.percentile(ref[:, k], 97.5) - np.percentile(ref[:, k], 2.5)
        assert width == pytest.approx(ref_width, rel=0.2)


def test_percentiles_are_configurable() -> None:
    battles = make_battles(500, [0, 40, 90], 5)
    wide = intervals(battles, bootstrap=200, seed=0)
    narrow = intervals(battles, bootstrap=200, seed=0, percentiles=(25.0, 75.0))
    assert ((narrow["ci_high"] - narrow["ci_low"]) < (wide["ci_high"] - wide["ci_low"])).all()


def test_rounds_where_a_model_only_wins_or_is_absent() -> None:
    battles = make_battles(300, [0, 40, 90], 6)
    extra = validate_battles(
        pd.DataFrame(
            {
                "model_a": ["rare", "rare", "m0"],
                "model_b": ["m0", "m1", "rare"],
                "winner": ["model_a", "tie", "model_b"],
            }
        )
    )
    result = rate_battles(
        pd.concat([battles, extra], ignore_index=True), RatingOptions(bootstrap=200, seed=1)
    )
    table = result.table.set_index("model")
    assert np.isfinite(table[["rating", "ci_low", "ci_high"]].to_numpy()).all()
    assert table.loc["rare", "ci_low"] <= table.loc["rare", "rating"] <= table.loc["rare", "ci_high"]
    text = " ".join(result.warnings)
    assert "weak prior" in text and "absent from" in text


def test_model_that_always_wins_gets_finite_ratings_and_warning() -> None:
    battles = make_battles(200, [0, 40, 90], 7)
    champ = validate_battles(
        pd.DataFrame(
            {"model_a": ["champ"] * 5, "model_b": ["m0", "m1", "m2", "m0", "m1"], "winner": ["model_a"] * 5}
        )
    )
    result = rate_battles(
        pd.concat([battles, champ], ignore_index=True), RatingOptions(bootstrap=100, seed=0)
    )
    table = result.table.set_index("model")
    assert np.isfinite(table[["rating", "ci_low", "ci_high"]].to_numpy()).all()
    assert table.index[0] == "champ" or table["rating"].idxmax() == "champ"
    assert any("'champ' won every battle" in w for w in result.warnings)


def test_draws_do_not_depend_on_the_number_of_drawing_threads() -> None:
    battles = make_battles(2000, [0, 40, 90, -20, 150], 3)
    counts = aggregate(battles)
    s, n = counts.pair_stats()
    theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, counts.n_models)
    one = bootstrap_bt(counts, theta, 130, seed=5, prior_weight=0.01, workers=1)  # three batches
    two = bootstrap_bt(counts, theta, 130, seed=5, prior_weight=0.01, workers=2)
    np.testing.assert_array_equal(one.theta, two.theta)
    assert len(np.unique(one.theta[:, 1])) > 100  # the rounds differ: batches were not repeated


def test_many_one_sided_models_give_one_warning_line_per_kind_naming_the_first_and_counting_the_rest() -> None:
    """A thousand-model arena printed one warning per model (4,481 lines on 10k battles); each kind of warning
    is now one line that names a dozen models and counts the others."""
    battles = make_battles(300, [0, 40, 90], 5)
    winners = [f"w{k:02d}" for k in range(30)]
    losers = [f"l{k:02d}" for k in range(25)]
    extra = validate_battles(pd.DataFrame({
        "model_a": winners + losers,
        "model_b": ["m0"] * 30 + ["m1"] * 25,
        "winner": ["model_a"] * 30 + ["model_b"] * 25,
    }))
    result = rate_battles(pd.concat([battles, extra], ignore_index=True), RatingOptions(bootstrap=50, seed=0))
    won = [w for w in result.warnings if "won every battle" in w]
    lost = [w for w in result.warnings if "lost every battle" in w]
    few = [w for w in result.warnings if "battle(s)" in w and "unreliable" in w]
    absent = [w for w in result.warnings if "absent from" in w]
    assert len(won) == len(lost) == len(few) == len(absent) == 1
    assert won[0].startswith("30 models ('w00', 'w01',") and "and 18 more) won every battle" in won[0]
    assert "'w12'" not in won[0] and "lower bounds" in won[0]
    assert lost[0].startswith("25 models ('l00',") and "and 13 more) lost every battle" in lost[0]
    assert "upper bounds" in lost[0]
    assert few[0].startswith("55 models (")
    # every one-battle model misses some of 50 rounds (e^-1 of them on average): counted, the most absent first
    table = result.table.set_index("model")
    n_absent = int(absent[0].split(" models")[0])
    assert n_absent >= 50
    firsts = [int(x) for x in re.findall(r"'[^']+' \((\d+)\)", absent[0])]
    assert len(firsts) == 12 and f"and {n_absent - 12} more" in absent[0]
    assert firsts == sorted(firsts, reverse=True) and firsts[0] >= 10
    assert np.isfinite(table.loc[winners + losers, ["ci_low", "ci_high"]].to_numpy()).all()


def test_a_graph_in_many_pieces_names_the_largest_groups_and_counts_the_rest() -> None:
    battles = make_battles(200, [0, 40, 90], 2)  # m0-m2: the largest group
    pieces = validate_battles(pd.DataFrame({
        "model_a": [f"a{k}" for k in range(8) for _ in range(2)],
        "model_b": [f"b{k}" for k in range(8) for _ in range(2)],
        "winner": ["model_a", "model_b"] * 8,
    }))
    result = rate_battles(pd.concat([battles, pieces], ignore_index=True), RatingOptions(bootstrap=0))
    (line,) = [w for w in result.warnings if "disconnected" in w]
    assert line.startswith("the comparison graph is disconnected (9 groups: m0, m1, m2; a0, b0; a1, b1;")
    assert "a3, b3; and 4 more)" in line and "a4" not in line


def test_rounds_where_a_whole_group_only_wins_get_the_prior_like_a_slow_reference() -> None:
    """A and B play each other, C and D play each other, and A and B beat C and D in all but one battle: the full
    data have a finite maximum, but a round that leaves out C's one win has none, though no single model only
    won or lost. Such rounds are refitted with the prior, as a plain loop that checks every resample does."""
    from arena.rating.bt import normalise
    from arena.rating.diagnostics import mle_exists

    rows = [("A", "B", w) for w in ["model_b", "model_a", "model_a"] * 7]
    rows += [("C", "D", w) for w in ["model_a", "model_b", "model_a"] * 7]
    rows += [(a, b, "model_a") for a in ("A", "B") for b in ("C", "D") for _ in range(5)]
    rows += [("C", "A", "model_a")]
    battles = validate_battles(pd.DataFrame(rows, columns=["model_a", "model_b", "winner"]))
    options = RatingOptions(bootstrap=400, seed=3)
    result = rate_battles(battles, options)
    table = result.table.set_index("model")
    assert any("group that only won or only lost" in w for w in result.warnings)
    rng = np.random.default_rng(11)
    models = sorted(table.index)
    draws = []
    for _ in range(400):  # the textbook loop: resample battles, check the maximum exists, refit
        counts = aggregate(battles.iloc[rng.integers(0, len(battles), len(battles))].reset_index(drop=True))
        s, n = counts.pair_stats()
        alpha = 0.0 if mle_exists(counts.n_models, counts.pair_i, counts.pair_j, s, n) else options.prior_weight
        theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, counts.n_models, alpha)
        ratings = dict(zip(counts.models, normalise(theta, list(counts.models), options.factor, options.init)))
        draws.append([ratings[m] for m in models])
    low, high = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    for k, model in enumerate(models):  # Monte Carlo noise of a 2.5% percentile of 400 rounds: tens of points
        assert table.loc[model, "ci_low"] == pytest.approx(low[k], abs=80), model
        assert table.loc[model, "ci_high"] == pytest.approx(high[k], abs=80), model


@pytest.mark.parametrize("how", ["anchor", "baseline"])
def test_rounds_without_the_reference_model_are_named_as_such(how: str) -> None:
    battles = make_battles(400, [0, 40, 90], 5)
    rare = validate_battles(pd.DataFrame({"model_a": ["rare", "m0"], "model_b": ["m1", "rare"],
                                          "winner": ["model_a", "model_a"]}))
    both = pd.concat([battles, rare], ignore_index=True)
    options = RatingOptions(bootstrap=200, seed=2, **({"anchor": ("rare", 1200.0)} if how == "anchor" else
                                                       {"baseline": "rare"}))
    text = " ".join(rate_battles(both, options).warnings)
    assert re.search(r"the scale's reference model 'rare' is absent from \d+ of 200 bootstrap rounds", text)
    assert "are absent from some" not in text and "'m0' (" not in text  # the others are not called absent


def test_a_model_with_only_weightless_battles_is_not_rated_and_does_not_force_the_prior() -> None:
    battles = make_battles(300, [0, 40, 90], 8)
    zero = validate_battles(pd.DataFrame({"model_a": ["z", "z", "m0"], "model_b": ["m0", "m1", "z"],
                                          "winner": ["model_a", "model_a", "model_b"], "weight": [0, 0, 0]}))
    result = rate_battles(pd.concat([battles, zero], ignore_index=True), RatingOptions(bootstrap=100, seed=0))
    text = " ".join(result.warnings)
    assert "model 'z' has only battles of weight 0" in text
    assert "weak prior" not in text and "absent from 100" not in text  # before: 96 of 100 rounds took the prior
    row = result.table.set_index("model").loc["z"]
    assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    # nothing can be said of z: it sits last, is no leader and shows no rank (before: "top: m2, z")
    assert result.table["model"].iloc[-1] == "z" and "z" not in top_models(result)
    placed = result.table[result.table["model"] != "z"]
    assert top_models(result) == placed.loc[placed["rank"] == 1, "model"].tolist()
    assert re.search(r"^\s+-\s+z\s", format_table(result), re.M) and ", z" not in format_table(result)


@pytest.mark.parametrize("options", [{"method": "elo", "bootstrap": 50}, {"bootstrap": 0},
                                     {"style_control": True, "bootstrap": 30}],
                         ids=["elo", "no-bootstrap", "style-control"])
def test_a_weightless_model_is_last_and_never_top_whatever_the_method(options: dict) -> None:
    """Elo, a fit without bootstrap and style control give the weightless model the starting value (Elo: a
    zero-width interval; style control: an interval from its own feature's draws): it must still be last, show
    rank '-' and not be a leader (a review found e 'rank 1' and 'top: a, c, e' with Elo)."""
    battles = make_battles(300, [0, 40, 90], 8)
    zero = pd.DataFrame({"model_a": ["z"] * 4, "model_b": ["m0", "m1", "m2", "m0"],
                         "winner": ["model_a", "model_a", "model_b", "tie"], "weight": [0.0] * 4})
    both = pd.concat([battles, zero], ignore_index=True)
    if options.get("style_control"):
        rng = np.random.default_rng(1)
        both["len_a"], both["len_b"] = rng.integers(20, 400, len(both)), rng.integers(20, 400, len(both))
    result = rate_battles(validate_battles(both), RatingOptions(seed=0, **options))
    table = result.table
    assert table["model"].iloc[-1] == "z" and "z" not in top_models(result)
    row = table.set_index("model").loc["z"]
    assert np.isnan(row["ci_low"]) and "weighs 0" in row["ci_note"]
    assert re.search(r"^\s+-\s+z\s", format_table(result), re.M)


def test_a_round_in_which_no_model_played_gives_no_numpy_warning() -> None:
    # two real battles and two weightless ones: some resamples draw only weightless battles
    battles = validate_battles(pd.DataFrame({"model_a": ["a", "a", "c", "c"], "model_b": ["b", "b", "a", "b"],
                                             "winner": ["model_a", "model_b", "model_a", "model_a"],
                                             "weight": [1, 1, 0, 0]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: "Mean of empty slice" from the rounds with no model
        result = rate_battles(battles, RatingOptions(bootstrap=200, seed=0))
    assert set(result.table["model"]) == {"a", "b", "c"}


def test_one_round_or_one_question_is_named_as_the_reason_for_no_interval() -> None:
    battles = make_battles(300, [0, 40, 90], 9)
    one_round = " ".join(rate_battles(battles, RatingOptions(bootstrap=1)).warnings)
    assert "every bootstrap round drew the same resample (1 round)" in one_round and "single outcome" not in one_round
    asked_once = battles.assign(question_id="q1")
    one_question = " ".join(rate_battles(asked_once, RatingOptions(bootstrap=30, bootstrap_by="question")).warnings)
    assert "(30 rounds, over a single question)" in one_question and "single outcome" not in one_question
    ties = battles.assign(winner="tie", score=0.5)
    assert "single outcome" in " ".join(rate_battles(ties, RatingOptions(bootstrap=30)).warnings)
