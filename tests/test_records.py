"""JSONL robustness: an interrupted last line is ignored and repaired; appends stay valid."""
from __future__ import annotations

import json

import pytest

from arena.errors import DataError
from arena.records import JsonlAppender, iter_jsonl, read_records


def test_truncated_last_line_is_skipped_then_repaired_on_append(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}\n{"k": 3, "te')
    assert [r["k"] for _, r in iter_jsonl(path, strict=False)] == [1, 2]  # skipped (the app reads this way)
    with pytest.raises(DataError, match="a.jsonl:3"):
        list(iter_jsonl(path))  # a user's file with a broken last line is an error, not silently shorter
    with JsonlAppender(path) as app:
        app.append({"k": 4})
    assert [json.loads(x)["k"] for x in path.read_text().splitlines()] == [1, 2, 4]
    assert (tmp_path / "a.jsonl.bad").read_text() == '{"k": 3, "te\n'  # the cut line is set aside, not lost


def test_malformed_middle_line_strict_and_lenient(tmp_path, capsys):
    path = tmp_path / "b.jsonl"
    path.write_text('{"k": 1}\nnot json\n{"k": 3}\n')
    with pytest.raises(DataError, match="b.jsonl:2"):
        read_records(path)
    assert [r["k"] for _, r in read_records(path, strict=False)] == [1, 3]
    assert "b.jsonl: 1 damaged line(s) (line 2: not valid JSON" in capsys.readouterr().err  # said once, in words
    assert path.read_text() == '{"k": 1}\n{"k": 3}\n' and (tmp_path / "b.jsonl.bad").read_text() == "not json\n"
