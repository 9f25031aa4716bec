"""Demo-backend bench figures (placeholder text, placeholder log-probabilities) are not measurements: empty in
leaderboard.csv like the demo serving cells, marked demo in leaderboard.json, the `arena rate RUN` extras
table and the `arena bench` table. A served model's figures beside them stay. Real CLI and local server."""
from __future__ import annotations

import csv
import io
import json

import yaml
from conftest import write_config
from openai_server import FakeOpenAI
from test_bench_loglik import _arc_file, scripted_completions

from arena.cli import main


def _reply(request: dict) -> str:
    return "Answer: 4" if "2 + 2" in request["messages"][-1]["content"] else "a plain arena answer"


def test_demo_bench_figures_are_empty_in_the_csv_and_marked_elsewhere(tmp_path, questions_file, capsys):
    math = tmp_path / "math.jsonl"
    math.write_text(json.dumps({"id": "a", "question": "What is 2 + 2?", "answer": "#### 4"}) + "\n")
    with FakeOpenAI(reply=_reply) as srv:
        srv.completions = scripted_completions
        cands = [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url},
                 {"name": "demo-c", "backend": "demo"}]
        cfg = write_config(tmp_path, questions_file, cands, judge={"mode": "pairwise", "model": "judge"},
                           rating={"bootstrap": 20})
        assert main(["run", "-c", str(cfg), "--dry-run", "--no-progress"]) == 0
        (run,) = (tmp_path / "ws" / "runs").iterdir()
        bench = tmp_path / "bench.yaml"
        arc = _arc_file(tmp_path / "mc.jsonl")
        tasks = [{"name": "math", "path": str(math)},
                 {"name": "mc", "kind": "choice", "method": "loglikelihood", "path": str(arc),
                  "format": "arc"}]
        bench.write_text(yaml.safe_dump({"workspace": str(tmp_path / "ws"), "candidates": cands,
                                         "bench": {"tasks": tasks}}))
        capsys.readouterr()
        assert main(["bench", "-c", str(bench), "--no-progress"]) == 0
        table = capsys.readouterr().out
    demo = json.loads((tmp_path / "ws" / "bench" / "demo-c.json").read_text())
    assert demo["sources"]["mc"]["demo"] and demo["sources"]["math"]["demo"]  # both kinds are labelled
    for task in ("math", "mc"):
        line = next(ln for ln in table.splitlines() if ln.startswith("demo-c") and f" {task} " in ln)
        assert "demo: placeholder figures, not a model" in line
        served = next(ln for ln in table.splitlines() if ln.startswith("m1") and f" {task} " in ln)
        assert "demo" not in served

    rows = {r["model"]: r for r in csv.DictReader(io.StringIO((run / "leaderboard.csv").read_text()))}
    for col in ("bench:mc:acc", "bench:mc:acc:se", "bench:mc:acc:n", "bench:mc:acc_norm",
                "bench:math:accuracy"):
        assert rows["demo-c"][col] == "", col  # no model ran: not measured
    m1 = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
    assert float(rows["m1"]["bench:mc:acc"]) == m1["scores"]["mc"] == 1.0  # by hand: tests/test_bench_loglik
    assert float(rows["m1"]["bench:math:accuracy"]) == m1["scores"]["math"] == 1.0
    entry = json.loads((run / "leaderboard.json").read_text())["objective"]["models"]["demo-c"]["tasks"]["mc"]
    assert entry["demo"] and entry["value"] == demo["scores"]["mc"]  # the JSON keeps the value, labelled

    assert main(["rate", str(run), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    extras = out[out.index("leaderboard extras"):]
    demo_row = next(ln for ln in extras.splitlines() if ln.startswith("demo-c"))
    m1_row = next(ln for ln in extras.splitlines() if ln.startswith("m1"))
    assert demo_row.split()[-2:] == ["demo", "demo"] and "1.0000" in m1_row
    assert "demo: placeholder figures of the offline demo backend" in extras
