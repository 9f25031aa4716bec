"""Online Elo: hand-computed sequence, order dependence, bootstrap medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arena.rating import RatingOptions, rate_battles, validate_battles
from arena.rating.elo import bootstrap_elo, online_elo


def test_hand_computed_sequence() -> None:
    # a beats b at 1000/1000: E = 0.5, delta = 4 * 0.5 = 2          -> a 1002, b 998
    # b ties c at 998/1000: E_b = 1/(1+10^(2/400)) = 0.4971218,     delta = 4*(0.5-0.4971218) = 0.0115128
    # c beats a at 999.9884872/1002: E_c = 1/(1+10^(2.0115128/400)) = 0.4971053, delta = 4*(1-0.4971053)
    a, b = np.array([0, 1, 2]), np.array([1, 2, 0])
    r = online_elo(a, b, np.array([1.0, 0.5, 1.0]), np.ones(3), 3)
    assert r[1] == pytest.approx(998.0115128, abs=1e-6)
    assert r[2] == pytest.approx(999.9884872 + 4 * (1 - 0.4971053), abs=1e-5)
    assert r[0] == pytest.approx(1002 - 4 * (1 - 0.4971053), abs=1e-5)
    assert r.sum() == pytest.approx(3000, abs=1e-9)


def test_k_and_weight_scale_updates() -> None:
    r = online_elo(np.array([0]), np.array([1]), np.array([1.0]), np.array([3.0]), 2, k=32)
    assert r[0] == pytest.approx(1000 + 32 * 3 * 0.5)


def test_order_matters_for_elo() -> None:
    a, b, s = np.array([0, 0, 1]), np.array([1, 1, 0]), np.array([1.0, 1.0, 1.0])
    forward = online_elo(a, b, s, np.ones(3), 2)
    backward = online_elo(a[::-1], b[::-1], s[::-1], np.ones(3), 2)
    assert not np.allclose(forward, backward)


def test_bootstrap_elo_rounds_are_resampled_sequences() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 300)
    b = (a + rng.integers(1, 4, 300)) % 4
    s = rng.choice([0.0, 0.5, 1.0], 300)
    rounds = bootstrap_elo(a, b, s, np.ones(300), 4, n_rounds=20, seed=3, chunk=7, window=50)
    again = bootstrap_elo(a, b, s, np.ones(300), 4, n_rounds=20, seed=3, chunk=7, window=50)
    np.testing.assert_array_equal(rounds, again)
    np.testing.assert_allclose(rounds.mean(axis=1), 1000, atol=1e-9)
    assert not np.allclose(rounds[0], rounds[1])
    other = bootstrap_elo(a, b, s, np.ones(300), 4, n_rounds=20, seed=4, chunk=7, window=50)
    assert not np.allclose(rounds, other)


def test_leaderboard_elo_uses_median_of_rounds() -> None:
    frame = pd.DataFrame(
        {
            "model_a": ["x", "y", "x", "z"] * 30,
            "model_b": ["y", "z", "z", "x"] * 30,
            "winner": ["model_a", "tie", "model_b", "model_b"] * 30,
        }
    )
    battles = validate_battles(frame)
    options = RatingOptions(method="elo", bootstrap=40, seed=2)
    table = rate_battles(battles, options).table.set_index("model")
    codes = {"x": 0, "y": 1, "z": 2}
    a, b = battles["model_a"].map(codes).to_numpy(), battles["model_b"].map(codes).to_numpy()
    rounds = bootstrap_elo(a, b, battles["score"].to_numpy(), np.ones(len(battles)), 3, 40, 2)
    for model, k in codes.items():
        assert table.loc[model, "rating"] == pytest.approx(np.median(rounds[:, k]))
        assert table.loc[model, "ci_low"] == pytest.approx(np.percentile(rounds[:, k], 2.5))
    in_order = rate_battles(battles, RatingOptions(method="elo", bootstrap=0)).table.set_index("model")
    expected = online_elo(a, b, battles["score"].to_numpy(), np.ones(len(battles)), 3)
    for model, k in codes.items():
        assert in_order.loc[model, "rating"] == pytest.approx(expected[k])


def test_bootstrap_rounds_without_a_model_leave_it_unrated():
    from arena.rating.elo import bootstrap_elo

    a = np.array([0, 1] * 50 + [2])
    b = np.array([1, 0] * 50 + [0])
    s = np.ones(len(a))
    draws = bootstrap_elo(a, b, s, np.ones(len(a)), 3, n_rounds=200, seed=0)
    absent = np.isnan(draws[:, 2])
    # model 2 plays one battle in 101: about (1 - 1/101)^101 = 37% of rounds never draw it
    assert 0.2 < absent.mean() < 0.55
    assert np.all(draws[~absent, 2] > 1000.0)  # it won its only battle whenever it played
    assert not np.isnan(draws[:, :2]).any()


def test_elo_warnings_do_not_mention_the_bt_prior():
    battles = validate_battles(pd.DataFrame({"model_a": ["a", "a", "b"], "model_b": ["b", "c", "c"],
                                             "winner": ["model_a", "model_a", "tie"]}))
    bt = rate_battles(battles, RatingOptions(bootstrap=0))
    elo = rate_battles(battles, RatingOptions(bootstrap=0, method="elo"))
    assert any("weak prior" in w for w in bt.warnings)
    assert not any("prior" in w for w in elo.warnings) and any("'a' won every battle" in w for w in elo.warnings)
    # several one-sided models (one warning line for all of them), and a graph in two pieces
    more = validate_battles(pd.DataFrame({
        "model_a": ["a", "a", "b", "w1", "w2", "p"], "model_b": ["b", "c", "c", "c", "c", "q"],
        "winner": ["model_a", "model_a", "tie", "model_a", "model_a", "tie"],
    }))
    bt = rate_battles(more, RatingOptions(bootstrap=0))
    elo = rate_battles(more, RatingOptions(bootstrap=0, method="elo"))
    assert any("3 models ('a', 'w1', 'w2') won every battle: their ratings" in w for w in bt.warnings)
    assert any("3 models ('a', 'w1', 'w2') won every battle: their Elo ratings only reflect" in w
               for w in elo.warnings)
    assert any("disconnected" in w and "weak prior" in w for w in bt.warnings)
    assert any("disconnected" in w for w in elo.warnings) and not any("prior" in w for w in elo.warnings)


def test_leaderboard_elo_falls_back_to_the_in_order_pass_only_for_a_model_absent_from_every_round():
    # 'rare' plays one battle in 2001: each round misses it with probability ~37%; seed 52 misses it in all 3
    frame = pd.DataFrame({"model_a": ["x", "y"] * 1000 + ["rare"], "model_b": ["y", "x"] * 1000 + ["x"],
                          "winner": ["model_a", "tie"] * 1000 + ["model_a"]})
    battles = validate_battles(frame)
    codes = {"x": 0, "y": 1, "rare": 2}
    a, b = battles["model_a"].map(codes).to_numpy(), battles["model_b"].map(codes).to_numpy()
    s, w = battles["score"].to_numpy(), np.ones(len(battles))
    rounds = bootstrap_elo(a, b, s, w, 3, 3, 52)
    assert np.isnan(rounds[:, 2]).all() and np.isfinite(rounds[:, :2]).all()
    table = rate_battles(battles, RatingOptions(method="elo", bootstrap=3, seed=52)).table.set_index("model")
    assert table.loc["rare", "rating"] == pytest.approx(online_elo(a, b, s, w, 3)[2])
    for model in ("x", "y"):
        assert table.loc[model, "rating"] == pytest.approx(np.median(rounds[:, codes[model]]))
