"""Duplicate records and files given twice in `arena import`: exact repeats are dropped with a note, records
that repeat a key with other content are resolved as the source tool does, with a note naming the place."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import read_jsonl, run_main, write_json, write_jsonl

from arena.interop.leaderboard import run_boards

# game 1 shows the baseline as A, game 2 the model as A: the model's points per game
GAME1 = {"B>A": 1.0, "A>B": 0.0, "A=B": 0.5}
GAME2 = {"A>B": 1.0, "B>A": 0.0, "A=B": 0.5}
ROWS = {"q1": ("B>A", "A>B"), "q2": ("A>B", "B>A"), "q3": ("B>A", "B>A"), "q4": ("A=B", "A>B")}


def _ah_row(q: str, games: tuple[str, str], judge: str = "gpt-4-1106-preview") -> dict:
    return {"question_id": q, "model": "m", "judge": judge,
            "games": [{"user_prompt": "u", "judgment": f"[[{s}]]", "score": s} for s in games]}


def _hand_score(rows: dict[str, tuple[str, str]]) -> float:
    points = [GAME1[g1] for g1, _ in rows.values()] + [GAME2[g2] for _, g2 in rows.values()]
    return 100 * sum(points) / len(points)


def _notes(run) -> list[str]:
    return json.loads((run / "run.json").read_text())["stages"]["import"]["notes"]


def test_arena_hard_exact_duplicate_row_is_dropped(tmp_path):
    rows = [_ah_row(q, g) for q, g in ROWS.items()]
    path = write_jsonl(tmp_path / "m.jsonl", rows[:2] + [rows[1]] + rows[2:])  # q2 repeated on line 3
    assert run_main("import", "arena-hard", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    t = run_boards(tmp_path / "run", bootstrap=0)[0].table.set_index("model")
    assert t.loc["m", "score"] == pytest.approx(_hand_score(ROWS))  # 56.25, not the 50.0 with q2 twice
    assert t.loc["m", "games"] == 8
    notes = _notes(tmp_path / "run")
    assert any("1 exact duplicate judgment rows dropped" in n and "m.jsonl:3" in n and "m.jsonl:2" in n
               for n in notes)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["source"]["files"][0]["failed"] == {"exact duplicate": 1}


def test_same_file_twice_is_read_once(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [_ah_row(q, g) for q, g in ROWS.items()])
    folder_copy = tmp_path / "." / "m.jsonl"
    assert run_main("import", "arena-hard", path, folder_copy, tmp_path, "-o", tmp_path / "run",
                    "--bootstrap", "0") == 0
    assert len(read_jsonl(tmp_path / "run" / "battles.jsonl")) == 8
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert len(info["source"]["files"]) == 1
    # one file named three times (path, the same path through '.', its folder): one file, named once
    assert any(n.startswith("1 file(s) given more than once were read once") and n.count("m.jsonl") == 1
               for n in _notes(tmp_path / "run"))


def test_arena_hard_conflicting_rows_are_kept_and_named(tmp_path):
    rows = [_ah_row(q, g) for q, g in ROWS.items()] + [_ah_row("q1", ("A>B", "B>A"))]  # a re-run of q1
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    assert run_main("import", "arena-hard", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    t = run_boards(tmp_path / "run", bootstrap=0)[0].table.set_index("model")
    assert t.loc["m", "games"] == 10  # arena-hard's show_result counts both rows
    assert t.loc["m", "score"] == pytest.approx(100 * (_hand_score(ROWS) * 8 / 100) / 10)
    assert any("1 judgment rows repeat an earlier one's key with different content (first: " in n
               and "m.jsonl:5" in n and "m.jsonl:1" in n and "both kept" in n for n in _notes(tmp_path / "run"))


def _single(qid: int, turn: int, score: float, text: str = "ok", model: str = "m") -> dict:
    return {"question_id": qid, "model": model, "judge": ["gpt-4", "single-v1"], "user_prompt": "p",
            "judgment": f"{text} [[{score}]]", "score": score, "turn": turn, "tstamp": 1.0}


def test_mt_bench_single_duplicates(tmp_path):
    rows = [_single(1, 1, 4), _single(1, 2, 6), _single(2, 1, 9), _single(2, 1, 9),  # line 4: exact repeat
            _single(1, 1, 8, "re-run")]  # line 5: a second grade of q1 turn 1
    path = write_jsonl(tmp_path / "gpt-4_single.jsonl", rows)
    assert run_main("import", "mt-bench", path, "-o", tmp_path / "run") == 0
    t = run_boards(tmp_path / "run")[0].table.set_index("model")
    assert t.loc["m", "n"] == 4 and t.loc["m", "score"] == pytest.approx((4 + 6 + 9 + 8) / 4)
    assert t.loc["m", "turn_1"] == pytest.approx((4 + 9 + 8) / 3)
    notes = _notes(tmp_path / "run")
    assert any("1 exact duplicate single judgments dropped" in n and "gpt-4_single.jsonl:4" in n for n in notes)
    assert any("1 single judgments repeat" in n and "gpt-4_single.jsonl:5" in n and "averaged" in n for n in notes)


def test_mt_bench_pairwise_exact_duplicate(tmp_path):
    row = {"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "model_1",
           "judge": ["gpt-4", "pair-v2"], "turn": 1}
    other = dict(row, question_id=2, g1_winner="model_2", g2_winner="model_2")
    path = write_jsonl(tmp_path / "gpt-4_pair.jsonl", [row, other, row])
    assert run_main("import", "mt-bench", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    assert len(read_jsonl(tmp_path / "run" / "battles.jsonl")) == 2
    assert any("1 exact duplicate pairwise judgments dropped" in n for n in _notes(tmp_path / "run"))


def test_alpaca_eval_annotation_duplicates(tmp_path):
    def ann(i: int, pref: float) -> dict:
        return {"instruction": f"I{i}", "output_1": f"ref {i}", "generator_1": "ref", "output_2": f"out {i}",
                "generator_2": "mA", "annotator": "ann", "preference": pref}
    rows = [ann(0, 2.0), ann(1, 1.0), ann(2, 1.5), ann(1, 1.0), ann(0, 1.2)]  # #4 exact, #5 a new verdict on I0
    path = write_json(tmp_path / "mA" / "annotations.json", rows)
    assert run_main("import", "alpaca-eval", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    (board,) = run_boards(tmp_path / "run")
    row = board.table.set_index("model").loc["mA"]
    assert row["n_total"] == 3 and row["win_rate"] == pytest.approx(100 * (0.2 + 0.0 + 0.5) / 3)
    notes = _notes(tmp_path / "run")
    assert any("1 exact duplicate annotations dropped" in n for n in notes)
    assert any("1 annotations repeat" in n and "later one kept" in n for n in notes)
    assert len(read_jsonl(tmp_path / "run" / "judgments.jsonl")) == 3
