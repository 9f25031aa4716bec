"""Exports write back what was imported: MT-bench questions and reference answers as read (model_id and file
name kept), AlpacaEval source fields; a Chatbot Arena export of a run without battles is an error."""
from __future__ import annotations

import json

import pytest
from interop_fixtures import arena, read_jsonl, run_main, write_json, write_jsonl

from arena.errors import ArenaError

QUESTIONS = [
    {"question_id": 101, "category": "reasoning", "turns": ["Race?", "Last?"], "reference": ["Second.", "Unsure."]},
    {"question_id": 102, "category": "math", "turns": ["2+2?", "Times 3?"]},
    {"question_id": 131, "category": "extraction", "turns": ["Rate the reviews."],
     "reference": ["Answer: [5, 1, 3]"]},
    {"question_id": 81, "category": "writing", "turns": ["Blog.", "Rewrite."]},
]
REFERENCES = [
    {"question_id": 101, "answer_id": "r101", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["2nd", "?"]}],
     "tstamp": 1.5},
    {"question_id": 102, "answer_id": "r102", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["4", "12"]}],
     "tstamp": 2.5},
]


def test_mt_bench_questions_and_references_round_trip(tmp_path):
    data = tmp_path / "mt_bench"
    write_jsonl(data / "question.jsonl", QUESTIONS)
    write_jsonl(data / "reference_answer" / "gpt-4.jsonl", REFERENCES)
    assert run_main("import", "mt-bench", data, "-o", tmp_path / "run") == 0
    questions = {q["question_id"]: q for q in read_jsonl(tmp_path / "run" / "questions.jsonl")}
    assert questions[102]["reference"] == ["4", "12"]  # what FastChat's judge saw
    out = tmp_path / "export"
    assert run_main("export", tmp_path / "run", "--format", "mt-bench", "-o", out) == 0
    assert read_jsonl(out / "question.jsonl") == QUESTIONS
    assert sorted(p.name for p in (out / "reference_answer").iterdir()) == ["gpt-4.jsonl"]
    assert read_jsonl(out / "reference_answer" / "gpt-4.jsonl") == REFERENCES
    assert run_main("import", "mt-bench", out, "-o", tmp_path / "again") == 0
    assert read_jsonl(tmp_path / "again" / "questions.jsonl") == read_jsonl(tmp_path / "run" / "questions.jsonl")


def test_alpaca_eval_export_keeps_source_fields(tmp_path):
    inst = ["Say hi.", "Count to 3."]
    extra = {"dataset": "helpful_base", "price_per_example": 0.01, "time_per_example": 1.5}
    write_json(tmp_path / "data" / "reference_outputs.json",
               [{"instruction": i, "output": f"ref {n}", "generator": "ref", **extra} for n, i in enumerate(inst)])
    outputs = [{"instruction": i, "output": f"mA {n}", "generator": "mA", **extra} for n, i in enumerate(inst)]
    write_json(tmp_path / "data" / "mA" / "model_outputs.json", outputs)
    annotations = [{"instruction": i, "output_1": f"ref {n}", "generator_1": "ref", "dataset": "helpful_base",
                    "output_2": f"mA {n}", "generator_2": "mA", "annotator": "weighted_alpaca_eval_gpt4_turbo",
                    "preference": 1.75 - n / 2, "raw_completion": {"logprobs": [n, -1.5]},
                    "price_per_example": 0.002, "time_per_example": 0.4} for n, i in enumerate(inst)]
    write_json(tmp_path / "data" / "mA" / "annotations.json", annotations)
    assert run_main("import", "alpaca-eval", tmp_path / "data", "-o", tmp_path / "run", "--bootstrap", "0") == 0
    out = tmp_path / "export"
    assert run_main("export", tmp_path / "run", "--format", "alpaca-eval", "-o", out) == 0
    assert json.loads((out / "mA" / "annotations.json").read_text()) == annotations
    assert json.loads((out / "mA" / "model_outputs.json").read_text()) == outputs


def test_chatbot_arena_export_of_grades_only_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "gpt-4_single.jsonl", [
        {"question_id": 1, "model": "m", "judge": ["gpt-4", "single-v1"], "judgment": "[[5]]", "score": 5,
         "turn": 1}])
    assert run_main("import", "mt-bench", path, "-o", tmp_path / "run") == 0
    with pytest.raises(ArenaError, match="no battles to export"):
        run_main("export", tmp_path / "run", "--format", "chatbot-arena", "-o", tmp_path / "out")
    proc = arena("export", tmp_path / "run", "--format", "chatbot-arena", "-o", tmp_path / "out2")
    assert proc.returncode == 2 and "no battles to export" in proc.stderr
    assert not (tmp_path / "out2" / "clean_battle.json").exists()
