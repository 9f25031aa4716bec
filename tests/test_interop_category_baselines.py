"""arena-hard v2.0 judgments with a baseline per category: every battle is scored against its own category's
baseline, one board per category (or --category C), and nothing is dropped without a note."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from interop_fixtures import read_jsonl, run_main, write_jsonl

from arena.errors import ArenaError
from arena.interop.leaderboard import arenahard_board, run_boards
from arena.rating import load_battles

BASE = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
# category -> the (game 1, game 2) labels of its rows; game 1 shows the baseline as A
ROWS = {"hard_prompt": [("B>A", "A>B"), ("A>B", "A>B"), ("A=B", "B>A"), ("B>>A", "A>B")],
        "creative_writing": [("A>B", "B>A"), ("B>A", "A=B")]}
GAME1 = {"B>A": (1.0, 1), "A>B": (0.0, 1), "A=B": (0.5, 1), "B>>A": (1.0, 3)}
GAME2 = {"A>B": (1.0, 1), "B>A": (0.0, 1), "A=B": (0.5, 1)}


def _hand(cat: str) -> float:
    pts = [GAME1[g1] for g1, _ in ROWS[cat]] + [GAME2[g2] for _, g2 in ROWS[cat]]
    return 100 * sum(p * w for p, w in pts) / sum(w for _, w in pts)


@pytest.fixture
def v2_run(tmp_path):
    rows = [{"uid": f"{cat}-{i}", "category": cat, "judge": "gpt-4.1", "model": "cand", "baseline": BASE[cat],
             "games": [{"score": s, "judgment": {"answer": f"[[{s}]]"}} for s in games]}
            for cat, rows in ROWS.items() for i, games in enumerate(rows)]
    path = write_jsonl(tmp_path / "cand.jsonl", rows)
    assert run_main("import", "arena-hard", path, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    return tmp_path / "run"


def test_each_category_against_its_baseline(v2_run):
    info = json.loads((v2_run / "run.json").read_text())
    assert info["config"]["judge"]["baselines"] == BASE
    boards = [b for b in run_boards(v2_run, bootstrap=0) if b.convention == "arena-hard"]
    assert len(boards) == 2
    used = 0
    for cat, base in BASE.items():
        (board,) = [b for b in boards if cat in b.title]
        assert base in board.title
        t = board.table.set_index("model")
        assert t.loc["cand", "score"] == pytest.approx(_hand(cat))
        assert t.loc[base, "score"] == 50.0
        used += t.loc["cand", "games"]
    assert used == len(read_jsonl(v2_run / "battles.jsonl")) == 12  # no battle left out


def test_category_option(v2_run):
    (board,) = [b for b in run_boards(v2_run, bootstrap=0, category="creative_writing")
                if b.convention == "arena-hard"]
    assert board.table.set_index("model").loc["cand", "score"] == pytest.approx(_hand("creative_writing"))
    with pytest.raises(ArenaError, match="(?s)no battles or grades in category 'coding'.*creative_writing"):
        run_boards(v2_run, bootstrap=0, category="coding")


def test_battles_not_against_the_baseline_are_counted(v2_run):
    board = arenahard_board(load_battles(v2_run / "battles.jsonl"), BASE["hard_prompt"], 0)
    assert board.table.set_index("model").loc["cand", "games"] == 8
    assert any("4 of 12 battles are not against the baseline o3-mini-2025-01-31" in n for n in board.notes)
    # no rounds, no interval (not a point interval at the score), and the note says so
    cand = board.table.set_index("model").loc["cand"]
    assert pd.isna(cand["ci_low"]) and pd.isna(cand["ci_high"])
    assert any("no interval (--bootstrap 0)" in n for n in board.notes)
    assert not any("from 0 bootstrap rounds" in n for n in board.notes)
