"""The Chatbot Arena board's scale: mixtral-8x7b-instruct-v0.1 anchored at 1114 when it played (as FastChat's
compute_elo_mle_with_tie), else the mean rating 1000; the board says which."""
from __future__ import annotations

import json
import random

import pytest
from interop_fixtures import run_main, write_json

from arena.cli import main
from arena.interop.leaderboard import run_boards

MIXTRAL = "mixtral-8x7b-instruct-v0.1"


def _rows(models: list[str], n: int = 240) -> list[dict]:
    rng = random.Random(11)
    rows = []
    for i in range(n):
        a, b = rng.sample(models, 2)
        rows.append({"model_a": a, "model_b": b, "anony": i % 5 != 0, "tstamp": 1_700_000_000.0 + i,
                     "winner": rng.choice(["model_a", "model_a", "model_b", "tie", "tie (bothbad)"])})
    return rows


def _mean_centred(path, capsys) -> dict[str, float]:
    """Reference: `arena rate` of the anonymous battles, no anchor (mean 1000)."""
    assert main(["rate", str(path), "--bootstrap", "0", "--format", "json"]) == 0
    return {r["model"]: r["rating"] for r in json.loads(capsys.readouterr().out)["table"]}


def test_board_anchors_mixtral_at_1114_when_it_played(tmp_path, capsys):
    rows = _rows(["m1", "m2", MIXTRAL, "m4"])
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", rows), "-o", tmp_path / "r",
             "--bootstrap", "20")
    imported = capsys.readouterr().out
    assert "1114" in imported  # the import says so
    anon = write_json(tmp_path / "anon.json", [r for r in rows if r["anony"]])
    centred = _mean_centred(anon, capsys)
    (board,) = run_boards(tmp_path / "r", bootstrap=20)
    got = dict(zip(board.table["model"], board.table["rating"]))
    assert got[MIXTRAL] == pytest.approx(1114.0, abs=1e-9)
    shift = 1114.0 - centred[MIXTRAL]
    assert got == pytest.approx({m: r + shift for m, r in centred.items()}, abs=1e-6)  # the same fit, shifted
    assert any("1114" in n and MIXTRAL in n for n in board.notes)
    saved = json.loads((tmp_path / "r" / "leaderboard.json").read_text())["overall"]["table"]
    assert {r["model"]: r["rating"] for r in saved} == pytest.approx(got, abs=1e-6)  # what the app shows


def test_board_without_mixtral_is_centred_on_mean_1000_and_says_so(tmp_path, capsys):
    rows = _rows(["m1", "m2", "m3"])
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", rows), "-o", tmp_path / "r",
             "--bootstrap", "0")
    (board,) = run_boards(tmp_path / "r", bootstrap=0)
    assert board.table["rating"].mean() == pytest.approx(1000.0)
    assert any("mean" in n and "1000" in n for n in board.notes)


def test_rate_on_the_run_points_to_the_boards_anchor_and_matches_it_with_it(tmp_path, capsys):
    rows = _rows(["m1", "m2", MIXTRAL, "m4"])
    run_main("import", "chatbot-arena", write_json(tmp_path / "cb.json", rows), "-o", tmp_path / "r",
             "--bootstrap", "0")
    capsys.readouterr()
    assert main(["rate", str(tmp_path / "r"), "--bootstrap", "0", "--format", "json"]) == 0
    assert f"--anchor {MIXTRAL}=1114" in capsys.readouterr().err
    assert main(["rate", str(tmp_path / "r"), "--bootstrap", "0", "--format", "json",
                 "--anchor", f"{MIXTRAL}=1114"]) == 0
    got = {r["model"]: r["rating"] for r in json.loads(capsys.readouterr().out)["table"]}
    (board,) = run_boards(tmp_path / "r", bootstrap=0)
    assert got == pytest.approx(dict(zip(board.table["model"], board.table["rating"])), abs=1e-9)
