"""arena-hard score conventions: v0.1 (win rate on all games, 95% interval) and v2.0 (bootstrap mean, 90%).

The hand-worked case: m's games against the baseline explode to 8 rows (one strong win = 3 rows, three
wins, two losses): 6 wins of 8, score 75. A bootstrap round's win rate is k/8 with k ~ Binomial(8, 3/4):
P(k <= 2) = 0.0042, P(k <= 3) = 0.0273, P(k <= 4) = 0.1138, P(k = 8) = 0.1001. So over many rounds the
2.5% quantile is 3/8 (37.5), the 5% quantile 4/8 (50), the 95% and 97.5% quantiles 8/8 (100), and the
mean of the rounds is 75 up to Monte-Carlo error (SD 0.07 at 50,000 rounds).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from interop_fixtures import run_main, write_jsonl

from arena.errors import ArenaError
from arena.interop.leaderboard import run_boards

ROUNDS = 50_000


@pytest.fixture
def run(tmp_path):
    """An arena-hard import of six battles of m against gpt-4-0314 (one weighted 3)."""
    rows = [{"question_id": "q1", "model_a": "gpt-4-0314", "model_b": "m", "winner": "model_b", "weight": 3}]
    rows += [{"question_id": f"q{i}", "model_a": "gpt-4-0314", "model_b": "m", "winner": "model_b"}
             for i in (2, 3, 4)]
    rows += [{"question_id": f"q{i}", "model_a": "gpt-4-0314", "model_b": "m", "winner": "model_a"}
             for i in (5, 6)]
    path = write_jsonl(tmp_path / "arena_hard_battles.jsonl", rows)
    assert run_main("import", "arena-hard", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def _row(run_dir, version: str, rounds: int = ROUNDS) -> dict:
    """m's row of the arena-hard board and its notes."""
    board = next(b for b in run_boards(run_dir, bootstrap=rounds, arena_hard_version=version)
                 if b.convention == "arena-hard")
    return {**board.table.set_index("model").loc["m"].to_dict(), "notes": board.notes}


def test_v01_point_score_and_95_interval(run):
    row = _row(run, "v0.1")
    assert row["score"] == 75.0  # 6 of 8 rows, exactly: the fit on all games
    assert (row["ci_low"], row["ci_high"]) == (37.5, 100.0)
    assert "95% interval" in row["notes"][0]


def test_v20_bootstrap_mean_and_90_interval(run):
    row = _row(run, "v2.0")
    assert row["score"] == pytest.approx(75.0, abs=0.3)
    assert row["score"] != 75.0  # a bootstrap mean, not the point estimate
    assert (row["ci_low"], row["ci_high"]) == (50.0, 100.0)
    assert "90% interval" in row["notes"][0] and "mean of the bootstrap" in row["notes"][0]


def test_cli_option_and_bad_rounds(run, capsys):
    capsys.readouterr()
    assert run_main("leaderboard", run, "--arena-hard-version", "v2.0", "--bootstrap", "2000",
                    "--format", "json") == 0
    boards = json.loads(capsys.readouterr().out)
    board = next(b for b in boards if b["convention"] == "arena-hard")
    m = next(r for r in board["table"] if r["model"] == "m")
    assert m["ci_low"] == 50.0 and m["score"] == pytest.approx(75.0, abs=1.5)
    assert any("v2.0" in n for n in board["notes"])
    with pytest.raises(ArenaError, match="bootstrap means"):
        run_boards(run, bootstrap=0, arena_hard_version="v2.0")


def test_v01_resamples_all_games_together():
    """v0.1 draws from every model's rows at once (arena-hard's battles.sample): a model with 1 of 10 rows
    is missing from a round with probability (9/10)^10 = 0.349; v2.0 resamples each model on its own."""
    from arena.interop.leaderboard import _joint_bootstrap, _per_model_bootstrap

    games = [(np.ones(1), np.ones(1)), (np.zeros(9), np.ones(9))]
    joint = _joint_bootstrap(games, 4000, seed=1)
    assert np.isnan(joint[0]).mean() == pytest.approx(0.9 ** 10, abs=0.03)
    assert set(joint[0][~np.isnan(joint[0])]) == {100.0} and set(joint[1][~np.isnan(joint[1])]) == {0.0}
    alone = _per_model_bootstrap(games, 4000, seed=1)
    assert not np.isnan(alone[0]).any() and set(alone[0]) == {100.0}
