"""vLLM candidates through `arena run`: launched, answered, logged, stopped; a crash is a clear error."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from arena.cli import main
from conftest import read_jsonl, write_config

FAKE = [sys.executable, str(Path(__file__).parent / "fake_vllm_serve.py")]


def _vllm(name: str, gpus: list[int], **kw) -> dict:
    return {"name": name, "backend": "vllm", "model": f"/models/{name}", "command": FAKE, "gpus": gpus,
            "health_timeout_s": 20, "generation": {"stream": False}, **kw}


def _alive(marker: str) -> bool:
    # -ww: full command lines (under pytest ps cut them at 80 columns, so a long checkout path hid the marker)
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return any("fake_vllm_serve.py" in line and marker in line for line in out.splitlines())


def test_two_vllm_candidates_answer_then_stop(tmp_path, questions_file, capsys):
    cfg = write_config(tmp_path, questions_file, [_vllm("m-one", [0], extra_args=["--max-model-len", "512"]),
                                                  _vllm("m-two", [1])])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    ws = tmp_path / "ws"
    recs = {r["question_id"]: r for r in read_jsonl(ws / "answers" / "m-one.jsonl")}
    assert recs["q2"]["turns"] == ["m-one says: What is 2+2?"]
    assert recs["q1"]["turns"][1] == "m-one says: Now make it sadder."
    run = next((ws / "runs").iterdir())
    log = (run / "logs" / "vllm-m-one.log").read_text()
    assert "CUDA_VISIBLE_DEVICES=0" in log and "--max-model-len" in log
    assert (run / "logs" / "vllm-m-two.log").exists()
    assert not _alive("/models/m-one") and not _alive("/models/m-two")
    # fully cached: the second run launches no server at all
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    runs = sorted((ws / "runs").iterdir())
    assert not (runs[-1] / "logs").exists()


def _times(log: Path, what: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines() if f"fake-vllm: {what} at " in line]


def test_a_freed_gpu_is_used_at_once_not_when_the_whole_wave_ends(tmp_path, questions_file):
    """slow on GPU 0 and fast on GPU 1 start together; next (GPU 1) starts when fast is done, while slow still
    answers (it used to wait for slow too: both were one wave). Every server is stopped at the end."""
    slow = _vllm("slow", [0], env={"FAKE_VLLM_REPLY_DELAY": "2.5"})
    cfg = write_config(tmp_path, questions_file, [slow, _vllm("fast", [1]), _vllm("next", [1])])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    logs = next((tmp_path / "ws" / "runs").iterdir()) / "logs"
    fast_done = max(_times(logs / "vllm-fast.log", "chat reply"))
    next_up = _times(logs / "vllm-next.log", "listening")[0]
    slow_done = max(_times(logs / "vllm-slow.log", "chat reply"))
    assert _times(logs / "vllm-slow.log", "listening")[0] < fast_done < next_up < slow_done
    for name in ("slow", "fast", "next"):
        recs = read_jsonl(tmp_path / "ws" / "answers" / f"{name}.jsonl")
        assert len(recs) == 4 and all(r["turns"][0].startswith(f"{name} says: ") for r in recs)
        assert not _alive(f"/models/{name}")


def test_a_server_that_cannot_start_stops_the_others_and_fails_the_run(tmp_path, questions_file, capsys):
    """broken (GPU 1) dies at start-up while slow (GPU 0) is answering: slow's server is stopped, the run
    fails with broken's error, and what slow answered before is kept."""
    slow = _vllm("slow", [0], env={"FAKE_VLLM_REPLY_DELAY": "1.5"})
    broken = _vllm("broken", [1], env={"FAKE_VLLM_CRASH": "CUDA out of memory", "FAKE_VLLM_STARTUP_DELAY": "1"})
    cfg = write_config(tmp_path, questions_file, [slow, broken])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 1
    assert "CUDA out of memory" in capsys.readouterr().err
    assert not _alive("/models/slow") and not _alive("/models/broken")


def test_vllm_crash_is_one_clear_error_with_the_log_tail(tmp_path, questions_file, capsys):
    cand = _vllm("broken", [0], env={"FAKE_VLLM_CRASH": "CUDA out of memory while loading weights"})
    cfg = write_config(tmp_path, questions_file, [cand])
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 1  # a failed run (2 is bad input, before a run)
    err = capsys.readouterr().err
    run = next((tmp_path / "ws" / "runs").iterdir())
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert "CUDA out of memory while loading weights" in err and "Traceback (most recent call last)" in err
    assert err.startswith("error:")
    assert not _alive("/models/broken")


def test_weights_retrained_in_place_get_new_answers_and_a_copy_keeps_them(tmp_path, questions_file):
    """A checkpoint folder overwritten by next week's training has the same file names and sizes (same
    shapes) but other values: its answers are made again (before: the old week's answers were reused). The same
    bytes written again (a copy, a touch) keep the cache."""
    import os

    from arena.generation import weights_fingerprint

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    weights = folder / "model.safetensors"
    week1 = os.urandom(3_000_000)
    weights.write_bytes(week1)
    cand = _vllm("weekly", [0], model=str(folder))
    cfg = write_config(tmp_path, questions_file, [cand])
    ws = tmp_path / "ws"

    def launched() -> bool:
        return (sorted((ws / "runs").iterdir())[-1] / "logs" / "vllm-weekly.log").exists()

    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0 and launched()
    first = weights_fingerprint(str(folder))
    weights.write_bytes(week1)  # the same bytes again, a new modification time
    assert weights_fingerprint(str(folder)) == first
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0 and not launched()  # all cached
    week2 = bytearray(week1)
    week2[len(week2) // 2: len(week2) // 2 + 4096] = os.urandom(4096)  # the same size, values changed
    weights.write_bytes(bytes(week2))
    assert weights_fingerprint(str(folder)) != first
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0 and launched()  # answered again
    assert len(read_jsonl(ws / "answers" / "weekly.jsonl")) == 8


def test_an_edited_chat_template_or_tokenizer_changes_the_fingerprint(tmp_path):
    """The chat template (chat_template.jinja in current transformers) and the tokenizer files decide what the
    model sees: an edit of the same length is a new model; an unrelated file (README) is not."""
    from arena.generation import weights_fingerprint

    (tmp_path / "config.json").write_text('{"model_type": "qwen2"}')
    (tmp_path / "model.safetensors").write_bytes(bytes(200_000))
    (tmp_path / "chat_template.jinja").write_text("{{ message['role'] }}: {{ message['content'] }}")
    (tmp_path / "tokenizer.json").write_text('{"added_tokens": ["<a>"]}')
    first = weights_fingerprint(str(tmp_path))
    (tmp_path / "README.md").write_text("notes")
    assert weights_fingerprint(str(tmp_path)) == first
    (tmp_path / "chat_template.jinja").write_text("{{ message['role'] }}= {{ message['content'] }}")  # same size
    second = weights_fingerprint(str(tmp_path))
    assert second != first
    (tmp_path / "tokenizer.json").write_text('{"added_tokens": ["<b>"]}')  # same size
    assert weights_fingerprint(str(tmp_path)) not in (first, second)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_run_with_two_live_servers_stops_both(tmp_path, questions_file, sig):
    """Ctrl-C or SIGTERM while two servers answer side by side: exit 130, the run is `interrupted`, no server
    is left, and a second run finishes the answers."""
    import time

    cands = [_vllm(n, [i], env={"FAKE_VLLM_REPLY_DELAY": "3"}) for i, n in enumerate(("int-a", "int-b"))]
    cfg = write_config(tmp_path, questions_file, cands)
    proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 30
    logs = tmp_path / "ws" / "runs"
    while time.monotonic() < deadline:
        found = list(logs.glob("*/logs/vllm-*.log")) if logs.exists() else []
        if len(found) == 2 and all("listening at" in p.read_text() for p in found):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the two servers did not start")
    time.sleep(0.5)  # requests in flight
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == 130, proc.stderr.read().decode() if proc.stderr else ""
    run = next(logs.iterdir())
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert not _alive("/models/int-a") and not _alive("/models/int-b")
    for c in cands:
        c["env"] = {}
    cfg = write_config(tmp_path, questions_file, cands)
    assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    for name in ("int-a", "int-b"):
        assert len(read_jsonl(tmp_path / "ws" / "answers" / f"{name}.jsonl")) == 4


def test_a_sigkilled_arena_leaves_no_server(tmp_path, questions_file):
    """SIGKILL (or the OOM killer) runs no handler in arena: the guard that leads the server's process group sees
    its parent gone and stops the server, so the GPUs are freed."""
    import time

    env = {"FAKE_VLLM_REPLY_DELAY": "30", "FAKE_VLLM_SPAWN_WORKER": "1", "FAKE_VLLM_WORKER_IGNORES_SIGTERM": "1"}
    cfg = write_config(tmp_path, questions_file, [_vllm("orphan", [0], env=env)])
    proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "run", "-c", str(cfg), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        log = None
        while time.monotonic() < deadline:
            found = list((tmp_path / "ws" / "runs").glob("*/logs/vllm-orphan.log"))
            if found and "chat reply" not in found[0].read_text() and "listening at" in found[0].read_text():
                log = found[0]
                break
            time.sleep(0.1)
        assert log is not None, "the server did not start"
        assert _alive("/models/orphan")
    finally:
        proc.kill()  # what the test is about; also when an assertion above failed
        proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while _alive("/models/orphan") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive("/models/orphan")
    text = log.read_text()
    assert "arena-guard: the arena process is gone" in text
    worker = int(text.split("worker pid=")[1].split()[0])  # an engine worker that ignores SIGTERM goes too

    def running(pid: int) -> bool:  # a zombie (exited, not yet reaped by whoever adopted it) is not running
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(worker)
