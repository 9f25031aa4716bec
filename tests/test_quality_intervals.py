"""`arena quality`: a model without an interval is not counted as confidently ordered (left out of agreement
and Brier, named in a note), and a single-mode run's score is the leaderboard's mean over all grades."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from interop_fixtures import run_main, write_jsonl

from arena.cli import main
from arena.interop.leaderboard import run_boards
from arena.quality.metrics import agreement_with_confidence, pair_rank_brier, quality


def table(rows):
    return pd.DataFrame(rows, columns=["model", "score", "low", "high"])


# the reference separates every pair A > B > C
REF = table([("A", 30, 28, 32), ("B", 20, 18, 22), ("C", 10, 8, 12)])


def test_model_without_interval_is_left_out_of_agreement_and_brier():
    # the bench orders A, B with clear intervals; C has no interval and sits *above* both by score
    bench = table([("C", 50, np.nan, np.nan), ("A", 30, 29, 31), ("B", 20, 19, 21)])
    agreement, pairs = agreement_with_confidence(bench, REF)
    assert (agreement, pairs) == (1.0, 1)  # only A-B: separated in the reference's order
    brier, n = pair_rank_brier(bench, REF)
    # A-B: P = Phi(10 / sqrt(2) / (2 / 3.92)) ~ 1 against the truth 1
    assert n == 1 and brier == pytest.approx(0.0, abs=1e-12)
    report = quality(bench, REF)
    assert report.agreement_pairs == 1 and report.brier_pairs == 1
    assert any("without an interval in this table" in note and "C" in note for note in report.notes)


def test_table_without_any_interval_still_orders_by_score():
    bench = table([("A", 3, np.nan, np.nan), ("B", 2, np.nan, np.nan), ("C", 1, np.nan, np.nan)])
    assert agreement_with_confidence(bench, REF) == (1.0, 3)  # the documented hard ordering
    assert pair_rank_brier(bench, REF) == (0.0, 3)


def test_single_mode_score_is_the_leaderboards_mean(tmp_path, capsys):
    # m: grades 2, 10, 9: mean over grades 7, mean of question means (6 + 9) / 2 = 7.5 (the old quality score)
    grades = {"m": [(1, 1, 2), (1, 2, 10), (2, 1, 9)], "n": [(1, 1, 5), (2, 1, 7), (2, 2, 7)]}
    path = write_jsonl(tmp_path / "gpt-4_single.jsonl", [
        {"question_id": q, "model": m, "judge": ["gpt-4", "single-v1"], "judgment": "x", "score": s, "turn": t}
        for m, rows in grades.items() for q, t, s in rows])
    assert run_main("import", "mt-bench", path, "-o", tmp_path / "run") == 0
    (board,) = run_boards(tmp_path / "run")
    capsys.readouterr()
    assert main(["quality", str(tmp_path / "run"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_models"] == 2
    from arena.quality.sources import load_table

    got = load_table(tmp_path / "run").table.set_index("model")
    want = board.table.set_index("model")
    for model, rows in grades.items():
        assert got.loc[model, "score"] == pytest.approx(np.mean([s for _, _, s in rows]))
        assert got.loc[model, "score"] == pytest.approx(want.loc[model, "score"])
        assert got.loc[model, "low"] <= got.loc[model, "score"] <= got.loc[model, "high"]
