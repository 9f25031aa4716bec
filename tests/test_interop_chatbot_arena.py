"""Import of Chatbot Arena clean_battle logs (JSON and JSONL), BT leaderboard and export round trip."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import clean_battles, comparable, read_jsonl, run_main, write_json, write_jsonl

from arena.errors import DataError
from arena.interop.leaderboard import run_boards
from arena.rating import load_battles


def test_json_and_jsonl_import_the_same(tmp_path):
    rows = clean_battles()
    run_main("import", "chatbot-arena", write_json(tmp_path / "clean_battle.json", rows), "-o", tmp_path / "r1",
             "--bootstrap", "0")
    run_main("import", "chatbot-arena", write_jsonl(tmp_path / "clean_battle.jsonl", rows), "-o", tmp_path / "r2",
             "--bootstrap", "0")
    b1, b2 = read_jsonl(tmp_path / "r1" / "battles.jsonl"), read_jsonl(tmp_path / "r2" / "battles.jsonl")
    assert [comparable(b) for b in b1] == [comparable(b) for b in b2]
    assert b1[0]["judge"] == "arena_user_0" and b1[0]["conv_metadata"] == rows[0]["conv_metadata"]
    assert (b1[1]["len_a"], b1[1]["len_b"], b1[1]["list_b"], b1[1]["bold_b"]) == (101, 200, 3, 2)
    assert len(load_battles(tmp_path / "r1")) == 6


def test_leaderboard_uses_anonymous_battles_only(tmp_path):
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", clean_battles()), "-o", tmp_path / "r",
             "--bootstrap", "0")
    (board,) = run_boards(tmp_path / "r", bootstrap=10)
    assert board.convention == "bt"
    t = board.table.set_index("model")
    assert t["battles"].sum() == 2 * 5  # the non-anonymous battle is left out
    assert (t.loc["b", "wins"], t.loc["b", "ties"], t.loc["b", "losses"]) == (0, 0, 3)
    assert (t.loc["c", "wins"], t.loc["c", "ties"], t.loc["c", "losses"]) == (1, 2, 0)
    assert next(iter(t.index)) == "a"  # 2 wins, 2 ties, no loss
    saved = json.loads((tmp_path / "r" / "leaderboard.json").read_text())  # what the app shows
    assert sum(r["battles"] for r in saved["overall"]["table"]) == 2 * 5


def test_bad_winner_is_rejected(tmp_path):
    rows = clean_battles()
    rows[3]["winner"] = "a"
    with pytest.raises(DataError, match=r"cb.jsonl:4: field 'winner'"):
        run_main("import", "chatbot-arena", write_jsonl(tmp_path / "cb.jsonl", rows), "-o", tmp_path / "r")


def test_export_round_trip(tmp_path):
    rows = clean_battles()
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", rows), "-o", tmp_path / "r", "--bootstrap", "0")
    run_main("export", tmp_path / "r", "--format", "chatbot-arena", "-o", tmp_path / "out")
    exported = json.loads((tmp_path / "out" / "clean_battle.json").read_text())
    assert exported == rows  # exactly the original records
    run_main("import", "chatbot-arena", tmp_path / "out" / "clean_battle.json", "-o", tmp_path / "r2", "--bootstrap", "0")
    assert [comparable(b) for b in read_jsonl(tmp_path / "r" / "battles.jsonl")] == \
        [comparable(b) for b in read_jsonl(tmp_path / "r2" / "battles.jsonl")]
