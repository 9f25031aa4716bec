"""An import stopped by SIGTERM or Ctrl-C is marked interrupted, and the same command writes it again; a
completed import run or a folder that is not an import run is never replaced."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from interop_fixtures import REPO, run_main, write_jsonl

from arena.errors import ArenaError
from arena.run_status import shown_status


def _big_battles(path, n: int = 120_000):
    """A clean_battle file large enough that the import spends seconds writing and rating it."""
    models = [f"m{i}" for i in range(12)]
    rows = [{"model_a": models[i % 12], "model_b": models[(i * 7 + 1) % 12] if (i * 7 + 1) % 12 != i % 12
             else models[(i + 5) % 12], "winner": ("model_a", "model_b", "tie")[i % 3], "anony": True,
             "question_id": f"c{i}", "tstamp": float(i)} for i in range(n)]
    return write_jsonl(path, rows)


def _import(src, out) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "arena.cli", "import", "chatbot-arena", str(src), "-o", str(out),
                             "--bootstrap", "1000"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_import_is_marked_and_the_same_command_continues(tmp_path, sig):
    src, out = _big_battles(tmp_path / "clean_battle.jsonl"), tmp_path / "run"
    proc = _import(src, out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads((out / "run.json").read_text())["status"] == "running":
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    assert proc.poll() is None, "the import finished before it could be interrupted"
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted" and shown_status(info) == "interrupted"
    again = _import(src, out)
    stdout, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    assert "replacing an import run left interrupted" in stdout
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and (out / "leaderboard.json").is_file()
    assert sum(1 for _ in open(out / "battles.jsonl")) == 120_000


def _small(tmp_path):
    return write_jsonl(tmp_path / "b.jsonl", [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 3)


def test_completed_import_is_not_replaced(tmp_path):
    src = _small(tmp_path)
    assert run_main("import", "chatbot-arena", src, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    with pytest.raises(ArenaError, match="already exists and is not empty"):
        run_main("import", "chatbot-arena", src, "-o", tmp_path / "run", "--bootstrap", "0")


def test_failed_import_is_replaced_but_other_folders_are_not(tmp_path):
    src = _small(tmp_path)
    assert run_main("import", "chatbot-arena", src, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    assert run_main("import", "chatbot-arena", src, "-o", tmp_path / "run", "--bootstrap", "0") == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "completed"
    native = tmp_path / "native"  # an interrupted `arena run`: not an import, never emptied by import
    native.mkdir()
    (native / "run.json").write_text(json.dumps({"status": "interrupted", "config": {"judge": {}}}))
    (native / "answers.jsonl").write_text("{}\n")
    with pytest.raises(ArenaError, match="not an interrupted or failed import run"):
        run_main("import", "chatbot-arena", src, "-o", native, "--bootstrap", "0")
    assert (native / "answers.jsonl").read_text() == "{}\n"
