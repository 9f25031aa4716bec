"""A bench re-run that scored no item keeps a task's stored score only when that score measured the same task
(same items, same prompts); a kept score is marked in the `arena rate` / `arena bench` extras table. Real CLI,
real local server."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from openai_server import FakeOpenAI

from arena.bench.cli import main as bench_main
from arena.board_columns import extras_table, objective_section


def _reply(request: dict) -> str:
    """'yes' for the items whose prompt asks for it, 'no' otherwise."""
    return "yes" if "say yes" in request["messages"][-1]["content"] else "no"


def _items(path: Path, prefix: str, n: int, yes: int) -> Path:
    rows = [{"id": f"{prefix}{i}", "prompt": f"Item {prefix}{i}: please say {'yes' if i < yes else 'no'}",
             "answer": "yes"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tmp_path: Path, srv: FakeOpenAI, task_path: Path, system: str | None = None) -> Path:
    bench: dict = {"tasks": [{"name": "caps", "kind": "exact", "path": str(task_path), "format": "jsonl"}]}
    if system:
        bench["system_prompt"] = system
    cfg = {"workspace": str(tmp_path / "ws"), "generation": {"max_retries": 0},
           "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url}],
           "bench": bench}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _saved(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())


def _row(out: str) -> str:
    return next(ln for ln in out.splitlines() if ln.startswith("m1") and " caps " in ln)


def test_a_failed_run_of_a_changed_task_does_not_keep_the_old_items_score(tmp_path, capsys):
    first = _items(tmp_path / "t1.jsonl", "a", 6, yes=4)
    with FakeOpenAI(reply=_reply) as srv:
        assert bench_main(["-c", str(_config(tmp_path, srv, first)), "--no-progress"]) == 0
        assert _saved(tmp_path)["scores"]["caps"] == round(4 / 6, 6)  # 4 of the 6 items say yes
        capsys.readouterr()
        other = _items(tmp_path / "t2.jsonl", "b", 10, yes=10)  # the task now has 10 other items
        srv.fail_next(500, times=100)
        assert bench_main(["-c", str(_config(tmp_path, srv, other)), "--no-progress"]) == 1
    out = capsys.readouterr().out
    saved = _saved(tmp_path)
    assert "caps" not in saved.get("scores", {}) and saved["n"]["caps"] == 0
    assert "kept" not in saved["sources"]["caps"] and saved["sources"]["caps"]["path"] == str(other)
    row = _row(out)
    assert "0.6667" not in row and "kept the score" not in row
    assert "the stored score of" in row and "is for other items (6 then, 10 now): not kept" in row
    assert "is for other items (6 then, 10 now): not kept" in out.split("model ")[0]  # the log line too


def test_same_count_other_items_or_other_prompts_are_not_kept(tmp_path, capsys):
    first = _items(tmp_path / "t1.jsonl", "a", 6, yes=4)
    with FakeOpenAI(reply=_reply) as srv:
        assert bench_main(["-c", str(_config(tmp_path, srv, first)), "--no-progress"]) == 0
        capsys.readouterr()
        same_count = _items(tmp_path / "t2.jsonl", "b", 6, yes=6)  # 6 items again, other ones
        srv.fail_next(500, times=100)
        assert bench_main(["-c", str(_config(tmp_path, srv, same_count)), "--no-progress"]) == 1
        assert "is for other items: not kept" in _row(capsys.readouterr().out)
        assert "caps" not in _saved(tmp_path).get("scores", {})

        srv.failures.clear()
        assert bench_main(["-c", str(_config(tmp_path, srv, first)), "--no-progress"]) == 0
        capsys.readouterr()
        srv.fail_next(500, times=100)  # the same items under a new system prompt: other prompts
        assert bench_main(["-c", str(_config(tmp_path, srv, first, "Be brief.")), "--no-progress"]) == 1
    row = _row(capsys.readouterr().out)
    assert "is for other prompts: not kept" in row
    assert "caps" not in _saved(tmp_path).get("scores", {})


def test_the_same_task_keeps_its_score_and_the_extras_table_marks_it(tmp_path, capsys):
    first = _items(tmp_path / "t1.jsonl", "a", 6, yes=4)
    with FakeOpenAI(reply=_reply) as srv:
        assert bench_main(["-c", str(_config(tmp_path, srv, first)), "--no-progress"]) == 0
        for f in (tmp_path / "ws" / "answers").glob("*.jsonl"):
            f.unlink()  # nothing cached: the same items are asked again, and fail
        capsys.readouterr()
        srv.fail_next(500, times=100)
        assert bench_main(["-c", str(_config(tmp_path, srv, first)), "--no-progress"]) == 1
    row = _row(capsys.readouterr().out)
    assert "0.6667" in row and "kept the score of" in row
    saved = _saved(tmp_path)
    assert saved["scores"]["caps"] == round(4 / 6, 6) and saved["sources"]["caps"]["kept"]
    objective = objective_section(tmp_path / "ws", ["m1"])
    report = {"overall": {"table": [{"model": "m1"}]}, "objective": objective}
    table = extras_table(report)
    line = next(ln for ln in table.splitlines() if ln.startswith("m1"))
    assert line.split()[-1] == "0.6667^"
    assert "^: kept from an earlier run; the latest run scored no item" in table
