"""Parquet sets (glob or folder): DuckDB's out-of-core GROUP BY rates exactly like the full battles table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
from test_rating_stream import messy_battles

from arena.cli import main
from arena.errors import DataError
from arena.rating import RatingOptions, rate_all
from arena.rating.summary import battles_for_rating

RAW = ["model_a", "model_b", "winner", "weight", "prob_a", "category", "question_id", "len_a", "len_b"]


def parquet_set(folder: Path, battles: pd.DataFrame, parts: int = 3) -> Path:
    """The battles cut into `parts` Parquet files in a folder."""
    folder.mkdir()
    size = -(-len(battles) // parts)
    for k in range(parts):
        battles[RAW].iloc[k * size:(k + 1) * size].to_parquet(folder / f"part-{k:02d}.parquet")
    return folder


@pytest.mark.parametrize("engine", ["duckdb", "pyarrow"])
@pytest.mark.parametrize("bootstrap_by", ["battle", "question"])
def test_parquet_glob_rates_like_the_table(tmp_path: Path, engine: str, bootstrap_by: str) -> None:
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    battles = messy_battles(2400)
    folder = parquet_set(tmp_path / "logs", battles)
    options = RatingOptions(bootstrap=30, seed=4, bootstrap_by=bootstrap_by, baseline="m1")
    overall, per_category, _ = rate_all(battles, options)
    for source in (str(folder / "*.parquet"), folder):
        got, got_categories, _ = rate_all(battles_for_rating(source, options, engine), options)
        pdt.assert_frame_equal(got.table, overall.table, rtol=1e-9)
        assert got.warnings == overall.warnings
        for name, result in per_category.items():
            pdt.assert_frame_equal(got_categories[name].table, result.table, rtol=1e-9)


def test_a_bad_row_in_a_later_file_is_named(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    battles = messy_battles(900)
    battles.loc[700, "weight"] = -2.0
    folder = parquet_set(tmp_path / "logs", battles)
    with pytest.raises(DataError, match=r"part-02\.parquet: row 101: field 'weight'"):
        battles_for_rating(str(folder / "*.parquet"), RatingOptions(bootstrap=0), "duckdb")


def test_cli_rates_a_glob_and_says_when_nothing_matches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = parquet_set(tmp_path / "logs", messy_battles(600))
    out = tmp_path / "board.csv"
    assert main(["rate", str(folder / "part-*.parquet"), "--bootstrap", "5", "--format", "csv", "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) == 9 and out.with_name("board_head_to_head.csv").is_file()
    assert main(["rate", str(tmp_path / "none-*.parquet"), "--bootstrap", "5"]) == 2
    assert "no file matches this pattern" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["duckdb", "pyarrow"])
def test_glob_characters_in_file_names_and_empty_files(tmp_path: Path, engine: str) -> None:
    """`s[1].parquet` is a file, not the pattern that matches `s1.parquet`; an empty file in a set adds nothing."""
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    battles = messy_battles(900)
    folder = tmp_path / "logs"
    folder.mkdir()
    battles[RAW].iloc[:300].to_parquet(folder / "s[1].parquet")
    battles[RAW].iloc[300:700].to_parquet(folder / "s1.parquet")
    battles[RAW].iloc[700:].to_parquet(folder / "s*2.parquet")
    battles[RAW].iloc[:0].to_parquet(folder / "s3.parquet")
    options = RatingOptions(bootstrap=0)
    pdt.assert_frame_equal(rate_all(battles_for_rating(str(folder / "*.parquet"), options, engine), options)[0].table,
                           rate_all(pd.concat([battles.iloc[300:700], battles.iloc[700:], battles.iloc[:300]]),
                                    options)[0].table, rtol=1e-9)
    assert rate_all(battles.iloc[:300], options)[0].table.equals(
        rate_all(battles_for_rating(str(folder / "s[1].parquet"), options, engine), options)[0].table)
    with pytest.raises(DataError, match="no battles"):
        rate_all(battles_for_rating(str(folder / "s3*.parquet"), options, engine), options)


def test_parquet_categories_read_the_same_by_both_engines(tmp_path: Path) -> None:
    """Integer categories with nulls stay '1' (not '1.0') on the row-by-row path; booleans read True / False."""
    pytest.importorskip("duckdb")
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 90
    base = {"model_a": ["a", "b", "c"] * 30, "model_b": ["b", "c", "a"] * 30,
            "winner": ["model_a", "tie", "model_b", "model_b", "model_a", "tie"] * 15}
    lens = pa.array([float("nan") if i == 5 else 10.0 for i in range(n)])  # a NaN length: the row-by-row path
    tables = {"int": {"category": pa.array([i % 3 if i % 7 else None for i in range(n)], pa.int64())},
              "bool": {"category": pa.array([i % 2 == 0 for i in range(n)])}}
    for name, extra in tables.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({**base, **extra, "len_a": lens, "len_b": lens}), path)
        got = {engine: sorted(rate_all(battles_for_rating(path, RatingOptions(bootstrap=0), engine),
                                       RatingOptions(bootstrap=0))[1]) for engine in ("duckdb", "pyarrow")}
        assert got["duckdb"] == got["pyarrow"] == (["0", "1", "2"] if name == "int" else ["False", "True"])
