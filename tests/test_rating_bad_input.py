"""Bad rating input gets one clear error naming file, row and field: huge or NaN weights, huge bootstrap
counts, output paths that are the wrong kind of thing; self-battles are counted and named, never silent."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from interop_fixtures import run_main, write_jsonl

from arena.errors import ArenaError, DataError
from arena.rating import RatingOptions, load_battles, rate_battles, validate_battles, write_leaderboard
from arena.rating.cli import main as rate_main

ROWS = [{"model_a": "x", "model_b": "y", "winner": "model_a"}, {"model_a": "y", "model_b": "x", "winner": "tie"},
        {"model_a": "x", "model_b": "y", "winner": "model_b"}]


@pytest.mark.parametrize("weight", [1e308, 1e13])
def test_huge_weight_names_file_line_and_field(tmp_path: Path, weight: float) -> None:
    rows = [dict(r) for r in ROWS]
    rows[2]["weight"] = weight
    with pytest.raises(DataError, match=r"b.jsonl:3: field 'weight' must be a finite number between 0 and 1e\+12, "
                       + re.escape(f"got {weight!r}\n")):  # the value as written, not numpy's np.float64(...)
        load_battles(write_jsonl(tmp_path / "b.jsonl", rows))


def test_nan_weight_is_not_read_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + '{"model_a": "x", "model_b": "y", "winner": "tie", "weight": NaN}\n')
    with pytest.raises(DataError, match=r"b.jsonl:2: invalid JSON \(NaN is not a valid number here\)"):
        load_battles(path)
    (tmp_path / "b.json").write_text('[{"model_a": "x", "model_b": "y", "winner": "tie", "weight": Infinity}]')
    with pytest.raises(DataError, match=r"b.json: invalid JSON \(Infinity"):
        load_battles(tmp_path / "b.json")


def test_largest_allowed_weights_give_finite_ratings() -> None:
    battles = validate_battles(pd.DataFrame([{**r, "weight": 1e12} for r in ROWS] * 50))
    table = rate_battles(battles, RatingOptions(bootstrap=20)).table
    assert table["rating"].notna().all() and table["ci_low"].notna().all()


def test_bootstrap_rounds_are_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "b.jsonl", ROWS)
    start = time.monotonic()
    assert rate_main(["rate", str(path), "--bootstrap", "1000000000000"]) == 2
    assert "must be between 0 and 100000, got 1000000000000" in capsys.readouterr().err
    with pytest.raises(ArenaError, match="between 0 and 100000"):
        run_main("import", "chatbot-arena", path, "-o", tmp_path / "run", "--bootstrap", "1000000000000")
    assert not (tmp_path / "run").exists()  # rejected before any work
    assert time.monotonic() - start < 5


def test_self_battles_are_counted_named_printed_and_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ROWS + [{"model_a": "x", "model_b": "x", "winner": "tie"}] * 2 + [
        {"model_a": "z", "model_b": "z", "winner": "model_a"}]
    path = write_jsonl(tmp_path / "b.jsonl", rows)
    report = write_leaderboard(path, tmp_path / "out", RatingOptions(bootstrap=10))
    expected = "3 battle(s) of a model against itself were ignored ('x': 2, 'z': 1)"
    assert any(expected in w for w in report["warnings"])
    stored = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert any(expected in w for w in stored["overall"]["warnings"])
    run_main("import", "chatbot-arena", path, "-o", tmp_path / "run", "--bootstrap", "10")
    assert f"warning: {expected}" in capsys.readouterr().out  # import prints it, not only stores it


def test_output_paths_of_the_wrong_kind_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    battles = write_jsonl(tmp_path / "b.jsonl", ROWS)
    existing = tmp_path / "taken.txt"
    existing.write_text("keep me")
    with pytest.raises(ArenaError, match="taken.txt: -o names an existing file, not a run folder"):
        run_main("import", "chatbot-arena", battles, "-o", existing)
    run_main("import", "chatbot-arena", battles, "-o", tmp_path / "run", "--bootstrap", "0")
    with pytest.raises(ArenaError, match="taken.txt: -o names an existing file, not a folder"):
        run_main("export", tmp_path / "run", "--format", "chatbot-arena", "-o", existing)
    assert existing.read_text() == "keep me"
    assert rate_main(["rate", str(battles), "-o", str(tmp_path), "--bootstrap", "0"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}: -o names a folder")


@pytest.mark.parametrize(
    "bad_line",
    [b'\xff{}', b'{"model_a": "a\xff", "model_b": "b", "winner": "tie"}', b'{"q\xf5": 1, "model_a": "a", "model_b": "b", "winner": "tie"}'],
)
@pytest.mark.parametrize("gz", [False, True])
def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path, bad_line: bytes, gz: bool) -> None:
    import gzip

    good = b'{"model_a": "a", "model_b": "b", "winner": "tie"}\n'
    data = good * 3 + bad_line + b"\n" + good
    path = tmp_path / ("battles.jsonl.gz" if gz else "battles.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"battles\.jsonl(\.gz)?:4: not UTF-8 text \(byte 0x(ff|f5)"):
        load_battles(path)


@pytest.mark.parametrize("bad_row", [b"a,b\xff,tie", b"a\xe9,b,model_a"])
@pytest.mark.parametrize("gz", [False, True])
def test_csv_bytes_that_are_not_utf8_name_their_line(tmp_path: Path, bad_row: bytes, gz: bool, capsys) -> None:
    import gzip

    data = b"model_a,model_b,winner\n" + b"a,b,model_a\n" * 2 + bad_row + b"\nb,a,tie\n"
    path = tmp_path / ("battles.csv.gz" if gz else "battles.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DataError, match=r"battles\.csv(\.gz)?:4: not UTF-8 text \(byte 0x(ff|e9) at column \d"):
        load_battles(path)
    assert rate_main(["rate", str(path), "--bootstrap", "0"]) == 2
    assert ":4: not UTF-8 text" in capsys.readouterr().err
