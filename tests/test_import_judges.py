"""Imports holding several judges: one judge at a time (--judge), as FastChat's and arena-hard's show_result,
never one table averaging different judges' grades."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import arena, read_jsonl, run_main, write_jsonl

from arena.errors import DataError
from arena.interop.leaderboard import run_boards

GRADES = {"gpt-4": {"m1": [3, 5, 7], "m2": [8, 8, 9]}, "gpt-3.5-turbo": {"m1": [10, 10, 10], "m2": [1, 2, 3]}}


def _two_judges(root):
    for judge, by_model in GRADES.items():
        write_jsonl(root / "model_judgment" / f"{judge}_single.jsonl", [
            {"question_id": q, "model": m, "judge": [judge, "single-v1"], "user_prompt": "p",
             "judgment": f"[[{s}]]", "score": s, "turn": 1, "tstamp": 1.0}
            for m, scores in by_model.items() for q, s in enumerate(scores, start=1)])
    return root


def test_several_judges_need_a_choice(tmp_path):
    data = _two_judges(tmp_path / "data")
    with pytest.raises(DataError, match=r"several judges: gpt-3\.5-turbo \(6 judgments\), gpt-4 \(6 judgments\)"):
        run_main("import", "mt-bench", data, "-o", tmp_path / "run")
    assert not (tmp_path / "run").exists()
    proc = arena("import", "mt-bench", data, "-o", tmp_path / "run")
    assert proc.returncode == 2 and "--judge NAME" in proc.stderr


@pytest.mark.parametrize("judge", ["gpt-4", "gpt-3.5-turbo"])
def test_judge_option_keeps_one_judge(tmp_path, judge):
    data = _two_judges(tmp_path / "data")
    assert run_main("import", "mt-bench", data, "-o", tmp_path / "run", "--judge", judge) == 0
    (board,) = run_boards(tmp_path / "run")
    t = board.table.set_index("model")
    for model, scores in GRADES[judge].items():
        assert t.loc[model, "score"] == pytest.approx(sum(scores) / len(scores))
    assert {s["judge"] for s in read_jsonl(tmp_path / "run" / "scores.jsonl")} == {judge}
    notes = json.loads((tmp_path / "run" / "run.json").read_text())["stages"]["import"]["notes"]
    assert any("judgments of other judges left out" in n for n in notes)


def test_unknown_judge_lists_the_judges(tmp_path):
    data = _two_judges(tmp_path / "data")
    with pytest.raises(DataError, match=r"--judge 'claude': no judgment by that judge.*gpt-4 \(6 judgments\)"):
        run_main("import", "mt-bench", data, "-o", tmp_path / "run", "--judge", "claude")


def test_arena_hard_two_judges(tmp_path):
    for judge, score in (("gpt-4-1106-preview", "B>A"), ("claude-3-opus", "A>B")):
        write_jsonl(tmp_path / "data" / judge / "m.jsonl", [
            {"question_id": f"q{i}", "model": "m", "judge": judge,
             "games": [{"score": score, "judgment": "x"}, {"score": score, "judgment": "y"}]} for i in range(3)])
    with pytest.raises(DataError, match="several judges"):
        run_main("import", "arena-hard", tmp_path / "data", "-o", tmp_path / "run")
    assert run_main("import", "arena-hard", tmp_path / "data", "-o", tmp_path / "run", "--bootstrap", "0",
                    "--judge", "claude-3-opus") == 0
    t = run_boards(tmp_path / "run", bootstrap=0)[0].table.set_index("model")
    assert t.loc["m", "score"] == pytest.approx(50.0) and t.loc["m", "games"] == 6  # game 1 lost, game 2 won


def test_single_boards_split_a_mixed_run_by_judge():
    from arena.interop.leaderboard import single_boards

    scores = [{"model": m, "judge": j, "turn": 1, "score": float(s), "question_id": q}
              for j, by_model in GRADES.items() for m, ss in by_model.items() for q, s in enumerate(ss)]
    boards = single_boards(scores)
    assert len(boards) == 2
    for board in boards:
        judge = board.title.rsplit("judge ", 1)[1]
        t = board.table.set_index("model")
        assert t.loc["m1", "score"] == pytest.approx(sum(GRADES[judge]["m1"]) / 3)
