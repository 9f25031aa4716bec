"""What `arena rate` reads and writes: a Chatbot Arena import run's anonymous battles (as its leaderboard), and
-o never replacing the battles through another name (a hard link)."""
from __future__ import annotations

import json
import os

from interop_fixtures import clean_battles, run_main, write_json, write_jsonl

from arena.cli import main
from arena.interop.leaderboard import run_boards


def _ratings(out: str) -> dict[str, float]:
    """model -> rating of `arena rate --format json` output."""
    return {r["model"]: r["rating"] for r in json.loads(out)["table"]}


def test_rate_on_a_chatbot_arena_run_uses_its_anonymous_battles_like_the_leaderboard(tmp_path, capsys):
    rows = clean_battles()
    rows += [dict(r, anony=False, winner="model_a") for r in rows[:4]]  # non-anonymous battles that would move b, c
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", rows), "-o", tmp_path / "r",
             "--bootstrap", "0")
    capsys.readouterr()
    assert main(["rate", str(tmp_path / "r"), "--bootstrap", "0", "--format", "json"]) == 0
    captured = capsys.readouterr()
    got = _ratings(captured.out)
    assert json.loads(captured.out)["n_battles"] == 5
    assert "anonymous" in captured.err and "battles.jsonl" in captured.err  # says so, and how to rate all
    # reference: the anonymous records alone, written by hand to a plain file
    anon = write_jsonl(tmp_path / "anon.jsonl", [r for r in rows if r["anony"]])
    assert main(["rate", str(anon), "--bootstrap", "0", "--format", "json"]) == 0
    assert got == _ratings(capsys.readouterr().out)
    (board,) = run_boards(tmp_path / "r", bootstrap=0)
    assert dict(zip(board.table["model"], board.table["rating"])) == got
    # the battles file itself rates all of them, with no such note
    assert main(["rate", str(tmp_path / "r" / "battles.jsonl"), "--bootstrap", "0", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_battles"] == len(rows) and "anonymous" not in captured.err


def test_output_that_is_a_hard_link_of_the_battles_is_refused(tmp_path, capsys):
    path = tmp_path / "b2.jsonl"
    write_jsonl(path, [{"model_a": "a", "model_b": "b", "winner": w} for w in ["model_a", "model_b", "tie"] * 3])
    before = path.read_text()
    os.link(path, tmp_path / "hard.jsonl")
    assert main(["rate", str(path), "--bootstrap", "0", "-o", str(tmp_path / "hard.jsonl")]) == 2
    assert "would be overwritten" in capsys.readouterr().err
    assert path.read_text() == before
    # the head-to-head file beside -o is a hard link of the battles: refused too, before anything is written
    os.link(path, tmp_path / "lb_head_to_head.csv")
    assert main(["rate", str(path), "--bootstrap", "0", "-o", str(tmp_path / "lb.json")]) == 2
    assert "would be overwritten" in capsys.readouterr().err
    assert path.read_text() == before and not (tmp_path / "lb.json").exists()
    # an unrelated existing output is replaced as before
    (tmp_path / "other.json").write_text("old")
    assert main(["rate", str(path), "--bootstrap", "0", "-o", str(tmp_path / "other.json")]) == 0
    assert json.loads((tmp_path / "other.json").read_text())["n_battles"] == 9


def test_a_folder_of_parquet_with_other_battle_files_rates_the_parquet_and_the_glob_is_an_error(tmp_path, capsys):
    import pandas as pd

    folder = tmp_path / "logs"
    folder.mkdir()
    pd.DataFrame([{"model_a": "a", "model_b": "b", "winner": w} for w in ["model_a", "tie"] * 3]).to_parquet(
        folder / "part-0.parquet")
    write_jsonl(folder / "more.jsonl", [{"model_a": "a", "model_b": "b", "winner": "model_b"}] * 50)
    (folder / "_SUCCESS").write_text("")  # a marker file, not battles: never in the way
    assert main(["rate", f"{folder}/*", "--bootstrap", "0", "--engine", "pyarrow"]) == 2
    err = capsys.readouterr().err
    assert "not Parquet" in err and "more.jsonl" in err
    # the folder: its Parquet files, and a note naming the file left out (tests/test_rev2_rate_inputs.py)
    assert main(["rate", str(folder), "--bootstrap", "0", "--format", "json", "--engine", "pyarrow"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_battles"] == 6
    assert "left out 1 other file: more.jsonl" in captured.err and "_SUCCESS" not in captured.err
    (folder / "more.jsonl").unlink()
    assert main(["rate", str(folder), "--bootstrap", "0", "--format", "json", "--engine", "pyarrow"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n_battles"] == 6 and "left out" not in captured.err
