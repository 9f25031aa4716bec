"""What `arena compare` prints says what it did: with --per-model the level is each model's alone (not "for
the whole table"), and the power section's formula is the one behind its figures (the leaderboard fallback
when every paired interval has width 0, as between two dry runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.stats import norm
from test_compare import STRENGTH, _battles, _changed, _write_run

from arena.cli import main
from arena.compare.power import noise_floor

ROOT = Path(__file__).resolve().parents[1]


def _levels_line(text: str) -> str:
    """The line (or list item) that states the confidence level."""
    return next(line for line in text.splitlines() if "% level " in line)


def test_per_model_level_is_not_said_to_cover_the_whole_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_rows = _battles(STRENGTH, 40, seed=1)
    old = _write_run(tmp_path, "20260101-000000-weekly", old_rows)
    new = _write_run(tmp_path, "20260108-000000-weekly",
                     _changed(old_rows, _battles({**STRENGTH, "m-a": 1.5}, 40, seed=2), "m-a"))
    capsys.readouterr()
    assert main(["compare", str(old), str(new), "--per-model", "--level", "0.9", "--rounds", "50"]) == 0
    line = _levels_line(capsys.readouterr().out)
    assert "whole table" not in line and line.startswith("90% level for each model alone")
    assert "adjustment: none" in line
    report = _levels_line((new / "report.md").read_text())
    assert "whole table" not in report and "90% level for each model alone" in report
    # the default: adjusted over the table
    assert main(["compare", str(old), str(new), "--level", "0.9", "--rounds", "50"]) == 0
    line = _levels_line(capsys.readouterr().out)
    assert line.startswith("90% level for the whole table") and "bonferroni" in line


def test_formula_follows_the_basis_used() -> None:
    rows = [{"model": "a", "ci_low": -6.0, "ci_high": 14.0, "verdict": "no detectable change"},
            {"model": "b", "ci_low": 0.0, "ci_high": 0.0, "verdict": "no detectable change"}]
    paired = noise_floor(rows, n_questions=25, model_level=0.95)
    assert "widest paired interval" in paired["basis"] and "widest" in paired["formula"]
    assert paired["se"] == pytest.approx(20.0 / (2 * norm.ppf(0.975)))
    flat = [{**r, "ci_low": 0.0, "ci_high": 0.0} for r in rows]
    board = {"options": {"percentiles": [5.0, 95.0]},
             "overall": {"table": [{"ci_low": -10.0, "ci_high": 10.0}, {"ci_low": -30.0, "ci_high": 30.0},
                                   {"ci_low": -20.0, "ci_high": 20.0}]}}
    for shared, questions in ((25, 25), (25, 100)):
        power = noise_floor(flat, n_questions=shared, model_level=0.95, leaderboard=board,
                            leaderboard_questions=questions)
        assert "median width" in power["basis"]
        formula = power["formula"]
        assert "widest" not in formula and "median width" in formula and "sqrt(2)" in formula
        assert "z_L" in formula and ("sqrt(n_leaderboard / n)" in formula) == (questions != shared)
        # the formula as printed, by hand: the leaderboard's own 90% intervals (5th-95th percentiles)
        z_l = norm.ppf(0.95)
        se = math.sqrt(2) * 40.0 / (2 * z_l) * math.sqrt(questions / shared)
        assert power["se"] == pytest.approx(se, rel=1e-6)
        z, z_p = norm.ppf(0.975), norm.ppf(0.8)
        assert power["detectable"] == pytest.approx((z + z_p) * se, rel=1e-6)


def test_two_dry_runs_print_the_leaderboard_formula(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    for _ in range(2):
        assert main(["run", "-c", str(ROOT / "configs" / "cfg_pairwise.yaml"), "--dry-run", "--out", str(ws),
                     "--limit", "10", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", str(ws), "--rounds", "50", "--format", "json"]) == 0
    power = json.loads(capsys.readouterr().out)["power"]
    assert power["available"] and "median width" in power["basis"]
    assert "widest" not in power["formula"] and "median width" in power["formula"]
    new = sorted((ws / "runs").iterdir())[-1]
    report = (new / "report.md").read_text().splitlines()
    formula = next(line for line in report if line.startswith("Formula:"))
    assert "widest" not in formula and "sqrt(2)" in formula
