"""Import of arena-hard-auto files (v0.1 and 2025) and the arena-hard score (strong verdicts weighted 3)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from interop_fixtures import (
    AH_V01_SCORE,
    arena_hard_2025_judgments,
    arena_hard_v01_files,
    read_jsonl,
    run_main,
    write_jsonl,
)

from arena.errors import DataError
from arena.interop.leaderboard import run_boards


@pytest.fixture
def ah_run(tmp_path):
    """An imported arena-hard v0.1 run (questions, answers, judgments)."""
    data = arena_hard_v01_files(tmp_path / "arena-hard-v0.1")
    assert run_main("import", "arena-hard", data, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def test_games_become_weighted_battles(ah_run):
    info = json.loads((ah_run / "run.json").read_text())
    assert info["config"]["judge"] == {"mode": "baseline", "baseline": "gpt-4-0314"}
    battles = [b for b in read_jsonl(ah_run / "battles.jsonl") if b["model_b"] == "m-x"]
    assert len(battles) == 9  # 12 games, one null, two malformed
    by = {(b["question_id"], len(b["games"]), b["weight"], b["winner"]) for b in battles}
    assert ("q1", 1, 3, "model_a") in by and ("q1", 1, 1, "model_b") in by  # A>>B game 1; A>B game 2 (swapped)
    assert all(b["model_a"] == "gpt-4-0314" for b in battles)
    q1 = next(b for b in battles if b["question_id"] == "q1")
    assert (q1["len_a"], q1["len_b"], q1["header_a"], q1["list_b"], q1["bold_a"]) == (100, 50, 1, 3, 1)
    judgments = [j for j in read_jsonl(ah_run / "judgments.jsonl") if j["model_b"] == "m-x"]
    bad = {(j["question_id"], j["order"]): j for j in judgments if j["status"] == "unparsed"}
    assert set(bad) == {("q4", "AB"), ("q5", "AB"), ("q5", "BA")}
    assert bad[("q5", "AB")]["label"] == "A<B" and bad[("q4", "AB")]["label"] is None
    assert {j["strength"] for j in judgments if j["label"] in ("A>>B", "B>>A")} == {2}


def test_score_matches_hand_value(ah_run):
    board = next(b for b in run_boards(ah_run, bootstrap=200) if b.convention == "arena-hard")
    t = board.table.set_index("model")
    # q1: 0x3 + 1; q2: 1 + 0x3; q3: 0.5 + 0x3; q4: 1x3; q6: 1 + 0.5  -> 7 points over 17 games
    assert t.loc["m-x", "score"] == pytest.approx(AH_V01_SCORE)
    assert t.loc["m-y", "score"] == pytest.approx(50.0)
    assert t.loc["m-x", "ci_low"] < AH_V01_SCORE < t.loc["m-x", "ci_high"]
    assert t.loc["gpt-4-0314", "score"] == 50.0
    assert (t.loc["m-x", "wins"], t.loc["m-x", "ties"], t.loc["m-x", "losses"]) == (4, 2, 3)
    assert np.isfinite(t.loc["m-x", "length_controlled_winrate_fitted_difficulty"])


def test_2025_layout_drops_pairs_with_a_null_game(tmp_path):
    path = arena_hard_2025_judgments(tmp_path)
    assert run_main("import", "arena-hard", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    battles = read_jsonl(tmp_path / "run" / "battles.jsonl")
    assert {b["question_id"] for b in battles} == {"u1", "u3"}
    assert all(b["model_a"] == "o3-mini-base" and b["category"] == "hard_prompt" for b in battles)
    board = run_boards(tmp_path / "run")[0]
    assert board.table.set_index("model").loc["m-z", "score"] == pytest.approx(62.5)  # (1 + 1 + 0.5 + 0) / 4
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["source"]["files"][0]["failed"] == {"null verdict": 1, "pair dropped (other game unusable)": 1}


def test_battles_file_and_bad_games(tmp_path):
    battles = write_jsonl(tmp_path / "arena_hard_battles.jsonl", [
        {"question_id": "q", "model_a": "gpt-4-0314", "model_b": "m", "winner": w} for w in
        ("model_b", "model_b", "model_b", "model_a", "tie")])
    assert run_main("import", "arena-hard", battles, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    board = run_boards(tmp_path / "run")[0]
    assert board.table.set_index("model").loc["m", "score"] == pytest.approx(70.0)
    bad = write_jsonl(tmp_path / "j.jsonl", [{"question_id": "q", "model": "m", "judge": "j", "games": "A>B"}])
    with pytest.raises(DataError, match=r"j.jsonl:1: field 'games' must be list"):
        run_main("import", "arena-hard", bad, "-o", tmp_path / "run2")
