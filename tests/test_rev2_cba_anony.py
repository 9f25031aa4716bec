"""Chatbot Arena imports where no battle, or every battle, is anonymous: the leaderboard and `arena rate RUN`
fall back to all battles (with a note) when none is anonymous, and `arena rate RUN` names the board's anchor
whenever the run is a Chatbot Arena import. Real CLI on real files."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import run_main, write_json
from test_walkd_cba_scale import MIXTRAL, _rows

from arena.cli import main
from arena.interop.leaderboard import run_boards


def _rate(args: list[str], capsys) -> tuple[dict[str, float], int, str]:
    assert main(["rate", *map(str, args), "--bootstrap", "0", "--format", "json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    return {r["model"]: r["rating"] for r in doc["table"]}, doc["n_battles"], captured.err


def test_no_anonymous_battle_rates_all_battles_anchored_and_says_why(tmp_path, capsys):
    rows = [dict(r, anony=False) for r in _rows(["m1", "m2", MIXTRAL, "m4"])]
    src = write_json(tmp_path / "allnon.json", rows)
    run_main("import", "chatbot-arena", src, "-o", tmp_path / "r", "--bootstrap", "0")
    imported = capsys.readouterr().out
    assert "no anonymous battles" in imported and "is not in these battles" not in imported
    assert not (tmp_path / "r" / "battles.anonymous.jsonl").exists()
    saved = json.loads((tmp_path / "r" / "leaderboard.json").read_text())
    board = {r["model"]: r["rating"] for r in saved["overall"]["table"]}
    assert board[MIXTRAL] == pytest.approx(1114.0)
    # reference: every battle, rated by hand from the source file with the board's anchor
    reference, n, _ = _rate([src, "--anchor", f"{MIXTRAL}=1114"], capsys)
    assert n == len(rows) and board == pytest.approx(reference, abs=1e-6)
    (shown,) = run_boards(tmp_path / "r", bootstrap=0)
    assert dict(zip(shown.table["model"], shown.table["rating"])) == pytest.approx(reference, abs=1e-6)
    got, n, err = _rate([tmp_path / "r", "--anchor", f"{MIXTRAL}=1114"], capsys)
    assert n == len(rows) and got == pytest.approx(reference, abs=1e-9)
    # a run imported before this fix holds an empty battles.anonymous.jsonl: all battles, with a note
    (tmp_path / "r" / "battles.anonymous.jsonl").write_text("")
    got, n, err = _rate([tmp_path / "r"], capsys)
    assert n == len(rows) and "no anonymous battles" in err and f"--anchor {MIXTRAL}=1114" in err


def test_every_battle_anonymous_rate_names_the_boards_anchor(tmp_path, capsys):
    rows = [dict(r, anony=True) for r in _rows(["m1", "m2", MIXTRAL, "m4"])]
    run_main("import", "chatbot-arena", write_json(tmp_path / "allanon.json", rows), "-o", tmp_path / "r",
             "--bootstrap", "0")
    capsys.readouterr()
    assert not (tmp_path / "r" / "battles.anonymous.jsonl").exists()  # battles.jsonl is the anonymous set
    _, n, err = _rate([tmp_path / "r"], capsys)
    assert n == len(rows) and f"--anchor {MIXTRAL}=1114" in err


def test_mixtral_only_in_non_anonymous_battles_is_said_so(tmp_path, capsys):
    rows = _rows(["m1", "m2", "m3"])
    rows.append({"model_a": MIXTRAL, "model_b": "m1", "winner": "tie", "anony": False})
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", rows), "-o", tmp_path / "r",
             "--bootstrap", "0")
    out = capsys.readouterr().out
    assert "is not in the anonymous battles" in out and "is not in these battles" not in out
