"""Bad records in bench task files: one message naming file, line and field; the other items load and are
scored; the skipped ones are counted in bench/<model>.json, run.json and under the CLI table; a file with no
usable record is one task error."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from arena.bench.cli import main as bench_main
from arena.bench.config import BenchTask
from arena.bench.loaders import load_items
from arena.bench.tasks import load_task
from arena.errors import ConfigError

GOOD = {
    "gsm8k": {"question": "2+2?", "answer": "2+2=4\n#### 4"},
    "arc": {"id": "a", "question": {"stem": "Pick B", "choices": [{"label": "A", "text": "x"},
                                                                 {"label": "B", "text": "y"}]}, "answerKey": "B"},
    "hellaswag": {"ctx": "He opens the door and", "endings": ["walks in.", "eats it."], "label": 0},
    "bbh": {"input": "not True is", "target": "False"},
    "jsonl": {"prompt": "Capital of France?", "answer": "Paris"},
    "reference": {"prompt": "Say hi in French", "reference": "bonjour"},
    "humaneval": {"task_id": "h/0", "prompt": "def f():\n", "test": "def check(c):\n    assert c() == 1\n",
                  "entry_point": "f"},
    "mbpp": {"task_id": 1, "text": "Return 1.", "test_list": ["assert f() == 1"]},
}
# (format, a record of the right shape but a wrong field, the field the message must name)
BAD_FIELD = [
    ("gsm8k", {"question": "3+3?", "answer": "six"}, "'answer'"),
    ("arc", {"id": "b", "question": {"stem": "Pick C", "choices": [{"label": "A", "text": "x"},
                                                                  {"label": "B", "text": "y"}]}, "answerKey": "C"},
     "answerKey 'C'"),
    ("hellaswag", {"ctx": "She sits and", "endings": ["reads.", "flies."], "label": 5}, "field 'label' is 5"),
    ("bbh", {"input": "Which?\nOptions:\n(A) x\n(B) y", "target": "(E)"}, "field 'target' is '(E)'"),
    ("jsonl", {"prompt": "Largest planet?"}, "'answer'"),
    ("jsonl", {"prompt": "Largest planet?", "answer": ""}, "'answer' must have text left"),
    ("jsonl", {"prompt": "Largest planet?", "answer": ["Jupiter", "The."]}, "'answer' must have text left"),
    ("arc", {"id": "c", "question": {"stem": "Pick A", "choices": [{"label": "A", "text": "x"},
                                                                  {"label": "A", "text": "y"}]}, "answerKey": "A"},
     "choice labels must differ"),
    ("reference", {"prompt": "Summarise this"}, "field 'reference'"),
    ("humaneval", {"task_id": "h/1", "prompt": "def g():\n", "entry_point": "g"}, "'test'"),
    ("mbpp", {"task_id": 2, "text": "Return 2.", "test_list": []}, "'test_list'"),
]


def _lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("fmt, bad, field", BAD_FIELD, ids=[f"{b[0]}-{k}" for k, b in enumerate(BAD_FIELD)])
def test_every_jsonl_loader_skips_a_malformed_line_and_a_bad_field_with_file_line_and_field(tmp_path, fmt, bad, field):
    path = _lines(tmp_path / f"{fmt}.jsonl", [GOOD[fmt], '{"broken": ', bad])
    got_fmt, res = load_items(path)  # the format is detected from the first good record
    assert got_fmt == fmt
    assert len(res.items) == 1  # the good record still loads
    assert len(res.rejected) == 2
    assert res.rejected[0].startswith(f"{path}:2: not valid JSON")
    assert res.rejected[1].startswith(f"{path}:3: ") and field in res.rejected[1]



@pytest.mark.parametrize("fmt", ["gsm8k", "hellaswag", "bbh"])
def test_a_malformed_line_shifts_no_other_items_id(tmp_path, fmt):
    rows = [{**GOOD[fmt], "tag": k} for k in range(4)]  # no ids: an item's id is its place in the file
    fixed = load_items(_lines(tmp_path / f"fixed.{fmt}.jsonl", rows))[1]
    broken = load_items(_lines(tmp_path / f"broken.{fmt}.jsonl", [rows[0], '{"broken": ', *rows[2:]]))[1]
    assert [i.id for i in fixed.items] == ["0", "1", "2", "3"]
    # ids key the answer cache and the few-shot draws: once the line is fixed, items 2 and 3 keep theirs
    assert [i.id for i in broken.items] == ["0", "2", "3"] and len(broken.rejected) == 1

CE = ["id", "question", "A", "B", "C", "D", "answer"]


def _csv(path: Path, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def test_csv_rows_with_missing_columns_or_an_answer_outside_the_options_are_skipped(tmp_path):
    ce = _csv(tmp_path / "ceval" / "logic_val.csv", [
        CE, [0, "好的题目", "甲", "乙", "丙", "丁", "A"],
        [1, "少了两列", "甲", "乙", "丙"],
        [2, "答案不在选项里", "甲", "乙", "丙", "丁", "E"],
        [3, "答案为空", "甲", "乙", "丙", "丁", ""]])
    _, res = load_items(ce)
    assert [i.id for i in res.items] == ["logic-0"]
    assert res.rejected == [
        f"{ce}:3: missing column(s) 'D', 'answer' (the row has 5 of 7)",
        f"{ce}:4: field 'answer' is 'E', not one of the options (a letter A-D)",
        f"{ce}:5: field 'answer' is empty"]
    mm = _csv(tmp_path / "mmlu" / "anatomy_test.csv", [
        ["question", "choice0", "choice1", "choice2", "choice3", "answer"],
        ["Q1", "a", "b", "c", "d", "1"], ["Q2", "a", "b", "c", "d", "4"], ["Q3", "a", "b"]])
    _, res = load_items(mm)
    assert [i.answer for i in res.items] == ["B"]
    assert res.rejected == [f"{mm}:3: field 'answer' is '4', not one of the options (a 0-based index 0-3)",
                            f"{mm}:4: missing column(s) 'choice2', 'choice3', 'answer' (the row has 3 of 6)"]
    broken = tmp_path / "broken_test.csv"
    broken.write_bytes(b"question,choice0,choice1,choice2,choice3,answer\nQ1,a,b,c,d,0\nQ2,\xff\xfe,b,c,d,1\n")
    with pytest.raises(Exception, match=r"broken_test.csv:3: not UTF-8"):
        load_items(broken)


def test_a_file_where_every_record_is_bad_is_one_clear_task_error(tmp_path):
    path = _lines(tmp_path / "all_bad.jsonl", [{"input": "x"}, {"input": "y", "target": ""}])
    with pytest.raises(ConfigError, match=r"no usable items in .*all_bad.jsonl; first rejected: .*all_bad.jsonl:1: "
                                          r"field 'target' is missing"):
        load_task(BenchTask(name="t", path=path, format="bbh"))
    junk = _lines(tmp_path / "junk.jsonl", ["not json", "{also not"])
    with pytest.raises(Exception, match=r"junk.jsonl: no usable JSON record.*junk.jsonl:1: not valid JSON"):
        load_task(BenchTask(name="t", path=junk))


def test_skipped_records_are_counted_and_reported_and_the_other_items_scored(tmp_path, capsys):
    hs = _lines(tmp_path / "hs.jsonl", [
        {"ind": 1, "ctx": "He opens the door and", "endings": ["walks in.", "eats it."], "label": 0},
        "{not json",
        {"ind": 3, "ctx": "She sits and", "endings": ["reads.", "flies."], "label": 7},
        {"ind": 4, "ctx": "They cook and", "endings": ["eat.", "melt."], "label": 0}])
    bbh = _lines(tmp_path / "bbh.jsonl", [{"input": "not True is", "target": "False"}, {"input": "no target"}])
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "workspace": str(tmp_path / "ws"), "candidates": [{"name": "d", "backend": "demo"}],
        "bench": {"tasks": [{"name": "hs", "path": str(hs), "method": "loglikelihood"},
                            {"name": "hs_gen", "path": str(hs)},
                            {"name": "bbh", "path": str(bbh)}]}}))
    rc = bench_main(["-c", str(cfg), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0  # bad records do not fail the run
    data = json.loads((tmp_path / "ws" / "bench" / "d.json").read_text())
    assert data["n"] == {"hs": 2, "hs_gen": 2, "bbh": 1}  # the good items are scored
    src = data["sources"]
    assert src["hs"]["rejected"] == 2 and src["hs_gen"]["rejected"] == 2 and src["bbh"]["rejected"] == 1
    assert src["hs"]["rejected_reasons"] == [(f"{hs}:2: not valid JSON (Expecting property name enclosed in double "
                                              "quotes at column 2) (fix or delete that line; every line must be one "
                                              "JSON object)"),
                                             f"{hs}:3: field 'label' is 7, outside the item's 2 endings (0-1)"]
    assert data["aggregates"]["hs_gen"]["rejected"] == 2
    assert "skipped records (bad input, not scored" in out
    assert f"  hs: 2 skipped; first: {hs}:2: not valid JSON" in out
    assert f"  bbh: 1 skipped; first: {bbh}:2: field 'target' is missing" in out
    run = json.loads(max((tmp_path / "ws" / "runs").glob("*/run.json")).read_text())
    messages = [e["message"] for e in run["errors"]]
    assert f"rejected: {hs}:3: field 'label' is 7, outside the item's 2 endings (0-1)" in messages
    assert run["stages"]["bench"]["models"]["d"]["hs_gen"]["rejected"] == 2
