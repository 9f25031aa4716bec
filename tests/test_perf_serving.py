"""Serving figures of a run (runs/<run>/serving.json) against the answer records, computed another way."""
from __future__ import annotations

import json
import statistics

import pytest
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI

from arena.cli import main


def _quantile(values: list[float], q: int) -> float:
    """Linear-interpolation percentile from the standard library (numpy's default method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def test_serving_figures_from_the_runs_answers(tmp_path, questions_file, capsys):
    with FakeOpenAI(reply=lambda body: "w1 w2 w3 w4", delay_s=0.03) as srv:
        srv.chunk_delay_s = 0.005
        srv.fail_next(500, times=1)
        cand = {"name": "served", "backend": "openai", "model": "fake", "base_url": srv.base_url}
        cfg = write_config(tmp_path, questions_file, [cand], generation={"concurrency": 3, "max_retries": 0})
        assert main(["run", "-c", str(cfg), "--no-progress"]) in (0, 3)
        out = capsys.readouterr().out
    ws = tmp_path / "ws"
    (run,) = (ws / "runs").iterdir()
    doc = json.loads((run / "serving.json").read_text())
    (fig,) = doc["models"]
    recs = [r for r in read_jsonl(ws / "answers" / "served.jsonl") if r["status"] == "ok"]
    lat = [x for r in recs for x in r["latency_s"]]
    ttft = [x for r in recs for x in r["ttft_s"]]
    speed = [o / s for r in recs for o, s in zip(r["completion_tokens"], r["latency_s"])]
    assert fig["requests"] == len(lat) and fig["concurrency"] == 3
    assert fig["latency_p50_s"] == pytest.approx(statistics.median(lat))
    assert fig["latency_p95_s"] == pytest.approx(_quantile(lat, 95))
    assert fig["ttft_p95_s"] == pytest.approx(_quantile(ttft, 95)) and fig["ttft_p50_s"] >= 0.03
    assert fig["output_tok_s_p50"] == pytest.approx(statistics.median(speed))
    info = json.loads((run / "run.json").read_text())["stages"]["answers"]["models"]["served"]
    assert info["failed"] == fig["errors"] == 1
    assert fig["error_rate"] == pytest.approx(1 / (1 + info["generated"]))
    assert fig["note"] == "measured during answer generation at concurrency 3"
    assert "serving figures" in out and "served" in out
    assert "latency_p95_s" in (run / "serving.csv").read_text().splitlines()[0]


def test_cached_answers_keep_the_figures_of_the_run_that_made_them(tmp_path, questions_file, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        cand = {"name": "served", "backend": "openai", "model": "fake", "base_url": srv.base_url}
        cfg = write_config(tmp_path, questions_file, [cand], generation={"concurrency": 2})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
        assert "cached answers:" not in capsys.readouterr().out  # this run made its answers
        cfg = write_config(tmp_path, questions_file, [cand], generation={"concurrency": 7})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
        assert len(srv.requests) == 5  # the second run answered nothing: all cached
        out = capsys.readouterr().out
    first, second = sorted((tmp_path / "ws" / "runs").iterdir())
    a = json.loads((first / "serving.json").read_text())["models"][0]
    b = json.loads((second / "serving.json").read_text())["models"][0]
    assert b["runs"] == [first.name] and b["concurrency"] == 2 and b["latency_p50_s"] == a["latency_p50_s"]
    # the terminal says whose measurements these are
    assert (f"cached answers: the figures of every model were measured when earlier run(s) generated the "
            f"answers: {first.name}") in out


def test_replayed_answers_have_no_serving_figures(tmp_path, questions_file):
    answers = tmp_path / "given.jsonl"
    answers.write_text("".join(json.dumps({"question_id": q["question_id"], "model": "given",
                                           "turns": ["x"] * len(q["turns"])}) + "\n"
                               for q in read_jsonl(questions_file)))
    cfg = write_config(tmp_path, questions_file, [{"name": "given", "backend": "answers", "path": str(answers)}])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    assert json.loads((run / "serving.json").read_text())["models"] == []


def test_from_run_rewrites_the_figures_of_an_older_run(tmp_path, questions_file, capsys):
    with FakeOpenAI(reply=lambda body: "a b") as srv:
        cand = {"name": "served", "backend": "openai", "model": "fake", "base_url": srv.base_url}
        cfg = write_config(tmp_path, questions_file, [cand])
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    written = json.loads((run / "serving.json").read_text())
    (run / "serving.json").unlink()  # a run from before serving figures existed
    capsys.readouterr()
    assert main(["perf", "--from-run", str(run)]) == 0
    assert json.loads((run / "serving.json").read_text()) == written
    assert "served" in capsys.readouterr().out
    assert main(["perf", "--from-run", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_demo_candidates_show_no_times_in_the_table(tmp_path, questions_file, capsys):
    # the demo backend answers instantly: its latencies and tokens/s (e.g. 900,000 tok/s) mean nothing
    cfg = write_config(tmp_path, questions_file, [{"name": "demo-x", "backend": "demo"}])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("demo-x") and "DEMO" in line]
    assert row.split()[3:6] == ["-", "-", "-"] and "no model: times not meaningful" in row
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    assert json.loads((run / "serving.json").read_text())["models"][0]["latency_p50_s"] is not None  # files keep them
