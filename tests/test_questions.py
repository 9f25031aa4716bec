"""Question loaders: Arena, MT-bench, arena-hard-auto v0.1 / 2025, AlpacaEval; references; errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.errors import DataError
from arena.questions import load_questions


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mt_bench_format_with_inline_and_file_references(tmp_path):
    q = _jsonl(tmp_path / "question.jsonl", [
        {"question_id": 81, "category": "writing", "turns": ["Write a blog post.", "Rewrite it."]},
        {"question_id": 111, "category": "math", "turns": ["Area of a triangle?", "Circle area?"],
         "reference": ["Area is 3", "5pi"]},
        {"question_id": 101, "category": "reasoning", "turns": ["Race question", "Follow up"]},
    ])
    ref = _jsonl(tmp_path / "gpt-4.jsonl", [
        {"question_id": 101, "answer_id": "x", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["2nd", "?"]}]},
    ])
    qs = load_questions(q, "auto", references=ref)
    assert [x.question_id for x in qs] == [81, 111, 101]  # ids kept exactly (integers)
    assert qs[0].turns == ["Write a blog post.", "Rewrite it."] and qs[0].reference is None
    assert qs[1].reference == ["Area is 3", "5pi"]
    assert qs[2].reference == ["2nd", "?"]


def test_arena_hard_v01_and_2025(tmp_path):
    v01 = _jsonl(tmp_path / "v01.jsonl", [{"question_id": "abc123", "category": "arena-hard-v0.1", "cluster": "x",
                                           "turns": [{"content": "Explain monads."}]}])
    qs = load_questions(v01)
    assert qs[0].question_id == "abc123" and qs[0].turns == ["Explain monads."] and qs[0].meta["cluster"] == "x"
    v2 = _jsonl(tmp_path / "v2.jsonl", [{"uid": "u-1", "category": "hard_prompt", "subcategory": "coding",
                                         "prompt": "Write a parser."}])
    qs = load_questions(v2, "arena-hard")
    assert qs[0].question_id == "u-1" and qs[0].turns == ["Write a parser."] and qs[0].category == "hard_prompt"


def test_alpaca_eval_json_list(tmp_path):
    path = tmp_path / "alpaca_eval.json"
    path.write_text(json.dumps([{"instruction": "Say hi", "dataset": "helpful_base", "output": "hi",
                                 "generator": "gpt4"}, {"instruction": "Say bye", "dataset": "koala"}]))
    qs = load_questions(path)
    assert [q.turns for q in qs] == [["Say hi"], ["Say bye"]]
    assert [q.category for q in qs] == ["helpful_base", "koala"] and qs[0].question_id == 0


def test_category_filter_and_limit(tmp_path, questions_file):
    assert [q.qid for q in load_questions(questions_file, categories=["math", "coding"])] == ["q2", "q3"]
    assert len(load_questions(questions_file, limit=2)) == 2
    with pytest.raises(DataError, match="no question has category"):
        load_questions(questions_file, categories=["poetry"])


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question_id": 1, "turns": ["a"]}\n{"question_id": 2, "turns": [\n{"question_id": 3, "turns": ["c"]}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON"):
        load_questions(path)


def test_missing_field_duplicate_and_reference_length(tmp_path):
    with pytest.raises(DataError, match=r"x.jsonl:1: missing field 'turns'"):
        load_questions(_jsonl(tmp_path / "x.jsonl", [{"question_id": 1, "text": "a"}]), "arena")
    with pytest.raises(DataError, match="duplicate question_id"):
        load_questions(_jsonl(tmp_path / "d.jsonl", [{"question_id": 1, "turns": ["a"]}] * 2))
    with pytest.raises(DataError, match="1 entries for 2 turns"):
        load_questions(_jsonl(tmp_path / "r.jsonl", [{"question_id": 1, "turns": ["a", "b"], "reference": ["x"]}]))


def test_shipped_question_set():
    path = Path(__file__).resolve().parents[1] / "data" / "questions.jsonl"
    qs = load_questions(path)
    cats = {q.category for q in qs}
    assert len(qs) >= 60 and len(cats) >= 8 and sum(len(q.turns) == 2 for q in qs) >= 10
    for q in qs:
        if q.category in ("math", "reasoning", "coding"):
            assert q.reference and all(r.strip() for r in q.reference), q.question_id


def test_an_error_in_a_pretty_printed_json_list_names_the_records_line(tmp_path):
    rows = [{"instruction": "Say hi", "dataset": "a"}, {"instruction": "Say bye", "dataset": "b"},
            {"dataset": "c", "output": "no instruction here"}]
    path = tmp_path / "alpaca_eval.json"
    text = json.dumps(rows, indent=4)
    path.write_text(text)
    start = [i for i, line in enumerate(text.splitlines()) if line == "    {"][2] + 1  # the third record's brace
    assert text.splitlines()[start - 1:start + 1] == ["    {", '        "dataset": "c",']
    with pytest.raises(DataError, match=rf"alpaca_eval.json:{start}: .*instruction"):
        load_questions(path)


@pytest.mark.parametrize("rec, message", [
    ({"uid": None, "prompt": "hi"}, "field 'uid' must be a text or an integer id, got null"),
    ({"question_id": ["l"], "turns": ["hi"]}, "field 'question_id' must be a text or an integer id, got \\['l'\\]"),
    ({"question_id": True, "turns": ["hi"]}, "got True"),
    ({"question_id": 1.5, "turns": ["hi"]}, "got 1.5"),
    ({"question_id": " ", "turns": ["hi"]}, "got ' '"),
    ({"question_id": "q1", "turns": ["hi", "  "]}, "turn 2 is empty"),
    ({"uid": "u1", "prompt": ""}, "turn 1 is empty"),
])
def test_an_id_that_names_no_question_or_an_empty_prompt_is_refused(tmp_path, rec, message):
    path = _jsonl(tmp_path / "q.jsonl", [{"question_id": "ok", "turns": ["fine"]} if "turns" in rec
                                          else {"uid": "ok", "prompt": "fine"}, rec])
    with pytest.raises(DataError, match=rf"q.jsonl:2: .*{message}"):
        load_questions(path)
