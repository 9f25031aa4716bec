"""The `answers` backend replays FastChat and arena-hard-auto answer files into the cache."""
from __future__ import annotations

import json

from arena.config import load_config
from arena.pipeline import run_pipeline
from conftest import read_jsonl, write_config


def test_replay_fastchat_and_arena_hard_answers(tmp_path, questions_file):
    fastchat = tmp_path / "vicuna.jsonl"
    fastchat.write_text("".join(json.dumps({"question_id": q, "answer_id": f"a{q}", "model_id": "vicuna-13b",
                                            "choices": [{"index": 0, "turns": [f"v{q}-1", f"v{q}-2"]}],
                                            "tstamp": 1.0}) + "\n" for q in ("q1", "q2", "q3", "q4")))
    hard = tmp_path / "gpt-4-0314.jsonl"
    hard.write_text("".join(json.dumps({"question_id": q, "answer_id": "z", "model_id": "gpt-4-0314",
                                        "choices": [{"index": 0, "turns": [{"content": f"g{q}", "token_len": 3}]}]})
                            + "\n" for q in ("q1", "q2", "q3")))
    cfg = write_config(tmp_path, questions_file, [{"name": "vicuna", "backend": "answers", "path": str(fastchat)},
                                                  {"name": "gpt4", "backend": "answers", "path": str(hard)}])
    ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    vic = {r["question_id"]: r for r in read_jsonl(tmp_path / "ws" / "answers" / "vicuna.jsonl")}
    assert vic["q1"]["turns"] == ["vq1-1", "vq1-2"]  # two-turn question keeps both turns
    assert vic["q2"]["turns"] == ["vq2-1"]  # one-turn question keeps the first
    assert vic["q1"]["source"]["model_id"] == "vicuna-13b" and vic["q1"]["source"]["answer_id"] == "aq1"
    stages = ctx.run.info["stages"]["answers"]["models"]
    assert stages["vicuna"]["generated"] == 4
    # gpt4's file lacks q4 and has one turn for the two-turn q1: both reported, nothing invented
    assert stages["gpt4"]["generated"] == 2 and stages["gpt4"]["failed"] == 2
    msgs = [e["message"] for e in ctx.run.info["errors"]]
    assert any("1 questions have no answer" in m and "q4" in m for m in msgs)
    assert any("fewer answer turns" in m and "q1" in m for m in msgs)


def test_replay_is_cached_on_second_run(tmp_path, questions_file):
    src = tmp_path / "m.jsonl"
    src.write_text("".join(json.dumps({"question_id": q, "model": "m", "turns": ["a", "b"]}) + "\n"
                           for q in ("q1", "q2", "q3", "q4")))
    cfg = write_config(tmp_path, questions_file, [{"name": "m", "backend": "answers", "path": str(src)}])
    run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
    assert ctx.run.info["stages"]["answers"]["models"]["m"]["cached"] == 4
    assert len(read_jsonl(tmp_path / "ws" / "answers" / "m.jsonl")) == 4


def test_a_file_of_several_models_needs_model_id(tmp_path, questions_file, capsys):
    """Without model_id, each question's last line used to win: another model's answers were stored under the
    first model's name. Now the run stops before a run folder exists and lists the models; with model_id the
    chosen model's answers are replayed, each labelled with its own answer id."""
    from arena.cli import main

    src = tmp_path / "two.jsonl"
    src.write_text("".join(json.dumps({"question_id": q, "answer_id": f"{m}-{q}", "model_id": m,
                                       "choices": [{"index": 0, "turns": [f"{m} on {q}", "more"]}]}) + "\n"
                           for q in ("q1", "q2", "q3", "q4") for m in ("gpt-4-0314", "other")))
    cfg = write_config(tmp_path, questions_file, [{"name": "g", "backend": "answers", "path": str(src)}])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds answers of 2 models: 'gpt-4-0314' (line 1), 'other' (line 2)" in err and "model_id" in err
    assert not (tmp_path / "ws" / "runs").exists()
    cfg = write_config(tmp_path, questions_file, [{"name": "g", "backend": "answers", "path": str(src),
                                                   "model_id": "gpt-4-0314"}])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    got = {r["question_id"]: r for r in read_jsonl(tmp_path / "ws" / "answers" / "g.jsonl")}
    assert all(r["turns"][0] == f"gpt-4-0314 on {q}" and r["source"]["answer_id"] == f"gpt-4-0314-{q}"
               for q, r in got.items())
