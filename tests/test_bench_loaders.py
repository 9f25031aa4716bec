"""Benchmark loaders on small hand-written fixtures in each format."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.bench.loaders import detect_format, gsm8k_gold, load_items
from arena.errors import DataError


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_gsm8k_gold_after_hashes_commas_removed_and_bad_records_rejected(tmp_path):
    f = _jsonl(tmp_path / "g.jsonl", [
        {"question": "Q one?", "answer": "3 * 4 = <<3*4=12>>12\n#### 12"},
        {"question": "Q two?", "answer": "big\n#### 1,250"},
        {"question": "Q three?", "answer": "no final marker here"},
        {"question": 7, "answer": "#### 3"},
        {"question": "Q five?", "answer": "#### -4"},
    ])
    fmt, res = load_items(f)
    assert fmt == "gsm8k"
    assert [(i.id, i.answer) for i in res.items] == [("0", "12"), ("1", "1250"), ("4", "-4")]
    assert len(res.rejected) == 2 and "g.jsonl:3" in res.rejected[0] and "####" in res.rejected[0]
    assert gsm8k_gold("x\n#### $3.50") == "3.5"


def test_arc_letters_kept_numeric_labels_mapped_to_letters_bad_key_rejected(tmp_path):
    f = _jsonl(tmp_path / "arc.jsonl", [
        {"id": "a1", "question": {"stem": "Pick B", "choices": [
            {"text": "x", "label": "A"}, {"text": "y", "label": "B"}, {"text": "z", "label": "C"}]}, "answerKey": "B"},
        {"id": "a2", "question": {"stem": "Pick 3",
                                  "choices": [{"text": f"t{i}", "label": str(i)} for i in range(1, 5)]},
         "answerKey": "3"},
        {"id": "a3", "question": {"stem": "Bad", "choices": [{"text": "x", "label": "A"}, {"text": "y", "label": "B"}]},
         "answerKey": "E"},
        {"id": "a4", "question": "flat string"},
    ])
    fmt, res = load_items(f)
    assert fmt == "arc"
    a1, a2 = res.items
    assert a1.answer == "B" and [lab for lab, _ in a1.choices] == ["A", "B", "C"]
    assert a2.answer == "C" and a2.choices[2] == ("C", "t3") and a2.meta["labels"] == ["1", "2", "3", "4"]
    assert len(res.rejected) == 2 and "answerKey 'E'" in res.rejected[0]


def test_mmlu_header_with_index_and_original_headerless_with_letters(tmp_path):
    hdr = tmp_path / "anatomy_test.csv"
    hdr.write_text('question,choice0,choice1,choice2,choice3,answer\n"Which, with comma?",a,b,c,d,2\nQ2,a,b,c,d,0\n'
                   "Q3,a,b,c,d,7\nQ4,a,b,c\n")
    fmt, res = load_items(hdr)
    assert fmt == "mmlu"
    assert [(i.id, i.question, i.answer) for i in res.items] == [("anatomy-1", "Which, with comma?", "C"),
                                                                ("anatomy-2", "Q2", "A")]
    assert res.items[0].meta["subject"] == "anatomy" and len(res.rejected) == 2
    orig = tmp_path / "orig" / "virology_test.csv"
    orig.parent.mkdir()
    orig.write_text("What is a virus?,a cell,a particle,a plant,a fungus,B\nSecond?,w,x,y,z,D\n")
    _, res2 = load_items(orig)  # auto: no header -> letters
    assert [(i.id, i.answer) for i in res2.items] == [("virology-1", "B"), ("virology-2", "D")]
    _, forced = load_items(orig, "mmlu-original")
    assert [i.answer for i in forced.items] == ["B", "D"]
    _, folder = load_items(orig.parent)  # a folder of subject files
    assert len(folder.items) == 2


def test_generic_exact_jsonl_with_accepted_alternatives_and_limit(tmp_path):
    f = _jsonl(tmp_path / "e.jsonl", [
        {"id": "e1", "prompt": "Capital of France?", "answer": "Paris"},
        {"id": "e2", "prompt": "2+2?", "answer": ["4", "four"]},
        {"id": "e3", "prompt": "no answer"},
        {"id": "e1", "prompt": "dup", "answer": "x"},
    ])
    fmt, res = load_items(f)
    assert fmt == "jsonl"
    assert [(i.id, i.answer, i.accept) for i in res.items] == [("e1", "Paris", []), ("e2", "4", ["four"])]
    assert len(res.rejected) == 2 and any("duplicate id 'e1'" in r for r in res.rejected)
    _, limited = load_items(f, "jsonl", limit=1)
    assert len(limited.items) == 1


def test_malformed_json_line_is_rejected_with_file_and_line_others_load_unknown_shape_is_an_error(tmp_path):
    bad = _jsonl(tmp_path / "bad.jsonl", ['{"question": "x", "answer": "#### 1"}', "{not json", "{}"])
    fmt, res = load_items(bad)  # the format is told from the first good record
    assert fmt == "gsm8k" and [i.answer for i in res.items] == ["1"]
    assert len(res.rejected) == 2
    assert res.rejected[0].startswith(f"{bad}:2: not valid JSON") and res.rejected[1].startswith(f"{bad}:3: needs")
    only_bad = _jsonl(tmp_path / "only_bad.jsonl", ["{not json", "[1, 2"])
    with pytest.raises(DataError, match=r"only_bad.jsonl: no usable JSON record.*only_bad.jsonl:1: not valid JSON"):
        load_items(only_bad)
    odd = _jsonl(tmp_path / "odd.jsonl", [{"foo": 1}])
    with pytest.raises(DataError, match="cannot tell the benchmark format"):
        detect_format(odd)
    with pytest.raises(DataError, match="not found"):
        load_items(tmp_path / "missing.jsonl")


def test_shipped_samples_load_completely():
    root = Path(__file__).resolve().parent.parent / "data" / "bench"
    fmt, math = load_items(root / "math_numeric.jsonl")
    assert fmt == "gsm8k" and len(math.items) == 20 and not math.rejected
    fmt, sci = load_items(root / "science_choice.jsonl")
    assert fmt == "arc" and len(sci.items) == 20 and not sci.rejected
