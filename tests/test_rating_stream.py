"""Streaming aggregation: a BattleSummary folded chunk by chunk rates exactly like the full battles table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from arena.errors import DataError
from arena.rating import RatingOptions, load_battles, rate_all, rate_battles
from arena.rating.counts import aggregate_indexed
from arena.rating.io import validate_battles
from arena.rating.leaderboard import prepare
from arena.rating.stream import iter_battle_chunks
from arena.rating.summary import summarise


def messy_battles(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """Battles with categories, weights, soft scores, self-battles, lengths and half-missing question ids."""
    rng = np.random.default_rng(seed)
    models = np.array([f"m{k}" for k in range(9)], dtype=object)
    strength = rng.normal(0, 1, len(models))
    a = rng.integers(0, len(models), n)
    b = rng.integers(0, len(models), n)
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    u = rng.random(n)
    winner = np.where(u < 0.2, "tie", np.where(u < 0.2 + 0.8 * p, "model_a", "model_b")).astype(object)
    prob = np.where(rng.random(n) < 0.1, np.round(rng.random(n), 2), np.nan)
    frame = pd.DataFrame({
        "model_a": models[a], "model_b": models[b], "winner": winner,
        "weight": rng.choice([1.0, 1.0, 3.0], n), "prob_a": prob,
        "category": rng.choice(np.array(["math", "code", None], dtype=object), n),
        "question_id": np.where(rng.random(n) < 0.5, rng.integers(0, 40, n).astype(str), None),
        "len_a": rng.integers(10, 500, n).astype(float), "len_b": rng.integers(10, 500, n).astype(float),
    })
    return validate_battles(frame)


def chunks_of(battles: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """The table cut into consecutive chunks."""
    return [battles.iloc[k:k + size].reset_index(drop=True) for k in range(0, len(battles), size)]


def assert_same_result(left, right) -> None:
    """Same table (ratings, intervals, tallies, lengths), win rates and warnings."""
    pdt.assert_frame_equal(left.table, right.table, check_exact=False, rtol=1e-9, atol=1e-9)
    pdt.assert_frame_equal(left.winrate, right.winrate, check_exact=False, rtol=1e-9)
    assert left.warnings == right.warnings
    assert left.n_battles == right.n_battles and left.resampling == right.resampling


def test_pair_counts_equal_the_per_battle_aggregation() -> None:
    battles = messy_battles()
    summary = summarise(chunks_of(battles, 700))
    for category in (None, "math"):
        view, _ = summary.prepare(category)
        ref, _ = aggregate_indexed(prepare(battles, category)[0])
        got = view.indexed[0]
        assert got.models == ref.models
        for field in ("pair_i", "pair_j", "cell_pair", "cell_score", "cell_weight", "cell_count"):
            np.testing.assert_array_equal(getattr(got, field), getattr(ref, field), err_msg=field)


@pytest.mark.parametrize("bootstrap_by", ["battle", "question"])
def test_summary_rates_like_the_table_in_every_category(bootstrap_by: str) -> None:
    battles = messy_battles()
    summary = summarise(chunks_of(battles, 1000), by_question=bootstrap_by == "question")
    options = RatingOptions(bootstrap=40, seed=5, bootstrap_by=bootstrap_by, baseline="m0")
    overall, per_category, notes = rate_all(battles, options)
    s_overall, s_per_category, s_notes = rate_all(summary, options)
    assert_same_result(s_overall, overall)
    assert sorted(s_per_category) == sorted(per_category) == ["code", "math"] and s_notes == notes
    for name in per_category:
        assert_same_result(s_per_category[name], per_category[name])


def test_summary_size_depends_on_outcomes_not_battles() -> None:
    battles = messy_battles(n=6000)
    summary = summarise(chunks_of(battles.drop(columns=["question_id"]), 500))
    small = summarise(chunks_of(battles.iloc[:3000].drop(columns=["question_id"]), 500))
    assert summary.n_battles == 6000
    # 9x9 ordered pairs x (3 categories) x (3 winners + soft scores) x 2 weights bounds the rows
    assert len(summary.combos) < 0.5 * summary.n_battles
    assert len(summary.combos) < 1.5 * len(small.combos)


def test_summary_errors_match_the_table() -> None:
    battles = validate_battles(pd.DataFrame({"model_a": ["x", "x"], "model_b": ["x", "x"], "winner": ["tie"] * 2}))
    for data in (battles, summarise([battles])):
        with pytest.raises(Exception, match="no battles between two different models"):
            rate_battles(data, RatingOptions(bootstrap=0))
        with pytest.raises(Exception, match="no battles in category 'nope'"):
            rate_battles(data, RatingOptions(bootstrap=0), category="nope")


def write_formats(tmp_path: Path, battles: pd.DataFrame) -> list[Path]:
    """The same raw battles as JSONL, gzipped JSONL, CSV and Parquet."""
    raw = battles[["model_a", "model_b", "winner", "weight", "category", "question_id"]]
    paths = [tmp_path / "b.jsonl", tmp_path / "b.jsonl.gz", tmp_path / "b.csv", tmp_path / "b.parquet"]
    raw.to_json(paths[0], orient="records", lines=True)
    raw.to_json(paths[1], orient="records", lines=True, compression="gzip")
    raw.to_csv(paths[2], index=False)
    raw.to_parquet(paths[3])
    return paths


def test_every_format_streams_in_small_chunks_to_the_same_table(tmp_path: Path) -> None:
    battles = messy_battles(n=2000)
    battles = battles[battles["prob_a"].isna()].reset_index(drop=True)
    for path in write_formats(tmp_path, battles):
        whole = load_battles(path)
        pieces = pd.concat(list(iter_battle_chunks(path, chunk_bytes=4096)), ignore_index=True)
        for col in ("model_a", "model_b", "score", "weight", "category", "question_id"):
            assert whole[col].tolist() == battles[col].tolist(), (path.name, col)
            assert pieces[col].tolist() == battles[col].tolist(), (path.name, col)


def test_fast_and_row_by_row_paths_give_the_same_table(tmp_path: Path) -> None:
    rows = [{"model_a": "x", "model_b": "y", "winner": "model_a", "question_id": 7, "turn": 2, "len_a": 3},
            {"model_a": "y", "model_b": "z", "winner": "tie", "weight": 2.5, "judge": "j", "games": [1, 2]},
            {"model_a": "z", "model_b": "x", "prob_a": 0.25, "category": "c", "header_a": 0}]
    fast = tmp_path / "fast.jsonl"
    fast.write_text("".join(json.dumps(r) + "\n" for r in rows))
    slow = tmp_path / "slow.jsonl"  # a blank line sends the block down the row-by-row path
    slow.write_text("\n" + "".join(json.dumps(r) + "\n" for r in rows))
    left, right = load_battles(fast), load_battles(slow)
    assert right["line"].tolist() == [2, 3, 4] and left["line"].tolist() == [1, 2, 3]
    pdt.assert_frame_equal(left.drop(columns="line"), right.drop(columns="line"), check_dtype=False)


@pytest.mark.parametrize("suffix, writer, where", [
    (".jsonl", lambda p, f: f.to_json(p, orient="records", lines=True), ":1502: field 'winner'"),
    (".csv", lambda p, f: f.to_csv(p, index=False), ":1503: field 'winner'"),
    (".parquet", lambda p, f: f.to_parquet(p), ": row 1502: field 'winner'"),
])
def test_an_error_deep_in_a_later_chunk_names_its_line(tmp_path: Path, suffix: str, writer, where: str) -> None:
    frame = pd.DataFrame({"model_a": ["x"] * 3000, "model_b": ["y"] * 3000, "winner": ["tie"] * 3000})
    frame.loc[1501, "winner"] = "draw"
    path = tmp_path / f"b{suffix}"
    writer(path, frame)
    with pytest.raises(Exception, match=f"{path.name}{where}"):
        list(iter_battle_chunks(path, chunk_bytes=2048))


def test_many_distinct_scores_leave_the_packed_counts_midway() -> None:
    battles = messy_battles(n=4000, seed=11)
    rng = np.random.default_rng(0)
    soft = battles.index >= 2500  # 300+ distinct scores appear only in later chunks
    battles.loc[soft, "score"] = np.round(rng.random(int(soft.sum())), 3)
    summary = summarise(chunks_of(battles, 500))
    for category in (None, "code"):
        view, _ = summary.prepare(category)
        ref, _ = aggregate_indexed(prepare(battles, category)[0])
        got = view.indexed[0]
        assert len(np.unique(got.cell_score)) > 256
        for field in ("pair_i", "pair_j", "cell_pair", "cell_score", "cell_weight", "cell_count"):
            np.testing.assert_array_equal(getattr(got, field), getattr(ref, field), err_msg=field)


@pytest.mark.parametrize("text, expected", [
    ('null\n{"model_a": "x", "model_b": "y", "winner": "tie"}\n', ":1: expected a JSON object"),  # crashed pyarrow
    ('{"model_a": "x", "model_b": "y", "winner": "tie"}\n\n{"model_a": "x", "model_b": "y", "winner": "tie"} {}\n',
     ":3: invalid JSON"),
    ('{"model_a": "x", "model_b": "y", "winner": "tie", "weight": NaN}\n', ":1: invalid JSON"),
    ('{"model_a": "x", "model_b": "y", "winner": "tie", "weight": true}\n', ":1: field 'weight'"),
])
def test_what_pyarrow_accepts_or_chokes_on_still_gets_the_exact_error(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_battles(path)
    assert f"{path}{expected}" in str(info.value)


def test_bytes_that_are_not_utf8_are_an_error_in_any_block(tmp_path: Path) -> None:
    """A bad byte in a field the engine does not read fails the same way whatever block it falls in."""
    good = b'{"model_a": "x", "model_b": "y", "winner": "model_a", "note": "fine"}\n'
    bad = b'{"model_a": "x", "model_b": "y", "winner": "tie", "note": "\xff"}\n'
    for lines, number in ((bad + good * 50, 1), (good * 50 + bad + good * 5, 51)):
        path = tmp_path / "b.jsonl"
        path.write_bytes(lines)
        for chunk_bytes in (200, 1 << 20):
            with pytest.raises(DataError, match=rf"b\.jsonl:{number}: not UTF-8 text \(byte 0xff"):
                list(iter_battle_chunks(path, chunk_bytes=chunk_bytes))


def test_style_control_names_the_file_and_row_of_a_battle_without_lengths(tmp_path: Path, capsys) -> None:
    """A folder of Parquet files, one battle of the second without len_a: the error names that file and row, as
    every other check of a battle does (not a bare line number of the whole set); likewise file:line in JSONL."""
    from arena.cli import main
    from arena.rating.summary import battles_for_rating

    rows = [{"model_a": "a", "model_b": "b", "winner": "model_a", "len_a": 10, "len_b": 12}] * 6
    folder = tmp_path / "set"
    folder.mkdir()
    pd.DataFrame(rows).to_parquet(folder / "a.parquet")
    later = pd.DataFrame(rows)
    later["len_a"] = later["len_a"].astype(float)
    later.loc[4, "len_a"] = np.nan
    later.to_parquet(folder / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet: row 5: style control needs len_a and len_b"):
        battles_for_rating(folder, RatingOptions(bootstrap=0, style_control=True))
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "len_b" or i != 2}) + "\n"
                             for i, r in enumerate(rows)))
    assert main(["rate", str(jsonl), "--style-control", "--bootstrap", "0"]) == 2
    assert f"error: {jsonl}:3: style control needs len_a and len_b" in capsys.readouterr().err
