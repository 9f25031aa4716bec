"""A native run with strong (weighted) verdicts, exported and imported again, keeps its battles and ratings."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from interop_fixtures import native_pairwise_run, read_jsonl, run_main

from arena.errors import DataError
from arena.rating import RatingOptions, load_battles, rate_battles

RATING_FIELDS = ("question_id", "model_a", "model_b", "winner", "weight", "judge", "turn")


@pytest.fixture()
def native_run(tmp_path: Path) -> Path:
    """A pairwise run like `arena run` writes: 5-way verdicts in both orders, strong ones weighted 3."""
    run = native_pairwise_run(tmp_path / "native")
    weights = Counter(b["weight"] for b in read_jsonl(run / "battles.jsonl"))
    assert len(weights) > 1, weights  # the point of the test: some battles weigh more than 1
    return run


def _battles(run: Path) -> list[str]:
    """The battles' rating fields, as sorted comparable strings (weights as floats)."""
    rows = [{k: (float(b[k]) if k == "weight" else b.get(k)) for k in RATING_FIELDS} for b in read_jsonl(run / "battles.jsonl")]
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def _ratings(run: Path) -> list[tuple]:
    """BT ratings and bootstrap intervals (rounded) of a run's battles."""
    t = rate_battles(load_battles(run), RatingOptions(bootstrap=200, seed=3)).table
    return [(m, round(r, 6), round(lo, 6), round(hi, 6)) for m, r, lo, hi in
            zip(t["model"], t["rating"], t["ci_low"], t["ci_high"])]


@pytest.mark.parametrize("fmt", ["chatbot-arena", "mt-bench"])
def test_export_then_import_keeps_battles_weights_and_ratings(native_run, tmp_path, fmt, capsys):
    out = tmp_path / "export"
    assert run_main("export", native_run, "--format", fmt, "-o", out) == 0
    printed = capsys.readouterr().out
    path = out / "clean_battle.json" if fmt == "chatbot-arena" else out
    assert run_main("import", fmt, path, "-o", tmp_path / "again", "--bootstrap", "0") == 0
    again = tmp_path / "again"
    assert len(read_jsonl(again / "battles.jsonl")) == len(read_jsonl(native_run / "battles.jsonl"))
    assert _battles(again) == _battles(native_run)
    assert _ratings(again) == _ratings(native_run)
    assert "`weight` field" in printed  # the export says where the weights went


def test_pair_file_weight_is_validated(native_run, tmp_path):
    out = tmp_path / "export"
    run_main("export", native_run, "--format", "mt-bench", "-o", out)
    (pair,) = (out / "model_judgment").glob("*_pair.jsonl")
    rows = read_jsonl(pair)
    rows[1]["weight"] = 1e308
    pair.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"_pair.jsonl:2: field 'weight' must be a finite number between 0 and 1e\+12"):
        run_main("import", "mt-bench", out, "-o", tmp_path / "again")
