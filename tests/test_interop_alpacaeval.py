"""AlpacaEval import, its leaderboard columns and the export round trip (the LC win rate: tests/test_lc_*.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from interop_fixtures import ALPACA_PREFS, alpaca_files, comparable, read_jsonl, run_main, write_json

from arena.errors import DataError
from arena.interop.alpacaeval import instruction_id
from arena.interop.leaderboard import run_boards


@pytest.fixture
def ae_run(tmp_path):
    """An imported AlpacaEval run."""
    data = alpaca_files(tmp_path / "alpaca")
    assert run_main("import", "alpaca-eval", data, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def test_import(ae_run):
    info = json.loads((ae_run / "run.json").read_text())
    assert info["config"]["judge"]["baseline"] == "gpt4_ref"
    battles = read_jsonl(ae_run / "battles.jsonl")
    assert [b["preference"] for b in battles] == ALPACA_PREFS
    assert [b["winner"] for b in battles] == ["model_b", "model_a", "tie", "model_b"]
    assert battles[3]["prob_a"] == pytest.approx(0.2) and battles[0]["chars_b"] == len("model out ")
    assert battles[0]["question_id"] == instruction_id("Instruction 0")
    failed = [j for j in read_jsonl(ae_run / "judgments.jsonl") if j["status"] != "ok"]
    assert len(failed) == 1 and failed[0]["judge"] == "weighted_alpaca_eval_gpt4_turbo"


def test_leaderboard_matches_hand_values(ae_run):
    (board,) = run_boards(ae_run)
    row = board.table.set_index("model").loc["mA"]
    x = np.array([1.0, 0.0, 0.5, 0.8])  # preference - 1
    assert row["win_rate"] == pytest.approx(57.5)
    assert row["discrete_win_rate"] == pytest.approx(62.5)  # (2 wins + 1 draw / 2) / 4
    assert row["standard_error"] == pytest.approx(math.sqrt(0.5675 / 3) / 2 * 100)
    assert row["standard_error"] == pytest.approx(x.std(ddof=1) / 2 * 100)
    assert (row["n_wins"], row["n_wins_base"], row["n_draws"], row["n_total"]) == (2, 1, 1, 4)
    assert "length_controlled_winrate" not in board.table  # 4 annotations: too few for the GLM's 5-fold CV
    assert any("mA: only 4 annotations" in n for n in board.notes)


def test_bad_preference(tmp_path):
    bad = write_json(tmp_path / "annotations.json", [
        {"instruction": "i", "output_1": "a", "generator_1": "r", "output_2": "b", "generator_2": "m",
         "preference": 2.5}])
    # write_json indents: the record starts on line 2, after the list's opening bracket
    with pytest.raises(DataError, match=r"annotations.json:2: field 'preference' must be in \[1, 2\]"):
        run_main("import", "alpaca-eval", bad, "-o", tmp_path / "run")


def test_export_round_trip(ae_run, tmp_path):
    run_main("export", ae_run, "--format", "alpaca-eval", "-o", tmp_path / "out")
    ann = json.loads((tmp_path / "out" / "mA" / "annotations.json").read_text())
    assert [a["preference"] for a in ann] == ALPACA_PREFS and ann[0]["generator_1"] == "gpt4_ref"
    assert (tmp_path / "out" / "reference_outputs.json").is_file()
    run_main("import", "alpaca-eval", tmp_path / "out", "-o", tmp_path / "again", "--bootstrap", "0")
    strip = lambda b: {k: v for k, v in comparable(b).items() if k != "games"}  # failed annotation not exported
    assert [strip(b) for b in read_jsonl(ae_run / "battles.jsonl")] == \
        [strip(b) for b in read_jsonl(tmp_path / "again" / "battles.jsonl")]
