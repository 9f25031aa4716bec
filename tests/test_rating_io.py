"""Reading battles: formats, gzip, run folders, and errors that name file, line and field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from arena.errors import DataError
from arena.rating import load_battles

ROWS = [
    {"model_a": "x", "model_b": "y", "winner": "model_a", "category": "math", "turn": 1, "question_id": 81},
    {"model_a": "y", "model_b": "x", "winner": "tie (bothbad)", "weight": 3, "judge": "gpt-4"},
    {"model_a": "x", "model_b": "z", "prob_a": 0.25, "len_a": 120, "len_b": 80},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write rows as JSONL."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_fields_scores_and_defaults(tmp_path: Path) -> None:
    battles = load_battles(write_jsonl(tmp_path / "b.jsonl", ROWS))
    assert battles["score"].tolist() == [1.0, 0.5, 0.25]
    assert battles["weight"].tolist() == [1.0, 3.0, 1.0]
    assert battles["category"].tolist()[0] == "math" and battles["question_id"].tolist()[0] == "81"
    assert battles["len_a"].tolist()[2] == 120


def test_json_csv_gzip_and_run_folder_agree(tmp_path: Path) -> None:
    ref = load_battles(write_jsonl(tmp_path / "b.jsonl", ROWS))
    (tmp_path / "b.json").write_text(json.dumps({"battles": ROWS}))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in ROWS))
    header = "model_a,model_b,winner,weight,prob_a,len_a,len_b\n"
    (tmp_path / "b.csv").write_text(header + "x,y,model_a,,,,\ny,x,tie (bothbad),3,,,\nx,z,,,0.25,120,80\n")
    run = tmp_path / "run"
    run.mkdir()
    write_jsonl(run / "battles.jsonl", ROWS)
    for path in ("b.json", "b.jsonl.gz", "b.csv", "run"):
        other = load_battles(tmp_path / path)
        for col in ("model_a", "model_b", "score", "weight"):
            assert other[col].tolist() == ref[col].tolist(), (path, col)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "x",\n', ":2: invalid JSON"),
        (
            '{"model_a": "x", "model_b": "y", "winner": "model_a"}\n\n{"model_b": "y", "model_a": 3, "winner": "tie"}\n',
            ":3: field 'model_a'",
        ),
        ('{"model_a": "x", "model_b": "y", "winner": "A"}\n', ":1: field 'winner'"),
        ('{"model_a": "x", "model_b": "y"}\n', ":1: field 'winner'"),
        ('{"model_a": "x", "model_b": "y", "prob_a": 1.5}\n', ":1: field 'prob_a'"),
        (
            '{"model_a": "x", "model_b": "y", "winner": "tie"}\n{"model_a": "x", "model_b": "y", "winner": "tie", "weight": -1}\n',
            ":2: field 'weight'",
        ),
        ('{"model_a": "x", "model_b": "y", "winner": "tie", "len_a": "long"}\n', ":1: field 'len_a'"),
        ("[1, 2]\n", ":1: expected a JSON object"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(DataError) as info:
        load_battles(path)
    assert f"{path}{expected}" in str(info.value)


def test_csv_errors_count_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,draw\n")
    with pytest.raises(DataError, match=r"bad\.csv:3: field 'winner'"):
        load_battles(path)


def test_json_errors_name_the_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([ROWS[0], {"model_a": "x", "model_b": "", "winner": "tie"}]))
    with pytest.raises(DataError, match=r"bad\.json: record 2: field 'model_b'"):
        load_battles(path)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("missing.jsonl", None, "no such battles file"),
        ("empty.jsonl", "\n\n", "no battles"),
        ("b.txt", "x", "unknown battles format"),
        ("nomodel.jsonl", '{"winner": "tie"}\n', "missing field 'model_a'"),
    ],
)
def test_file_level_errors(tmp_path: Path, name: str, content: str | None, expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=expected):
        load_battles(path)


def test_folder_without_battles(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder has no battles.jsonl"):
        load_battles(tmp_path)


GOOD_CSV = "model_a,model_b,winner\nx,y,model_a\ny,x,tie\n"


@pytest.mark.parametrize("name", ["b.csv.GZ", "b.jsonl.GZ", "b.json.GZ"])
def test_gzip_suffix_in_capitals(tmp_path: Path, name: str) -> None:
    text = GOOD_CSV if ".csv" in name else "".join(json.dumps(r) + "\n" for r in ROWS[:2])
    if ".json." in name:
        text = json.dumps(ROWS[:2])
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()))
    assert load_battles(path)["model_a"].tolist() == ["x", "y"]


@pytest.mark.parametrize("name", ["b.csv", "b.jsonl", "b.json"])
def test_a_byte_order_mark_is_dropped(tmp_path: Path, name: str) -> None:
    text = {"b.csv": GOOD_CSV, "b.jsonl": "".join(json.dumps(r) + "\n" for r in ROWS[:2]),
            "b.json": json.dumps(ROWS[:2])}[name]
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_battles(path)["model_a"].tolist() == ["x", "y"]


@pytest.mark.parametrize("text, line", [
    ("model_a,model_b,winner\nx,y,model_a\n\nx,y,draw\n", 4),  # a blank line before the bad row
    ('model_a,model_b,winner\n"x\nstill x",y,model_a\nx,y,draw\n', 4),  # a quoted line break
    ("\nmodel_a,model_b,winner\nx,y,model_a\nx,y,draw\n", 4),  # a blank line before the header
])
def test_csv_errors_name_the_physical_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"bad\.csv:{line}: field 'winner'"):
        load_battles(path)
    path.write_text(text.replace("draw", "tie"))
    assert len(load_battles(path)) == 2


def test_csv_header_naming_a_field_twice(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("model_a,model_b,winner,winner\nx,y,model_a,tie\n")
    with pytest.raises(DataError, match="the CSV header names 'winner' more than once"):
        load_battles(path)
