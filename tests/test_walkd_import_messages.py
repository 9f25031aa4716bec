"""`arena import` messages: a bad record of a JSON list is named by its record number (as `arena rate` does),
and a file given more than once is named once."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import clean_battles, mt_bench_files, run_main, write_jsonl

from arena.errors import DataError


def test_a_bad_record_of_a_one_line_json_list_is_named_by_its_number(tmp_path):
    rows = clean_battles() + clean_battles()
    rows[7]["model_b"] = None
    path = tmp_path / "cba_null.json"
    path.write_text(json.dumps(rows))  # one line: line 1 names no record
    with pytest.raises(DataError, match=r"cba_null\.json: record 8: field 'model_b'") as info:
        run_main("import", "chatbot-arena", path, "-o", tmp_path / "r")
    assert ".json:1:" not in str(info.value)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(rows, indent=1))
    starts = [n for n, line in enumerate(pretty.read_text().splitlines(), start=1) if line == " {"]
    with pytest.raises(DataError, match=rf"pretty\.json: record 8 \(line {starts[7]}\): field 'model_b'"):
        run_main("import", "chatbot-arena", pretty, "-o", tmp_path / "r2")
    write_jsonl(tmp_path / "cb.jsonl", rows)  # JSONL: the line is the record
    with pytest.raises(DataError, match=r"cb\.jsonl:8: field 'model_b'"):
        run_main("import", "chatbot-arena", tmp_path / "cb.jsonl", "-o", tmp_path / "r3")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"battles": rows}))
    with pytest.raises(DataError, match=r"wrapped\.json: record 8: field 'model_b'"):
        run_main("import", "chatbot-arena", wrapped, "-o", tmp_path / "r4")


def test_a_file_given_three_times_is_counted_and_named_once(tmp_path, capsys):
    root = mt_bench_files(tmp_path / "mt_bench")
    single = root / "model_judgment" / "gpt-4_single.jsonl"
    assert run_main("import", "mt-bench", single, single, root, "-o", tmp_path / "r", "--bootstrap", "0") == 0
    out = capsys.readouterr().out
    line = next(n for n in out.splitlines() if "given more than once" in n)
    assert line.startswith("note: 1 file(s) given more than once were read once:")
    assert line.count("gpt-4_single.jsonl") == 1
