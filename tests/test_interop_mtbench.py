"""Import of FastChat MT-bench files, MT-bench leaderboards and the mt-bench export round trip."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import arena, comparable, mt_bench_files, read_jsonl, run_main, write_jsonl

from arena.errors import DataError
from arena.interop.leaderboard import run_boards
from arena.rating import load_battles


@pytest.fixture
def mt_run(tmp_path):
    """An imported MT-bench run inside a workspace."""
    data = mt_bench_files(tmp_path / "mt_bench")
    assert run_main("import", "mt-bench", data, "--workspace", tmp_path / "ws", "--bootstrap", "0") == 0
    (run,) = list((tmp_path / "ws" / "runs").iterdir())
    return run


def test_import_writes_the_run_contract(mt_run):
    info = json.loads((mt_run / "run.json").read_text())
    assert mt_run.name.endswith("-import-mt-bench")
    assert info["status"] == "completed" and info["source"]["tool"] == "mt-bench"
    assert info["config"]["judge"]["mode"] == "pairwise"
    for name in ("questions.jsonl", "answers_index.json", "judgments.jsonl", "battles.jsonl", "scores.jsonl",
                 "single_scores.json", "judge_stats.json", "leaderboard.json", "leaderboard.csv"):
        assert (mt_run / name).is_file(), name
    ws_answers = mt_run.parent.parent / "answers"
    m1 = read_jsonl(ws_answers / "m1.jsonl")
    assert len(m1) == 3 and m1[0]["question_id"] == 1 and m1[0]["status"] == "ok"
    assert m1[0]["source"]["extra"]["answer_id"] == "m1-1"
    questions = {q["question_id"]: q for q in read_jsonl(mt_run / "questions.jsonl")}
    assert questions[2]["reference"] == ["4", "12"] and questions[1]["category"] == "writing"


def test_single_judgments_keep_failed_rows(mt_run):
    judgments = [j for j in read_jsonl(mt_run / "judgments.jsonl") if j["mode"] == "single"]
    assert len(judgments) == 18
    failed = [j for j in judgments if j["status"] == "error"]
    assert {(j["model_a"], j["question_id"], j["turn"]) for j in failed} == {("m1", 3, 2), ("m3", 3, 2)}
    assert all(j["score"] is None and j["winner"] is None for j in failed)
    ok = [j for j in judgments if j["status"] == "ok"]
    assert {j["template"] for j in ok} == {"single-v1", "single-v1-multi-turn"}
    assert len(read_jsonl(mt_run / "scores.jsonl")) == 16


def test_single_means_match_hand_values(mt_run):
    board = run_boards(mt_run)[0]
    table = board.table.set_index("model")
    assert list(table.index) == ["m3", "m1", "m2"]
    # m1: (8+6+10+7+5)/5; m3: (9+8.5+9+10+8)/5; m2: (5+5+2+4+3+3)/6
    assert table.loc["m1", "score"] == pytest.approx(7.2)
    assert table.loc["m3", "score"] == pytest.approx(8.9)
    assert table.loc["m2", "score"] == pytest.approx(22 / 6)
    assert table.loc["m1", "turn_1"] == pytest.approx(8.0) and table.loc["m1", "turn_2"] == pytest.approx(6.0)
    assert table.loc["m3", "turn_1"] == pytest.approx(26.5 / 3) and table.loc["m3", "n"] == 5
    summary = json.loads((mt_run / "single_scores.json").read_text())
    assert summary["models"][0]["model"] == "m3" and summary["models"][0]["per_category"]["writing"] == 9.5


def test_pairwise_as_fastchat(mt_run):
    battles = read_jsonl(mt_run / "battles.jsonl")
    assert len(battles) == 5  # the pair with an `error` game gives no battle
    by = {(b["question_id"], b["turn"]): b for b in battles}
    assert by[(1, 1)]["winner"] == "model_a" and by[(1, 1)]["consistent"] is True
    assert by[(2, 1)]["winner"] == "tie" and by[(2, 1)]["consistent"] is False
    assert by[(2, 2)]["winner"] == "model_b" and by[(1, 2)]["winner"] == "tie"
    assert by[(1, 1)]["category"] == "writing" and by[(1, 1)]["len_a"] > 0
    board = next(b for b in run_boards(mt_run) if b.convention == "mt-bench" and "win" in b.table)
    t = board.table.set_index("model")
    assert (t.loc["m1", "win"], t.loc["m1", "loss"], t.loc["m1", "tie"]) == (2, 1, 2)
    assert t.loc["m1", "win_rate_adjusted"] == pytest.approx(0.6)
    assert t.loc["m2", "win_rate"] == pytest.approx(0.2)
    games = [j for j in read_jsonl(mt_run / "judgments.jsonl") if j["mode"] == "pairwise"]
    g = {(j["question_id"], j["turn"], j["order"]): j for j in games}
    assert g[(2, 1, "BA")]["label"] == "A" and g[(2, 1, "BA")]["winner"] == "model_b"
    assert g[(3, 1, "AB")]["status"] == "error"
    stats = json.loads((mt_run / "judge_stats.json").read_text())["gpt-4"]
    assert stats["pairs_both_orders"] == 5 and stats["position_consistency"] == pytest.approx(0.8)
    assert len(load_battles(mt_run)) == 5  # arena rate reads it


def test_bad_winner_names_file_line_and_field(tmp_path):
    bad = write_jsonl(tmp_path / "gpt-4_pair.jsonl", [
        {"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "model_1",
         "judge": ["gpt-4", "pair-v2"], "turn": 1},
        {"question_id": 2, "model_1": "a", "model_2": "b", "g1_winner": "A", "g2_winner": "model_1",
         "judge": ["gpt-4", "pair-v2"], "turn": 1}])
    with pytest.raises(DataError, match=r"gpt-4_pair.jsonl:2: field 'g1_winner'"):
        run_main("import", "mt-bench", bad, "-o", tmp_path / "run")
    proc = arena("import", "mt-bench", bad, "-o", tmp_path / "run2")
    assert proc.returncode == 2 and "gpt-4_pair.jsonl:2: field 'g1_winner'" in proc.stderr


def test_missing_field_is_a_data_error(tmp_path):
    bad = write_jsonl(tmp_path / "single.jsonl", [{"question_id": 1, "model": "m", "score": 5, "judgment": "x"}])
    with pytest.raises(DataError, match=r"single.jsonl:1: field 'judge' is missing"):
        run_main("import", "mt-bench", bad, "-o", tmp_path / "run")


@pytest.mark.parametrize("turn", [True, 0, "math"])
def test_bad_turn_names_file_line_and_field(tmp_path, turn):
    bad = write_jsonl(tmp_path / "single.jsonl", [{"question_id": 1, "model": "m", "score": 5, "judgment": "x",
                                                    "judge": ["gpt-4", "single-v1"], "turn": turn}])
    with pytest.raises(DataError, match=r"single.jsonl:1: field 'turn' must be a turn number"):
        run_main("import", "mt-bench", bad, "-o", tmp_path / "run")


def test_export_round_trip(mt_run, tmp_path):
    out = tmp_path / "export"
    assert run_main("export", mt_run, "--format", "mt-bench", "-o", out) == 0
    assert (out / "model_judgment" / "gpt-4_single.jsonl").is_file()
    first = read_jsonl(out / "model_judgment" / "gpt-4_pair.jsonl")[0]
    assert list(first)[:5] == ["question_id", "model_1", "model_2", "g1_winner", "g2_winner"]
    assert run_main("import", "mt-bench", out, "-o", tmp_path / "again", "--bootstrap", "0") == 0
    again = tmp_path / "again"
    for name in ("judgments.jsonl", "battles.jsonl", "scores.jsonl", "questions.jsonl"):
        before = [comparable(r) for r in read_jsonl(mt_run / name)]
        after = [comparable(r) for r in read_jsonl(again / name)]
        assert sorted(map(json.dumps, before)) == sorted(map(json.dumps, after)), name
    a1 = read_jsonl(again / "answers" / "m2.jsonl")  # -o outside a workspace: answers in RUN_DIR/answers
    a0 = read_jsonl(mt_run.parent.parent / "answers" / "m2.jsonl")
    assert [r["turns"] for r in a1] == [r["turns"] for r in a0] and [r["key"] for r in a1] == [r["key"] for r in a0]
