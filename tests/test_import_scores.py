"""MT-bench grades must be -1 (failed) or a finite number from 1 to 10; other import checks of the minor
findings: AlpacaEval .gz files in folders, --baseline refused for mt-bench, no LC note on boards without LC."""
from __future__ import annotations

import gzip
import json

import pytest
from interop_fixtures import ALPACA_PREFS, alpaca_files, arena, run_main, write_jsonl

from arena.errors import DataError
from arena.interop.leaderboard import run_boards


def _single(score) -> dict:
    return {"question_id": 1, "model": "m", "judge": ["gpt-4", "single-v1"], "judgment": "x", "score": score,
            "turn": 1}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, -2, 0, 57, 10.5])
def test_bad_grade_names_file_line_and_field(tmp_path, bad):
    path = tmp_path / "gpt-4_single.jsonl"
    path.write_text(json.dumps(_single(4)) + "\n" + json.dumps(_single(bad)) + "\n")  # NaN as JSON's NaN
    with pytest.raises(DataError, match=r"gpt-4_single.jsonl:2: field 'score' must be a grade from 1 to 10 or -1"):
        run_main("import", "mt-bench", path, "-o", tmp_path / "run")
    proc = arena("import", "mt-bench", path, "-o", tmp_path / "run2")
    assert proc.returncode == 2 and "gpt-4_single.jsonl:2: field 'score'" in proc.stderr
    assert not (tmp_path / "run2").exists()


def test_failed_and_edge_grades_are_kept(tmp_path):
    path = write_jsonl(tmp_path / "gpt-4_single.jsonl",
                       [_single(s) | {"question_id": q} for q, s in enumerate([1, 10, 8.5, -1, -1.0])])
    assert run_main("import", "mt-bench", path, "-o", tmp_path / "run") == 0
    (board,) = run_boards(tmp_path / "run")
    row = board.table.set_index("model").loc["m"]
    assert row["n"] == 3 and row["score"] == pytest.approx((1 + 10 + 8.5) / 3)
    summary = json.loads((tmp_path / "run" / "single_scores.json").read_text())  # strict JSON: no NaN
    assert summary["models"][0]["mean"] == pytest.approx(19.5 / 3)


def test_alpaca_eval_folder_with_gz_files(tmp_path):
    data = alpaca_files(tmp_path / "alpaca")
    for name in ("reference_outputs.json", "mA/annotations.json"):
        plain = data / name
        with gzip.open(plain.with_name(plain.name + ".gz"), "wb") as fh:
            fh.write(plain.read_bytes())
        plain.unlink()
    assert run_main("import", "alpaca-eval", data, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert sorted(f["path"].rsplit("/", 1)[1] for f in info["source"]["files"]) == [
        "annotations.json.gz", "model_outputs.json", "reference_outputs.json.gz"]
    (board,) = run_boards(tmp_path / "run")
    assert board.table.set_index("model").loc["mA", "n_total"] == len(ALPACA_PREFS)


def test_baseline_option_is_refused_for_mt_bench(tmp_path):
    path = write_jsonl(tmp_path / "gpt-4_single.jsonl", [_single(5)])
    with pytest.raises(DataError, match="--baseline applies to arena-hard and alpaca-eval imports"):
        run_main("import", "mt-bench", path, "-o", tmp_path / "run", "--baseline", "gpt-3.5-turbo")


def test_no_lc_note_on_an_arena_hard_board_without_answers(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [
        {"question_id": f"q{i}", "model": "m", "judge": "j", "games": [{"score": "B>A"}, {"score": "A=B"}]}
        for i in range(4)])
    assert run_main("import", "arena-hard", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    board = run_boards(tmp_path / "run", bootstrap=0)[0]
    assert board.table.set_index("model").loc["m", "score"] == pytest.approx(75.0)
    assert not [n for n in board.notes if n.startswith("lc:")]
    assert "length_controlled_winrate_fitted_difficulty" not in board.table
