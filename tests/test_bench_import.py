"""`arena bench import lm-eval`: lm-evaluation-harness results JSON into WORKSPACE/bench/<model>.json."""
from __future__ import annotations

import json

import pytest

from arena.bench.cli import main as bench_main
from arena.bench.lmeval import read_lm_eval
from arena.errors import DataError

RESULTS = {  # shaped like lm-eval 0.4 results_<date>.json (trimmed)
    "results": {
        "arc_challenge": {"alias": "arc_challenge", "acc,none": 0.52, "acc_stderr,none": 0.0146,
                          "acc_norm,none": 0.55, "acc_norm_stderr,none": 0.0145},
        "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.71, "exact_match_stderr,strict-match": 0.0125,
                  "exact_match,flexible-extract": 0.74, "exact_match_stderr,flexible-extract": 0.012},
        "mmlu": {"alias": "mmlu", "acc,none": 0.68, "acc_stderr,none": 0.0037},
        "mmlu_anatomy": {"alias": " - anatomy", "acc,none": 0.61, "acc_stderr,none": 0.04},
        "weird": {"alias": "weird", "acc,none": "N/A"},
    },
    "group_subtasks": {"mmlu": ["mmlu_anatomy"], "arc_challenge": [], "gsm8k": []},
    "n-shot": {"arc_challenge": 25, "gsm8k": 5, "mmlu_anatomy": 5},
    "n-samples": {"arc_challenge": {"original": 1172, "effective": 1172},
                  "gsm8k": {"original": 1319, "effective": 1319},
                  "mmlu_anatomy": {"original": 135, "effective": 135}},
    "config": {"model": "hf", "model_args": "pretrained=Qwen/Qwen2.5-7B-Instruct,dtype=bfloat16", "batch_size": "auto"},
    "lm_eval_version": "0.4.5",
    "model_name": "",
}


def test_import_picks_acc_then_strict_match_and_skips_subtasks(tmp_path, capsys):
    f = tmp_path / "results_2026-11-20T10-00-00.json"
    f.write_text(json.dumps(RESULTS))
    ws = tmp_path / "ws"
    (ws / "bench").mkdir(parents=True)
    existing = {"model": "Qwen/Qwen2.5-7B-Instruct", "scores": {"science_choice": 0.9}, "n": {"science_choice": 20}}
    (ws / "bench" / "Qwen__Qwen2.5-7B-Instruct.json").write_text(json.dumps(existing))
    assert bench_main(["import", "lm-eval", str(f), "--out", str(ws)]) == 0
    data = json.loads((ws / "bench" / "Qwen__Qwen2.5-7B-Instruct.json").read_text())
    assert data["model"] == "Qwen/Qwen2.5-7B-Instruct"  # from pretrained= since model_name is empty
    assert data["scores"] == {"science_choice": 0.9, "arc_challenge": 0.52, "gsm8k": 0.71, "mmlu": 0.68}
    assert data["n"] == {"science_choice": 20, "arc_challenge": 1172, "gsm8k": 1319}
    assert data["stderr"]["gsm8k"] == 0.0125
    assert data["sources"]["gsm8k"]["metric"] == "exact_match@strict-match"  # a column name without a comma
    assert data["sources"]["gsm8k"]["lm_eval_key"] == "exact_match,strict-match"
    assert data["sources"]["arc_challenge"]["num_fewshot"] == 25
    assert "Qwen/Qwen2.5-7B-Instruct: 3 task(s)" in capsys.readouterr().out


def test_metric_model_tasks_and_subtasks_options(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({**RESULTS, "model_name": "my-model"}))
    (res,) = read_lm_eval([f], metric="acc_norm")
    assert res["model"] == "my-model" and res["scores"] == {"arc_challenge": 0.55}
    (res,) = read_lm_eval([f], metric="exact_match,flexible-extract", model="renamed")
    assert res["model"] == "renamed" and res["scores"] == {"gsm8k": 0.74}
    (res,) = read_lm_eval([f], all_subtasks=True)
    assert res["scores"]["mmlu_anatomy"] == 0.61
    (res,) = read_lm_eval([f], tasks=["mmlu_anatomy"])
    assert res["scores"] == {"mmlu_anatomy": 0.61}


def test_folder_of_runs_later_file_wins_and_errors(tmp_path):
    run = tmp_path / "out" / "org__m"
    run.mkdir(parents=True)
    old = {"results": {"gsm8k": {"exact_match,strict-match": 0.5}}, "model_name": "org/m"}
    new = {"results": {"gsm8k": {"exact_match,strict-match": 0.6}}, "model_name": "org/m"}
    (run / "results_2026-01-01T00-00-00.json").write_text(json.dumps(old))
    (run / "results_2026-02-01T00-00-00.json").write_text(json.dumps(new))
    (res,) = read_lm_eval([tmp_path / "out"])
    assert res["scores"] == {"gsm8k": 0.6}
    legacy = tmp_path / "legacy.json"  # lm-eval 0.3: metric names without filters
    legacy.write_text(json.dumps({"results": {"hellaswag": {"acc": 0.4, "acc_norm": 0.5}},
                                  "config": {"model_args": "pretrained=gpt2"}}))
    (res,) = read_lm_eval([legacy])
    assert res["model"] == "gpt2" and res["scores"] == {"hellaswag": 0.4}
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({"results": {"x": {"acc,none": 0.1}}}))
    with pytest.raises(DataError, match="--model"):
        read_lm_eval([nameless])
    with pytest.raises(DataError, match="results"):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"scores": {}}))
        read_lm_eval([bad], model="m")


def test_an_import_replaces_an_arena_scored_task_whole(tmp_path):
    """lm-eval's mmlu over Arena's own mmlu: nothing of Arena's measurement (stderr, n, subject averages,
    per-item details) may stay beside the imported score."""
    from arena.bench.results import score_rows

    ws = tmp_path / "ws"
    (ws / "bench").mkdir(parents=True)
    mine = {"model": "m1", "scores": {"mmlu": 0.75, "gsm8k": 0.5}, "stderr": {"mmlu": 0.125, "gsm8k": 0.2},
            "n": {"mmlu": 12, "gsm8k": 8}, "details": {"mmlu": [{"id": "x", "correct": True}], "gsm8k": []},
            "aggregates": {"mmlu": {"micro": {"score": 0.75, "n": 12}, "macro": {"score": 0.69, "groups": 3},
                                    "unparsed": 1}},
            "sources": {"mmlu": {"source": "arena", "run_id": "r1"}, "gsm8k": {"source": "arena", "run_id": "r1"}}}
    (ws / "bench" / "m1.json").write_text(json.dumps(mine))
    f = tmp_path / "results_x.json"
    f.write_text(json.dumps({"results": {"mmlu": {"alias": "mmlu", "acc,none": 0.41, "acc_stderr,none": "N/A"}},
                             "config": {"model": "hf"}, "model_name": "m1"}))
    assert bench_main(["import", "lm-eval", str(f), "--out", str(ws)]) == 0
    data = json.loads((ws / "bench" / "m1.json").read_text())
    assert data["scores"] == {"mmlu": 0.41, "gsm8k": 0.5}
    assert "mmlu" not in data["stderr"] and "mmlu" not in data["n"] and "mmlu" not in data["details"]
    assert "mmlu" not in data.get("aggregates", {}) and data["sources"]["mmlu"]["source"] == "lm-eval"
    assert data["stderr"]["gsm8k"] == 0.2 and data["n"]["gsm8k"] == 8  # the other task is untouched
    rows = score_rows(data)
    assert [(r["group"], r["value"], r["stderr"], r["n"]) for r in rows if r["task"] == "mmlu"] == [
        ("", 0.41, None, None)]


def test_two_models_with_one_file_name_are_never_merged(tmp_path, capsys):
    ws = tmp_path / "ws"
    (ws / "bench").mkdir(parents=True)
    before = {"model": "org/model", "scores": {"gsm8k": 0.5}, "n": {"gsm8k": 8}}
    (ws / "bench" / "org__model.json").write_text(json.dumps(before))
    f = tmp_path / "results_x.json"
    f.write_text(json.dumps({"results": {"arc": {"alias": "arc", "acc,none": 0.4}}, "config": {"model": "hf"},
                             "model_name": "org__model"}))
    assert bench_main(["import", "lm-eval", str(f), "--out", str(ws)]) == 2
    assert "holds the scores of model 'org/model'" in capsys.readouterr().err
    assert json.loads((ws / "bench" / "org__model.json").read_text()) == before

