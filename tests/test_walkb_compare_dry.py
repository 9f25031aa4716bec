"""`arena compare WORKSPACE` (and the app's Compare page) leave dry runs out of the default pair: after a dry
run of the weekly config, the cron job still compares the last two real runs (exit 0, not 5) and says which
dry run it skipped; dry runs pair with dry runs only when there is no pair of real runs, or when named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_compare import STRENGTH, _battles, _changed, _write_run

from arena.cli import main

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
W1, W2, DRY, DRY2 = ("20260101-000000-weekly", "20260108-000000-weekly", "20260109-000000-weekly",
                     "20260110-000000-weekly")


def _dry(run: Path) -> Path:
    """Mark a run folder as a dry run the way `arena run --dry-run` records it (config.dry_run)."""
    info = json.loads((run / "run.json").read_text())
    info["config"]["dry_run"] = True
    (run / "run.json").write_text(json.dumps(info))
    return run


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """Two real weekly runs (m-a improves in week 2), then a dry run of the same config."""
    week1 = _battles(STRENGTH, 40, seed=1)
    week2 = _changed(week1, _battles({**STRENGTH, "m-a": 1.8}, 40, seed=2), "m-a")
    _write_run(tmp_path, W1, week1)
    _write_run(tmp_path, W2, week2)
    _dry(_write_run(tmp_path, DRY, _battles(STRENGTH, 40, seed=9)))
    return tmp_path


def _compare(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    """Exit code and JSON result of `arena compare ... --format json`."""
    capsys.readouterr()
    code = main(["compare", *argv, "--rounds", "50", "--no-write", "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_dry_run_after_two_real_runs_is_skipped(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _compare([str(ws), "--fail-on-regression", "m-b"], capsys)
    assert code == 0 and out["comparable"], out["reasons"]
    assert (out["old_run"]["run_id"], out["new_run"]["run_id"]) == (W1, W2)
    assert out["better"] == ["m-a"]
    assert "1 dry run skipped" in out["picked"] and DRY in out["picked"]
    capsys.readouterr()
    assert main(["compare", str(ws), "--rounds", "50", "--no-write", "--fail-on-regression", "m-b"]) == 0
    table = capsys.readouterr().out
    assert f"old: {W1}" in table and f"new: {W2}" in table
    picked = next(line for line in table.splitlines() if line.startswith("picked: "))
    assert "the default pair is real runs" in picked and "1 dry run skipped" in picked and DRY in picked


def test_named_runs_are_compared_as_named(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    named = [str(ws / "runs" / W2), str(ws / "runs" / DRY)]
    code, out = _compare([*named, "--fail-on-regression", "m-b"], capsys)
    assert code == 5 and not out["comparable"] and any("dry-run" in r for r in out["reasons"])


def test_dry_runs_pair_with_dry_runs_when_there_is_no_real_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _battles(STRENGTH, 30, seed=4)
    _write_run(tmp_path, W1, rows)  # one real run: nothing real to compare it with
    _dry(_write_run(tmp_path, W2, rows))
    _dry(_write_run(tmp_path, DRY, rows))
    code, out = _compare([str(tmp_path), "--fail-on-regression", "m-b"], capsys)
    assert code == 0 and out["comparable"], out["reasons"]
    assert (out["old_run"]["run_id"], out["new_run"]["run_id"]) == (W2, DRY)
    assert "dry runs" in out["picked"]
    only_dry = tmp_path / "dry-only"
    for name in (W1, W2):
        _dry(_write_run(only_dry, name, rows))
    code, out = _compare([str(only_dry)], capsys)
    assert code == 0 and (out["old_run"]["run_id"], out["new_run"]["run_id"]) == (W1, W2)


def test_a_real_run_after_a_dry_run_pairs_with_the_previous_real_run(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    week3 = _battles({**STRENGTH, "m-a": 1.8}, 40, seed=3)
    _write_run(ws, DRY2, week3)
    code, out = _compare([str(ws)], capsys)
    assert code == 0 and (out["old_run"]["run_id"], out["new_run"]["run_id"]) == (W2, DRY2)
    assert "1 dry run skipped" in out["picked"] and DRY in out["picked"]


def test_the_compare_page_opens_on_the_real_pair(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["page"] = "compare"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.selectbox(key="cmp_old").value == W1 and at.selectbox(key="cmp_new").value == W2
