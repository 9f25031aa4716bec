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
