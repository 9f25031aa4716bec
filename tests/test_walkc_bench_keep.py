"""A bench re-run that could not score a task at all keeps the task's stored score (and says so); a task it
scored, even partly, replaces the old one. Log-likelihood tasks that cannot be scored get a row and an entry;
a chat-only server gets one error per completion-prompted task. Real CLI, real local server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from openai_server import FakeOpenAI
from test_bench_loglik import _config as ll_config
from test_bench_loglik import scripted_completions
from test_bench_metrics_run import _write as write_ref_files
from test_bench_run import _reply, scored_once_without_retries

from arena.bench.cli import main as bench_main
from arena.bench.configfile import load_bench_config
from arena.bench.runner import run_bench


def _saved(tmp_path: Path, model: str = "m1") -> dict:
    return json.loads((tmp_path / "ws" / "bench" / f"{model}.json").read_text())


def _runs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "ws" / "runs").iterdir())


def test_endpoint_down_rerun_keeps_the_stored_score_and_a_partial_rerun_replaces_it(tmp_path, capsys):
    with FakeOpenAI(reply=_reply) as srv:
        cfg_path = scored_once_without_retries(tmp_path, srv)
        before = _saved(tmp_path)
        first_run = _runs(tmp_path)[-1].name
        assert before["scores"]["sci"] == 0.75
        capsys.readouterr()

        for f in (tmp_path / "ws" / "answers").glob("*.jsonl"):
            f.unlink()  # nothing cached: every sci item is asked again (the same prompts: the score is kept)
        srv.fail_next(500, times=100)
        assert bench_main(["-c", str(cfg_path), "--tasks", "sci", "--no-progress"]) == 1
        out = capsys.readouterr().out
        kept = _saved(tmp_path)
        # the whole old measurement stays: score, n, details, source (its run and date)
        for key in ("scores", "n", "stderr", "details"):
            assert kept[key]["sci"] == before[key]["sci"], key
        src = kept["sources"]["sci"]
        assert src["run_id"] == first_run and src["updated"] == before["sources"]["sci"]["updated"]
        second_run = _runs(tmp_path)[-1]
        assert src["kept"]["run_id"] == second_run.name and "HTTP 500" in src["kept"]["reason"]
        date = before["sources"]["sci"]["updated"][:10]
        line = next(ln for ln in out.splitlines() if ln.startswith("m1") and " sci " in ln)
        assert "0.7500" in line and f"kept the score of {date}: this run scored no item (" in line
        assert "no answer for any of its 4 items" in line
        # the run folder keeps what this run measured (nothing), so the History page shows no new point
        own = json.loads((second_run / "bench" / "m1.json").read_text())
        assert "sci" not in own["scores"] and own["n"]["sci"] == 0
        stage = json.loads((second_run / "run.json").read_text())["stages"]["bench"]["models"]["m1"]["sci"]
        assert stage["accuracy"] is None and stage["kept"] == date
        from arena.board_columns import objective_section  # the leaderboard column keeps the value, says why

        entry = objective_section(tmp_path / "ws", ["m1"])["models"]["m1"]["tasks"]["sci"]
        assert entry["value"] == 0.75 and entry["date"] == date and entry["kept"]["run_id"] == second_run.name

        srv.failures.clear()
        srv.fail_next(500, times=2)  # two of the four items fail: a partial score replaces the old one
        assert bench_main(["-c", str(cfg_path), "--tasks", "sci", "--no-progress"]) == 3
    partial = _saved(tmp_path)
    assert partial["n"]["sci"] == 2 and "kept" not in partial["sources"]["sci"]
    details = partial["details"]["sci"]
    assert partial["scores"]["sci"] == sum(d["correct"] for d in details) / len(details)
    assert partial["sources"]["sci"]["missing"] == 2


def test_a_missing_extra_keeps_the_reference_score_and_names_the_extra(tmp_path):
    ref, _ = write_ref_files(tmp_path)
    cfg = {"workspace": str(tmp_path / "ws"), "candidates": [{"name": "d1", "backend": "demo"}],
           "bench": {"tasks": [{"name": "summ", "kind": "reference", "path": str(ref)}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "arena.bench.cli", "-c", str(path), "--no-progress"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = _saved(tmp_path, "d1")
    assert isinstance(before["scores"]["summ"], float)
    hide = tmp_path / "hide"  # a Python without the metrics extra: `import sacrebleu` fails
    hide.mkdir()
    (hide / "sacrebleu.py").write_text("raise ImportError('not installed')\n")
    path = os.pathsep.join([str(hide), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "PYTHONPATH": path}
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert second.returncode == 1, second.stderr
    after = _saved(tmp_path, "d1")
    assert after["scores"]["summ"] == before["scores"]["summ"] and after["n"] == before["n"]
    reason = after["sources"]["summ"]["kept"]["reason"]
    assert "'sacrebleu' package" in reason
    line = next(ln for ln in second.stdout.splitlines() if ln.startswith("d1") and " summ " in ln)
    assert f"kept the score of {before['sources']['summ']['updated'][:10]}: this run scored no item" in line
    assert "'sacrebleu' package" in line
    said = second.stdout + second.stderr  # the run's failure names the missing extra, not unanswered items
    assert "no task could be scored: task summ not scored" in said and "items unanswered" not in said


def test_an_unscorable_loglikelihood_task_gets_a_row_an_entry_and_keeps_an_old_score(tmp_path, capsys):
    with FakeOpenAI() as srv:  # no /v1/completions route: HTTP 404
        path = ll_config(tmp_path, srv)
        assert bench_main(["-c", str(path), "--no-progress"]) == 1
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("m1") and " mc " in ln)
        assert " acc " in line and "unscored: bench task 'mc'" in line and "method: generate" in line
        saved = _saved(tmp_path)
        assert saved["n"]["mc"] == 0 and "mc" not in saved.get("scores", {})
        assert "method: generate" in saved["sources"]["mc"]["unscored"]
        assert saved["sources"]["mc"]["missing"] == 3
        info = json.loads((_runs(tmp_path)[-1] / "run.json").read_text())
        assert any("bench task mc not scored" in r for r in info["status_reasons"])

        srv.completions = scripted_completions  # now it scores (acc 1.0 by hand, tests/test_bench_loglik)
        assert bench_main(["-c", str(path), "--no-progress"]) == 0
        scored = _saved(tmp_path)
        assert scored["scores"]["mc"] == 1.0 and "unscored" not in scored["sources"]["mc"]
        capsys.readouterr()

        (tmp_path / "ws" / "logprobs" / "m1.jsonl").unlink()  # nothing cached: the next run must ask again
        srv.completions = None
        assert bench_main(["-c", str(path), "--no-progress"]) == 1
        out = capsys.readouterr().out
    kept = _saved(tmp_path)
    assert kept["scores"]["mc"] == 1.0 and kept["n"]["mc"] == 3
    assert kept["metrics"]["mc"] == scored["metrics"]["mc"]
    assert "cannot return prompt log-probabilities" in kept["sources"]["mc"]["kept"]["reason"]
    line = next(ln for ln in out.splitlines() if ln.startswith("m1") and " mc " in ln)
    assert "1.0000" in line and "kept the score of" in line
    assert "cannot return prompt log-probabilities" in line


def test_completion_prompting_on_a_chat_only_server_is_one_error_per_task(tmp_path):
    math = tmp_path / "m.jsonl"
    items = [{"id": f"g{i}", "question": f"What is {i} + 1?", "answer": f"#### {i + 1}"} for i in range(6)]
    math.write_text("".join(json.dumps(item) + "\n" for item in items))
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": ""}],
           "bench": {"tasks": [{"name": "a", "path": str(math), "prompting": "completion"},
                               {"name": "b", "path": str(math), "prompting": "completion", "num_fewshot": 1},
                               {"name": "c", "path": str(math)}]}}
    with FakeOpenAI(reply=lambda r: "Answer: 1") as srv:
        cfg["candidates"][0]["base_url"] = srv.base_url
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        out = run_bench(*load_bench_config(path), show_progress=False, log=lambda s: None)
    res = out.results["m1"]
    assert res["n"]["a"] == 0 and res["n"]["b"] == 0 and res["sources"]["a"]["missing"] == 6
    assert res["n"]["c"] == 6  # the chat task is answered as before
    errors = json.loads((out.run.path / "run.json").read_text())["errors"]
    mine = [e for e in errors if "HTTP 404" in e["message"]]
    assert sorted(e["task"] for e in mine) == ["a", "b"]  # one per task, not one per item
    assert all("use prompting: chat" in e["message"] and e["model"] == "m1" and e["items"] == 6 for e in mine)
