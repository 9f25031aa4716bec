"""Objective (bench) and serving columns in leaderboard.{json,csv}: a run and an `arena bench` in one workspace
against a real local OpenAI-compatible server, the numbers checked against the bench and serving files."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import write_config
from openai_server import FakeOpenAI

from arena.bench.results import merge, score_rows
from arena.cli import main
from arena.quality.sources import load_table

MATH = [("m1", "What is 2 + 2?", "4"), ("m2", "What is 3 * 3?", "9"), ("m3", "What is 10 - 7?", "3"),
        ("m4", "What is 8 / 2?", "4")]
REFS = [("r1", "Say: the cat sat.", "the cat sat"), ("r2", "Say: a dog ran.", "a dog ran")]
RIGHT = {"m1": {"m1", "m2", "m3"}, "m2": {"m1"}}  # which math items each served model gets right


def _reply(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    model = request["model"]
    for qid, question, answer in MATH:
        if question in prompt:
            return f"Answer: {answer if qid in RIGHT.get(model, set()) else '0'}"
    for _, question, answer in REFS:
        if question in prompt:
            return answer if model == "m1" else "the cat"
    return "a plain arena answer " * 3


def _bench_files(tmp_path: Path) -> tuple[Path, Path]:
    math = tmp_path / "math.jsonl"
    math.write_text("".join(json.dumps({"id": i, "question": q, "answer": f"#### {a}"}) + "\n" for i, q, a in MATH))
    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(json.dumps({"id": i, "prompt": p, "reference": r}) + "\n" for i, p, r in REFS))
    return math, ref


def _csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return list(rows[0]), {r["model"]: r for r in rows}


@pytest.fixture
def board(tmp_path, questions_file, capsys):
    """A dry-run arena run (two served models and a demo one), then `arena bench` (plus a bench-only model)."""
    math, ref = _bench_files(tmp_path)
    with FakeOpenAI(reply=_reply) as srv:
        served = [{"name": m, "backend": "openai", "model": m, "base_url": srv.base_url} for m in ("m1", "m2")]
        cands = [*served, {"name": "demo-c", "backend": "demo"}]
        judge = {"mode": "pairwise", "model": "judge", "api_key_env": "NO_SUCH_KEY_FOR_TESTS"}
        cfg = write_config(tmp_path, questions_file, cands, judge=judge, generation={"concurrency": 2},
                           rating={"bootstrap": 20})
        assert main(["run", "-c", str(cfg), "--dry-run", "--no-progress"]) == 0
        run_out = capsys.readouterr().out
        (run,) = (tmp_path / "ws" / "runs").iterdir()
        before = (run / "leaderboard.csv").read_text()
        bench_cfg = tmp_path / "bench.yaml"
        bench_cfg.write_text(yaml.safe_dump({
            "workspace": str(tmp_path / "ws"),
            "candidates": [*cands, {"name": "bench-only", "backend": "openai", "model": "m2",
                                    "base_url": srv.base_url}],
            "bench": {"tasks": [{"name": "math", "kind": "numeric", "path": str(math), "format": "gsm8k"},
                                {"name": "ref", "kind": "reference", "path": str(ref)}]}}))
        assert main(["bench", "-c", str(bench_cfg), "--no-progress"]) == 0
        bench_out = capsys.readouterr().out
    return {"ws": tmp_path / "ws", "run": run, "before": before, "run_out": run_out, "bench_out": bench_out}


def test_leaderboard_files_carry_the_bench_results_of_the_workspace(board):
    ws, run = board["ws"], board["run"]
    _, rows = _csv(run / "leaderboard.csv")
    assert set(rows) == {"m1", "m2", "demo-c"}  # rated models only: no row without a rating
    demo = json.loads((ws / "bench" / "demo-c.json").read_text())
    assert demo["sources"]["math"]["demo"] and rows["demo-c"]["bench:math:accuracy"] == ""  # no model ran
    assert rows["demo-c"]["bench:ref:rougeL"] == "" and rows["demo-c"]["bench:math:accuracy:n"] == ""
    for model in ("m1", "m2"):
        res = json.loads((ws / "bench" / f"{model}.json").read_text())
        row = rows[model]
        assert float(row["bench:math:accuracy"]) == res["scores"]["math"]
        assert float(row["bench:math:accuracy:se"]) == res["stderr"]["math"]
        assert int(row["bench:math:accuracy:n"]) == res["n"]["math"] == 4
        assert float(row["bench:ref:rougeL"]) == res["scores"]["ref"]
        assert float(row["bench:ref:bleu_corpus"]) == res["metrics"]["ref"]["bleu_corpus"]
    # hand count: m1 answers 3 of 4 items right, m2 1 of 4; m1 repeats the references exactly
    assert float(rows["m1"]["bench:math:accuracy"]) == 0.75 and float(rows["m2"]["bench:math:accuracy"]) == 0.25
    assert float(rows["m1"]["bench:ref:em"]) == 1.0
    doc = json.loads((run / "leaderboard.json").read_text())
    obj = doc["objective"]
    m1 = obj["models"]["m1"]["tasks"]["math"]
    src = json.loads((ws / "bench" / "m1.json").read_text())["sources"]["math"]
    assert m1["date"] == src["updated"][:10] and m1["run_id"] == src["run_id"] and m1["metric"] == "accuracy"
    assert obj["models"]["bench-only"]["rated"] is False and obj["benchmark_only"] == ["bench-only"]
    assert obj["models"]["bench-only"]["tasks"]["math"]["value"] == 0.25
    assert obj["columns"]["bench:math:accuracy:se"] == {"task": "math", "metric": "accuracy", "field": "stderr"}
    assert "objective columns refreshed" in board["bench_out"]


def test_serving_columns_equal_the_runs_serving_file_and_demo_rows_stay_empty(board):
    run = board["run"]
    _, rows = _csv(run / "leaderboard.csv")
    serving = {m["model"]: m for m in json.loads((run / "serving.json").read_text())["models"]}
    for model in ("m1", "m2"):
        for field in ("latency_p50_s", "latency_p95_s", "ttft_p50_s", "ttft_p95_s", "output_tok_s_p50",
                      "error_rate", "requests", "concurrency"):
            assert float(rows[model][f"serving:{field}"]) == serving[model][field]
    assert serving["demo-c"]["requests"] > 0  # measured, but no model ran: no figures on the board
    assert all(rows["demo-c"][f"serving:{f}"] == "" for f in ("latency_p50_s", "requests", "error_rate"))
    section = json.loads((run / "leaderboard.json").read_text())["serving"]
    assert section["note"].startswith("measured during answer generation at concurrency 2")
    assert section["models"]["demo-c"]["demo"] is True and section["models"]["demo-c"]["latency_p50_s"] is None
    # the run's own terminal output shows the serving figures beside the board
    assert "leaderboard extras" in board["run_out"] and "lat p50 s" in board["run_out"]


def test_rating_columns_are_unchanged_and_old_readers_still_parse(board):
    run = board["run"]
    after = (run / "leaderboard.csv").read_text()
    header, _ = _csv(run / "leaderboard.csv")
    table = json.loads((run / "leaderboard.json").read_text())["overall"]["table"]
    rating_cols = list(table[0])
    assert header[:len(rating_cols)] == rating_cols  # rating columns first, in their order
    extra = header[len(rating_cols):]
    extra = extra[1:] if extra[:1] == ["dry_run"] else extra  # a dry run says so (arena.rating.report)
    assert all(c.startswith(("serving:", "bench:")) for c in extra)
    # the rating cells are the same text as before the bench refresh (and as pandas wrote them)
    strip = lambda text: [r[:len(rating_cols)] for r in csv.reader(io.StringIO(text))]
    assert strip(after) == strip(board["before"])
    direct = pd.read_csv(run / "leaderboard.csv")
    assert list(direct["model"]) == [r["model"] for r in table]
    for path in (run, run / "leaderboard.json", run / "leaderboard.csv"):  # arena quality's readers
        got = load_table(path).table
        assert set(got["model"]) == {"m1", "m2", "demo-c"} and got["score"].notna().all()


def test_arena_rate_of_the_run_folder_shows_and_writes_the_same_columns(board, capsys, tmp_path):
    run = board["run"]
    assert main(["rate", str(run), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "leaderboard extras" in out and "math [accuracy]" in out and "0.7500" in out
    target = tmp_path / "rated.csv"
    assert main(["rate", str(run), "--bootstrap", "20", "--format", "csv", "-o", str(target)]) == 0
    _, rows = _csv(target)
    _, board_rows = _csv(run / "leaderboard.csv")
    for model in ("m1", "m2"):
        assert rows[model]["bench:math:accuracy"] == board_rows[model]["bench:math:accuracy"]
        assert rows[model]["serving:latency_p50_s"] == board_rows[model]["serving:latency_p50_s"]


def test_a_new_run_after_the_bench_has_the_columns_from_the_start(board, questions_file, tmp_path):
    cfg = write_config(tmp_path, questions_file, [{"name": "demo-c", "backend": "demo"},
                                                  {"name": "demo-d", "backend": "demo", "seed": 3}],
                       judge={"mode": "pairwise", "model": "judge"}, rating={"bootstrap": 20})
    before = set((board["ws"] / "runs").iterdir())
    assert main(["run", "-c", str(cfg), "--dry-run", "--no-progress"]) == 0
    (newest,) = set((board["ws"] / "runs").iterdir()) - before  # not max(): ids made in one second sort by suffix
    _, rows = _csv(newest / "leaderboard.csv")
    res = json.loads((board["ws"] / "bench" / "demo-c.json").read_text())
    assert res["sources"]["math"]["demo"] and rows["demo-c"]["bench:math:accuracy"] == ""  # placeholder
    doc = json.loads((newest / "leaderboard.json").read_text())
    assert doc["objective"]["models"]["demo-c"]["tasks"]["math"]["value"] == res["scores"]["math"]  # labelled
    assert rows["demo-d"]["bench:math:accuracy"] == ""  # never benchmarked


def test_merging_keeps_each_tasks_own_date():
    old = merge({}, {"model": "m", "scores": {"a": 0.5}, "n": {"a": 2}, "updated": "2026-01-05T10:00:00Z"})
    new = merge(old, {"model": "m", "scores": {"b": 0.7}, "n": {"b": 3}, "updated": "2026-02-09T10:00:00Z"})
    dates = {r["task"]: r["updated"] for r in score_rows(new, breakdown=False)}
    assert dates == {"a": "2026-01-05", "b": "2026-02-09"} and new["updated"] == "2026-02-09T10:00:00Z"


def test_an_unscored_task_shows_its_metric_and_the_reason(tmp_path):
    from arena.bench.configfile import load_bench_config
    from arena.bench.runner import run_bench, score_table

    _, ref = _bench_files(tmp_path)
    cfg = {"workspace": str(tmp_path / "ws"), "candidates": [{"name": "d1", "backend": "demo"}],
           "bench": {"tasks": [{"name": "ref_sem", "kind": "reference", "path": str(ref),
                                "reference": {"metrics": ["semantic"], "primary": "semantic",
                                              "embedding_model": str(tmp_path / "no-model")}}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = run_bench(*load_bench_config(path), show_progress=False, log=lambda _: None)
    line = next(x for x in score_table(out).splitlines() if " ref_sem " in x)
    assert line.split()[:4] == ["d1", "ref_sem", "semantic", "-"] and "accuracy" not in line
    assert "unscored: embedding model folder" in line and "no-model" in line
    assert line.split()[6] == "-"  # not "2 missing": the items were answered, the metric could not run



def test_an_imported_lm_eval_result_reaches_the_latest_board(board, tmp_path, capsys):
    from test_bench_import import RESULTS

    results = tmp_path / "results_2026-11-20T10-00-00.json"
    results.write_text(json.dumps(RESULTS))
    assert main(["bench", "import", "lm-eval", str(results), "--model", "m2", "--out", str(board["ws"])]) == 0
    assert "objective columns refreshed" in capsys.readouterr().out
    _, rows = _csv(board["run"] / "leaderboard.csv")
    assert float(rows["m2"]["bench:gsm8k:exact_match@strict-match"]) == 0.71  # no comma in a column name
    assert float(rows["m2"]["bench:gsm8k:exact_match@strict-match:se"]) == 0.0125
    assert int(rows["m2"]["bench:gsm8k:exact_match@strict-match:n"]) == 1319
    assert rows["m1"]["bench:gsm8k:exact_match@strict-match"] == ""  # m1 has no such result
    assert float(rows["m2"]["bench:arc_challenge:acc"]) == 0.52  # lm-eval's default filter ',none' dropped
    assert float(rows["m2"]["bench:math:accuracy"]) == 0.25  # the arena bench task is kept
    entry = json.loads((board["run"] / "leaderboard.json").read_text())["objective"]["models"]["m2"]["tasks"]["gsm8k"]
    assert entry["source"] == "lm-eval"


def test_perf_from_run_puts_the_serving_columns_into_an_older_board(board):
    run = board["run"]
    doc = json.loads((run / "leaderboard.json").read_text())
    del doc["serving"]  # a board written before serving columns existed
    (run / "leaderboard.json").write_text(json.dumps(doc))
    old = [[c for c, name in zip(r, next(csv.reader(io.StringIO(board["before"])))) if not name.startswith("serving:")]
           for r in csv.reader(io.StringIO((run / "leaderboard.csv").read_text()))]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(old)
    (run / "leaderboard.csv").write_text(buf.getvalue())
    assert "serving:latency_p50_s" not in (run / "leaderboard.csv").read_text()
    assert main(["perf", "--from-run", str(run)]) == 0
    _, rows = _csv(run / "leaderboard.csv")
    serving = {m["model"]: m for m in json.loads((run / "serving.json").read_text())["models"]}
    assert float(rows["m1"]["serving:latency_p50_s"]) == serving["m1"]["latency_p50_s"]
    assert "serving" in json.loads((run / "leaderboard.json").read_text())
