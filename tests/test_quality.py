"""`arena quality`: the arena-hard paper's benchmark-quality metrics against hand-worked cases, and the CLI
on a real (dry-run) quick-start run."""
from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.cli import main
from arena.quality.metrics import agreement_with_confidence, correlations, pair_rank_brier, quality, separability

ROOT = Path(__file__).resolve().parents[1]


def table(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    """A score table from (model, score, low, high) tuples."""
    return pd.DataFrame(rows, columns=["model", "score", "low", "high"])


def test_separability_on_three_models_by_hand():
    # A [10, 20] and B [15, 25] overlap; C [30, 40] is clear of both: 2 of 3 pairs separable
    bench = table([("C", 35, 30, 40), ("B", 20, 15, 25), ("A", 15, 10, 20)])
    assert separability(bench) == (2, 3, 3)
    assert quality(bench).separability == pytest.approx(2 / 3)


def test_touching_intervals_separate_but_a_point_inside_does_not():
    touching = table([("A", 1.5, 1, 2), ("B", 2.5, 2, 3)])
    assert separability(touching)[0] == 1
    baseline_inside = table([("cand", 1010, 950, 1070), ("base", 1000, 1000, 1000)])
    assert separability(baseline_inside)[0] == 0
    baseline_outside = table([("cand", 1100, 1050, 1150), ("base", 1000, 1000, 1000)])
    assert separability(baseline_outside)[0] == 1


def test_models_without_interval_are_left_out_of_separability_and_said():
    bench = table([("A", 30, 25, 35), ("B", 10, 5, 15), ("C", 20, np.nan, np.nan)])
    rep = quality(bench)
    assert (rep.separable_pairs, rep.n_pairs, rep.interval_models) == (1, 1, 2)
    assert any("without an interval" in n for n in rep.notes)


def test_agreement_with_confidence_by_hand():
    # the reference separates all three pairs: X > Y > Z
    ref = table([("X", 30, 28, 32), ("Y", 20, 18, 22), ("Z", 10, 8, 12)])
    # benchmark: X-Y separated, same order (+1); X-Z overlapping (0); Y-Z separated, opposite order (-1)
    bench = table([("X", 50, 45, 55), ("Z", 44, 38, 50), ("Y", 30, 25, 35)])
    agreement, pairs = agreement_with_confidence(bench, ref)
    assert pairs == 3 and agreement == pytest.approx(0.0)
    # arena-hard-auto's script scale: 1 (agree) + 0.5 (unsure) + 0 (disagree) over 3 pairs
    assert quality(bench, ref).agreement_01 == pytest.approx((1 + 0.5 + 0) / 3)


def test_agreement_counts_only_pairs_the_reference_separates():
    ref = table([("X", 30, 20, 40), ("Y", 25, 15, 35), ("Z", 5, 0, 10)])  # X-Y not separated by the reference
    bench = table([("Y", 60, 55, 65), ("X", 40, 35, 45), ("Z", 10, 5, 15)])  # X-Y confidently reversed
    agreement, pairs = agreement_with_confidence(bench, ref)
    assert pairs == 2 and agreement == pytest.approx(1.0)


def test_reference_without_intervals_separates_every_pair_with_different_scores():
    ref = table([("X", 3, np.nan, np.nan), ("Y", 2, np.nan, np.nan), ("Z", 1, np.nan, np.nan)])
    bench = table([("X", 30, 28, 32), ("Y", 20, 18, 22), ("Z", 10, 8, 12)])
    rep = quality(bench, ref)
    assert rep.agreement == pytest.approx(1.0) and rep.agreement_pairs == 3
    assert any("no intervals" in n for n in rep.notes)


def test_rank_correlations_by_hand():
    # ranks 1 2 3 4 against 1 3 2 4: rho = 1 - 6*2/(4*15) = 0.8; 5 concordant, 1 discordant: tau = 4/6
    bench = table([("a", 4, np.nan, np.nan), ("b", 3, np.nan, np.nan), ("c", 2, np.nan, np.nan),
                   ("d", 1, np.nan, np.nan)])
    ref = table([("a", 40, np.nan, np.nan), ("b", 20, np.nan, np.nan), ("c", 30, np.nan, np.nan),
                 ("d", 10, np.nan, np.nan)])
    rho, tau = correlations(bench, ref)
    assert rho == pytest.approx(0.8) and tau == pytest.approx(4 / 6)


def test_pair_rank_brier_by_hand():
    # sd 5 each (95% interval = score +- 1.959964 sd): P(A above B) = Phi(10 / (5 * sqrt 2)) = Phi(sqrt 2)
    z = 1.959963984540054
    bench = table([("A", 10, 10 - 5 * z, 10 + 5 * z), ("B", 0, -5 * z, 5 * z)])
    p = 0.5 * (1 + math.erf(math.sqrt(2) / math.sqrt(2)))
    ref_agrees = table([("A", 2, np.nan, np.nan), ("B", 1, np.nan, np.nan)])
    ref_reversed = table([("A", 1, np.nan, np.nan), ("B", 2, np.nan, np.nan)])
    assert pair_rank_brier(bench, ref_agrees) == (pytest.approx((1 - p) ** 2), 1)
    assert pair_rank_brier(bench, ref_reversed) == (pytest.approx(p ** 2), 1)
    # no intervals: a hard 0/1 forecast; a reference tie (C-D) is skipped. Errors: A-B 1, A-C 0, A-D 0,
    # B-C 1, B-D 1 -> 3 / 5
    hard = table([("A", 10, np.nan, np.nan), ("B", 0, np.nan, np.nan), ("C", 5, np.nan, np.nan),
                  ("D", 5, np.nan, np.nan)])
    ref = table([("A", 1, np.nan, np.nan), ("B", 2, np.nan, np.nan), ("C", 0, np.nan, np.nan),
                 ("D", 0, np.nan, np.nan)])
    assert pair_rank_brier(hard, ref) == (pytest.approx(0.6), 5)


def quick_start_run(tmp_path: Path, config: str) -> Path:
    """A real dry run of a shipped config (demo candidates, seeded judge) on a few questions."""
    ws = tmp_path / "ws"
    code = main(["run", "-c", str(ROOT / "configs" / config), "--dry-run", "--no-progress", "--out", str(ws),
                 "--limit", "8"])
    assert code == 0
    return ws


def test_cli_on_a_quick_start_run_matches_its_leaderboard(tmp_path, capsys):
    ws = quick_start_run(tmp_path, "cfg_pairwise.yaml")
    run = next((ws / "runs").iterdir())
    board = pd.read_csv(run / "leaderboard.csv")
    # separability recomputed straight from the CSV, pair by pair
    rows = list(board[["ci_low", "ci_high"]].itertuples(index=False))
    expected = sum((a.ci_high <= b.ci_low) or (b.ci_high <= a.ci_low) for a, b in combinations(rows, 2))
    ref = tmp_path / "human.csv"
    ranked = board.sort_values("model")  # a reference ordering by name: agreement can be checked by hand
    pd.DataFrame({"model": ranked["model"], "score": range(len(ranked), 0, -1)}).to_csv(ref, index=False)
    capsys.readouterr()
    assert main(["quality", str(ws), "--reference", str(ref), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)[0]
    assert out["separable_pairs"] == expected and out["n_pairs"] == len(rows) * (len(rows) - 1) // 2
    assert out["shared_models"] and set(out["shared_models"]) == set(board["model"])
    assert -1 <= out["agreement"] <= 1 and out["brier_pairs"] == out["n_pairs"]
    assert main(["quality", str(run)]) == 0
    text = capsys.readouterr().out
    assert "separability with confidence" in text and "resampling battles" in text


def test_cli_on_a_single_mode_run_bootstraps_questions(tmp_path, capsys):
    ws = quick_start_run(tmp_path, "cfg_single.yaml")
    capsys.readouterr()
    assert main(["quality", str(ws), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)[0]
    assert "resampling 8 questions" in out["source"] and out["n_pairs"] == 3 and out["interval_models"] == 3


def test_single_mode_intervals_separate_clear_grades(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rng = np.random.default_rng(1)
    lines = []
    for q in range(40):
        for model, mean in (("strong", 9.0), ("weak", 2.0), ("weak-too", 2.1)):
            grade = float(np.clip(round(mean + rng.normal(0, 0.5)), 1, 10))
            lines.append(json.dumps({"question_id": f"q{q}", "model": model, "turn": 1, "score": grade}))
    (run / "scores.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["quality", str(run), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)[0]
    assert out["separable_pairs"] == 2  # strong vs each weak one; the two weak ones overlap


def test_bad_reference_is_one_clear_error(tmp_path, capsys):
    run = tmp_path / "lb.csv"
    pd.DataFrame({"model": ["a", "b"], "rating": [1010, 990]}).to_csv(run, index=False)
    ref = tmp_path / "ref.csv"
    pd.DataFrame({"name_of_model": ["a"], "points": [3]}).to_csv(ref, index=False)
    assert main(["quality", str(run), "--reference", str(ref)]) == 2
    err = capsys.readouterr().err
    assert "ref.csv" in err and "need a 'model' column" in err and "name_of_model" in err
    assert main(["quality", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
