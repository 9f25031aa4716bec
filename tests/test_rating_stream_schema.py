"""The JSONL reader parses each block with the battle fields seen so far (absent fields in pyarrow's
explicit schema cost as much as present ones) and must still see every field, wherever it first appears;
the packed counts' dense grid must count exactly like sorted keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from arena.errors import DataError
from arena.rating import packed
from arena.rating.io import load_battles, validate_battles
from arena.rating.stream import _JsonlSchema, _parse_jsonl_block, iter_battle_chunks
from arena.rating.summary import summarise


def reference(rows: list[dict]) -> pd.DataFrame:
    """The row-by-row reader's table of the same records (json module, per-row checks)."""
    return validate_battles(pd.DataFrame(rows, dtype=object))


def streamed(path: Path, chunk_bytes: int) -> pd.DataFrame:
    """The chunked reader's table, line numbers dropped (the reference has none from the file)."""
    return pd.concat(list(iter_battle_chunks(path, chunk_bytes)), ignore_index=True)


def write(path: Path, rows: list[dict], trailing_newline: bool = True) -> Path:
    text = "\n".join(json.dumps(r) for r in rows) + ("\n" if trailing_newline else "")
    path.write_text(text)
    return path


def plain_rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"model_a": f"m{rng.integers(0, 6)}", "model_b": f"m{rng.integers(6, 12)}",
             "winner": str(rng.choice(["model_a", "model_b", "tie"]))} for _ in range(n)]


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as objects, every kind of missing as None (chunks without a field hold None, parsed ones NaN)."""
    frame = frame.drop(columns="line").astype(object)
    return frame.where(frame.notna(), None)


def assert_same(got: pd.DataFrame, rows: list[dict]) -> None:
    assert got["line"].tolist() == list(range(1, len(rows) + 1))
    pdt.assert_frame_equal(plain(got), plain(reference(rows)))


@pytest.mark.parametrize("late", [
    {"weight": 3.0}, {"weight": 2}, {"prob_a": 0.25}, {"category": "math"}, {"question_id": 17},
    {"len_a": 120, "len_b": 80.5}, {"turn": 2, "judge": "j1"}, {"weight": None},
])
def test_a_field_first_seen_deep_in_the_file_is_read(tmp_path: Path, late: dict) -> None:
    rows = plain_rows(3000)
    for k in range(2500, 3000, 7):  # only in late blocks: the first blocks' schema lacks it
        rows[k] = {**rows[k], **late}
    assert_same(streamed(write(tmp_path / "b.jsonl", rows), 4096), rows)


def test_fields_the_engine_does_not_read_switch_to_ignoring_them(tmp_path: Path) -> None:
    rows = plain_rows(2000, seed=1)
    for k, row in enumerate(rows):
        row["conversation_a"] = [{"role": "user", "content": "x" * (k % 50)}]
        row["tstamp"] = 1.7e9 + k if k % 3 else str(k)  # changes type: inference would fail
        if k > 1500 and k % 5 == 0:
            row["weight"] = 3.0
    assert_same(streamed(write(tmp_path / "b.jsonl", rows), 4096), rows)


def test_an_inferred_field_that_changes_type_falls_back_to_the_battle_fields(tmp_path: Path) -> None:
    rows = plain_rows(400, seed=2)
    for k, row in enumerate(rows):
        row["note"] = k if k % 2 else "text"
    block = "".join(json.dumps(r) + "\n" for r in rows).encode()
    schema = _JsonlSchema()
    table = _parse_jsonl_block(block, len(rows), schema)
    assert table.num_rows == len(rows) and "note" not in table.column_names and not schema.infer
    assert_same(streamed(write(tmp_path / "b.jsonl", rows), 1 << 20), rows)


def test_schema_learns_battle_fields_and_stops_inferring_at_other_fields() -> None:
    schema = _JsonlSchema()
    first = b'{"model_a": "x", "model_b": "y", "winner": "tie"}\n'
    _parse_jsonl_block(first, 1, schema)
    assert schema.infer and schema.seen == ["model_a", "model_b", "winner"]
    _parse_jsonl_block(b'{"model_a": "x", "model_b": "y", "winner": "tie", "weight": 2}\n', 1, schema)
    assert schema.infer and schema.seen == ["model_a", "model_b", "winner", "weight"]
    _parse_jsonl_block(b'{"model_a": "x", "model_b": "y", "winner": "tie", "games": [1]}\n', 1, schema)
    assert not schema.infer
    table = _parse_jsonl_block(b'{"model_a": "x", "model_b": "y", "prob_a": 0.5, "games": [1]}\n', 1, schema)
    assert table.column("prob_a").to_pylist() == [0.5] and "games" not in table.column_names


def test_long_lines_and_a_missing_final_newline(tmp_path: Path) -> None:
    rows = plain_rows(50, seed=3)
    rows[10]["judge"] = "j" * 5000  # longer than a block
    assert_same(streamed(write(tmp_path / "b.jsonl", rows, trailing_newline=False), 512), rows)


def test_dense_grid_and_sorted_keys_count_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    n = 6000
    models = np.array([f"m{k}" for k in range(30)], dtype=object)
    raw = pd.DataFrame({
        "model_a": models[rng.integers(0, 10, n)], "model_b": models[rng.integers(0, 30, n)],
        "winner": rng.choice(["model_a", "model_b", "tie"], n), "weight": rng.choice([1.0, 2.0, 3.0], n),
        "category": rng.choice(np.array(["a", "b", None], dtype=object), n),
    })
    raw.loc[4000:, "model_a"] = models[rng.integers(10, 30, n - 4000)]  # the grid grows midway
    battles = validate_battles(raw)
    chunks = [battles.iloc[k:k + 700] for k in range(0, n, 700)]
    dense = summarise(chunks).combos
    monkeypatch.setattr(packed, "DENSE_CELLS", 5000)  # leaves the grid after a few chunks
    mixed = summarise(chunks).combos
    monkeypatch.setattr(packed, "DENSE_CELLS", 0)  # sorted keys from the start
    sparse = summarise(chunks).combos
    pdt.assert_frame_equal(dense, mixed)
    pdt.assert_frame_equal(dense, sparse)
    assert dense["count"].sum() == n and len(dense) > 500
    first = battles.assign(a=battles["model_a"], b=battles["model_b"]).groupby(
        ["a", "b", "score", "weight", battles["category"].fillna("-")], sort=False).size()
    assert sorted(first.to_numpy().tolist()) == sorted(dense["count"].tolist())


def test_model_tallies_of_a_summary_and_of_battles_match_a_plain_count() -> None:
    from arena.rating.counts import model_tallies

    rng = np.random.default_rng(9)
    n = 3000
    models = np.array(["zeta", "alpha", "Mu", "beta-2", "beta-10"], dtype=object)
    raw = pd.DataFrame({"model_a": models[rng.integers(0, 5, n)], "model_b": models[rng.integers(0, 5, n)],
                        "winner": rng.choice(["model_a", "model_b", "tie"], n),
                        "prob_a": np.where(rng.random(n) < 0.2, rng.choice([0.3, 0.5, 0.9], n), np.nan)})
    battles = validate_battles(raw)
    battles = battles[battles["model_a"] != battles["model_b"]].reset_index(drop=True)  # as prepare() leaves them
    want = {}
    for a, b, s in zip(battles["model_a"], battles["model_b"], battles["score"]):
        for model, own in ((a, s), (b, 1.0 - s)):
            row = want.setdefault(model, [0, 0, 0, 0])
            row[0] += 1
            row[1 if own > 0.5 else 2 if own == 0.5 else 3] += 1
    view, _ = summarise([battles.iloc[:1000], battles.iloc[1000:]]).prepare(None)
    for got in (model_tallies(battles), model_tallies(view)):
        assert list(got.index) == sorted(want) and got.index.name == "model"
        assert got[["battles", "wins", "ties", "losses"]].to_numpy().tolist() == [want[m] for m in sorted(want)]


def test_a_later_block_without_model_a_names_its_first_line(tmp_path: Path) -> None:
    """A block past the first whose rows all lack model_a (e.g. a second file appended with other field names)
    is a bad row at a known line, not a file 'missing model_a in every battle'."""
    good, bad = plain_rows(9), [{"model_1": "m1", "model_b": "m2", "winner": "tie"}] * 20
    path = write(tmp_path / "b.jsonl", good + bad)
    boundary = len("".join(json.dumps(r) + "\n" for r in good))  # the second block starts at the first bad row
    for chunk in (boundary, 1 << 20):
        with pytest.raises(DataError, match=r"b\.jsonl:10: field 'model_a' must be a non-empty string"):
            streamed(path, chunk)


def test_a_later_block_without_model_a_after_a_row_by_row_block_names_its_first_line(tmp_path: Path) -> None:
    """The same when the first block went row by row (a blank line): the schema has not learnt model_a yet."""
    good, bad = plain_rows(9), [{"model_1": "m1", "model_b": "m2", "winner": "tie"}] * 20
    path = tmp_path / "b.jsonl"
    path.write_text("\n" + "".join(json.dumps(r) + "\n" for r in good + bad))
    boundary = 1 + len("".join(json.dumps(r) + "\n" for r in good))
    for chunk in (boundary, 1 << 20):
        with pytest.raises(DataError, match=r"b\.jsonl:11: field 'model_a' must be a non-empty string"):
            streamed(path, chunk)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".json"])
def test_a_null_model_name_in_every_battle_names_its_line_and_an_absent_field_the_file(
    tmp_path: Path, suffix: str
) -> None:
    """model_a present but null (or empty in CSV) on every row is a bad value at its line; only a field that
    no record has is 'missing in every battle' (before: the fast path said 'missing' for both)."""
    rows = [{"model_a": None, "model_b": "b", "winner": "model_a"}] * 3
    path = tmp_path / f"null{suffix}"
    frame = pd.DataFrame(rows)
    if suffix == ".jsonl":
        write(path, rows)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    where = {".jsonl": ":1", ".csv": ":2", ".parquet": ": row 1", ".json": ": record 1"}[suffix]
    with pytest.raises(DataError, match=rf"null\{suffix}{where}: field 'model_a' must be a non-empty string"):
        load_battles(path)
    if suffix != ".json":  # the chunked reader `arena rate` uses
        with pytest.raises(DataError, match=rf"null\{suffix}{where}: field 'model_a'"):
            streamed(path, 1 << 20)
    absent = tmp_path / "absent.jsonl"
    write(absent, [{"model_b": "b", "winner": "model_a"}] * 3)
    with pytest.raises(DataError, match=r"absent\.jsonl: missing field 'model_a' in every battle"):
        load_battles(absent)
    with pytest.raises(DataError, match=r"absent\.jsonl: missing field 'model_a' in every battle"):
        streamed(absent, 1 << 20)
