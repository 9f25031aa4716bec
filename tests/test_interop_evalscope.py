"""Import of evalscope legacy arena files (questions, answers, swap-pairwise and single reviews)."""
from __future__ import annotations

import pytest
from interop_fixtures import evalscope_files, read_jsonl, run_main, write_jsonl

from arena.errors import DataError
from arena.interop.leaderboard import run_boards


def test_import_and_leaderboards(tmp_path):
    data = evalscope_files(tmp_path / "arena")
    assert run_main("import", "evalscope", data, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    run = tmp_path / "run"
    battles = read_jsonl(run / "battles.jsonl")
    assert len(battles) == 5  # the review with win_2 = null gives no battle
    assert [b["winner"] for b in battles] == ["model_a", "tie", "tie", "model_b", "model_a"]
    assert battles[1]["consistent"] is False and battles[0]["anony"] is True and battles[0]["judge"] == "gpt-4"
    assert len(read_jsonl(run / "answers" / "qwen.jsonl")) == 6
    boards = {b.title: b for b in run_boards(run)}
    single = boards["evalscope single-mode mean score"].table.set_index("model")
    assert single.loc["qwen", "score"] == pytest.approx(7.0) and single.loc["llama", "score"] == pytest.approx(5.0)
    pair = boards["evalscope pairwise win rates"].table.set_index("model")
    assert (pair.loc["qwen", "win"], pair.loc["qwen", "loss"], pair.loc["qwen", "tie"]) == (2, 1, 2)
    assert pair.loc["qwen", "win_rate"] == pytest.approx(0.4)
    assert pair.loc["qwen", "win_rate_adjusted"] == pytest.approx(0.6)
    failed = [j for j in read_jsonl(run / "judgments.jsonl") if j["status"] != "ok"]
    assert len(failed) == 2  # win_2 null, single score null


def test_wrong_win_type(tmp_path):
    bad = write_jsonl(tmp_path / "review.jsonl", [{"question_id": 1, "model_a": "a", "model_b": "b", "win": 3}])
    with pytest.raises(DataError, match=r"review.jsonl:1: field 'win'"):
        run_main("import", "evalscope", bad, "-o", tmp_path / "run")
