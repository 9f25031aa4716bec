"""Intervals never look more certain than the data: degenerate bootstraps give no interval, few battles a flag,
and every rank-1 model is named as top."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from interop_fixtures import write_jsonl

from arena.rating import RatingOptions, format_table, rate_battles, validate_battles, write_leaderboard
from arena.rating.report import top_models
from arena.report import rating_report


def _rate(rows: list[dict], bootstrap: int = 200):
    """Rate hand-written battles."""
    return rate_battles(validate_battles(pd.DataFrame(rows)), RatingOptions(bootstrap=bootstrap, seed=1))


def test_two_tied_battles_give_no_interval_and_a_flag(tmp_path: Path) -> None:
    # Hand-worked: x and y tie twice. Every resample is again "all ties", so every bootstrap round rates both
    # 1000 and the percentile interval would be 1000.0 .. 1000.0, as if the ratings were exact.
    rows = [{"model_a": "x", "model_b": "y", "winner": "tie"}] * 2
    result = _rate(rows)
    t = result.table.set_index("model")
    assert t.loc["x", "rating"] == 1000.0 and t.loc["y", "rating"] == 1000.0
    assert t["ci_low"].isna().all() and t["ci_high"].isna().all()
    assert t["ci_note"].str.startswith("undefined: every bootstrap round gave the same rating").all()
    assert t["low_data"].all() and (t["rank"] == 1).all()
    assert any("fewer than 20 battles" in w for w in result.warnings)
    text = format_table(result)
    assert "1000.0 .. 1000.0" not in text and "undefined" in text and "low data" in text
    assert "top: 2 models share rank 1 (not separated by their intervals): x, y" in text
    report = write_leaderboard(write_jsonl(tmp_path / "b.jsonl", rows), tmp_path, RatingOptions(bootstrap=50))
    saved = json.loads((tmp_path / "leaderboard.json").read_text())["overall"]
    assert saved["top_models"] == ["x", "y"] and report["overall"]["top_models"] == ["x", "y"]
    row = saved["table"][0]
    assert row["ci_low"] is None and row["ci_high"] is None and row["low_data"] is True
    assert row["ci_note"].startswith("undefined")
    printed = rating_report(tmp_path)  # what `arena run` prints at the end
    assert "undefined" in printed and "(low data)" in printed and "1000..1000" not in printed
    assert "top: 2 models share rank 1 (not separated by their intervals): x, y" in printed


def test_one_sided_record_gives_no_interval() -> None:
    # x beats y three times: every resample repeats 3-0, so the bootstrap cannot bound the gap either.
    result = _rate([{"model_a": "x", "model_b": "y", "winner": "model_a"}] * 3)
    assert result.table["ci_low"].isna().all() and result.table["low_data"].all()


def test_enough_varied_battles_keep_their_interval_and_no_flag() -> None:
    rng = np.random.default_rng(0)
    models = ["a", "b", "c"]
    rows = []
    for _ in range(90):
        i, j = rng.choice(3, 2, replace=False)
        rows.append({"model_a": models[i], "model_b": models[j],
                     "winner": rng.choice(["model_a", "model_b", "tie"], p=[0.45 + 0.1 * (i < j), 0.45 - 0.1 * (i < j), 0.1])})
    t = _rate(rows).table
    assert (t["ci_high"] - t["ci_low"] > 1).all() and t["ci_note"].isna().all()
    assert not t["low_data"].any()
    one = _rate(rows, bootstrap=1).table  # one round: no interval, said so; the data are not thin for it
    assert one["ci_low"].isna().all() and one["ci_note"].str.contains("same resample").all()
    assert not one["low_data"].any()


def test_top_models_lists_every_rank_one_model() -> None:
    strong = [{"model_a": "top", "model_b": m, "winner": "model_a"} for m in ("u", "v") for _ in range(40)]
    strong += [{"model_a": "u", "model_b": "v", "winner": w} for w in ("model_a", "model_b", "tie") * 10]
    strong += [{"model_a": "top", "model_b": m, "winner": "model_b"} for m in ("u", "v")]
    result = _rate(strong)
    assert top_models(result) == ["top"]
    assert "top: top" in format_table(result)


def test_the_baseline_keeps_its_point_interval_and_is_not_flagged() -> None:
    """The baseline (or anchor) is the scale's reference point: its zero-width interval is by definition,
    not a degenerate bootstrap, so it keeps rating..rating and no low-data flag; the others keep theirs."""
    rows = ([{"model_a": "base", "model_b": m, "winner": w} for m in ("p", "q") for w in
             ("model_a", "model_b", "tie", "model_b", "model_a") * 6])
    for options in (RatingOptions(bootstrap=100, seed=1, baseline="base"),
                    RatingOptions(bootstrap=100, seed=1, anchor=("base", 1200.0))):
        t = rate_battles(validate_battles(pd.DataFrame(rows)), options).table.set_index("model")
        assert t.loc["base", "ci_low"] == t.loc["base", "ci_high"] == t.loc["base", "rating"]
        assert pd.isna(t.loc["base", "ci_note"]) and not t.loc["base", "low_data"]
        assert t.loc["p", "ci_low"] < t.loc["p", "rating"] < t.loc["p", "ci_high"]


def test_many_models_sharing_rank_one_are_listed_short(tmp_path: Path) -> None:
    # 20 models that all tie each other: every one shares rank 1; the line names 12 and counts the rest
    names = [f"m{k:02d}" for k in range(20)]
    rows = [{"model_a": a, "model_b": b, "winner": "tie"} for a, b in zip(names, names[1:] + names[:1])] * 2
    text = format_table(_rate(rows))
    line = next(x for x in text.splitlines() if x.startswith("top:"))
    assert line.startswith("top: 20 models share rank 1") and line.endswith(" and 8 more")
    assert line.count(", ") == 11
    write_leaderboard(write_jsonl(tmp_path / "b.jsonl", rows), tmp_path, RatingOptions(bootstrap=20))
    printed = next(x for x in rating_report(tmp_path).splitlines() if "share rank 1" in x)
    assert "top: 20 models share rank 1" in printed and printed.endswith(" and 8 more") and printed.count(", ") == 11
