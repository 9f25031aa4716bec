"""A run's status: the outcome decided from its stages when it ends, and whether a `running` run still runs."""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

#: exit code of `arena run` / `arena bench` per final status (a cron job tells them apart)
EXIT_CODES = {"completed": 0, "failed": 1, "partial": 3, "interrupted": 130}
_PROC = Path("/proc")


def _answered(s: dict[str, Any]) -> int:
    """Answers a model has for this run: made now, reused from the cache, or imported."""
    return int(s.get("generated") or 0) + int(s.get("cached") or 0) + int(s.get("imported") or 0)


def _answer_problems(stages: dict[str, Any]) -> tuple[list[str], bool]:
    """Failed answers per model, and whether any answer at all exists."""
    models = (stages.get("answers") or {}).get("models") or {}
    problems, any_answer = [], False
    for name, s in models.items():
        answered, failed = _answered(s), int(s.get("failed") or 0)
        any_answer = any_answer or answered > 0
        if answered == 0 and (failed or s.get("questions")):
            problems.append(f"candidate {name} has no answers ({failed} failed)")
        elif failed:
            problems.append(f"candidate {name}: {failed} of {s.get('questions', '?')} questions unanswered")
    return problems, any_answer


def _judge_problems(judge: dict[str, Any]) -> list[str]:
    """Failed, unparsed or abandoned judgments (a budget stop is the user's limit, not a failure)."""
    out = []
    for name, m in (judge.get("members") or {judge.get("judge", "judge"): judge}).items():
        bad = {k: int(m.get(k) or 0) for k in ("errors", "unparsed")}
        if any(bad.values()):
            out.append(f"judge {name}: {bad['errors']} judgments failed, {bad['unparsed']} unparsed")
    if judge.get("not_done") and not judge.get("budget_stopped"):
        out.append(f"judge {judge.get('judge', '')}: {judge['not_done']} judgments not done".replace("  ", " "))
    return out


def run_kind(info: dict[str, Any]) -> str:
    """`arena`, `bench` or `import`: recorded at start; inferred for runs written before it was."""
    kind = info.get("kind")
    if isinstance(kind, str):
        return kind
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    stages = info.get("stages") if isinstance(info.get("stages"), dict) else {}
    if "bench" in stages or config.get("bench"):
        return "bench"
    return "import" if config.get("import") else "arena"


def _missing_product(info: dict[str, Any], stages: dict[str, Any]) -> str | None:
    """Why the configured result (leaderboard, scores, bench scores) is missing, or None when it exists."""
    if run_kind(info) == "bench":
        bench = stages.get("bench") or {}
        models = bench.get("models") or {}
        scored = any(t.get("accuracy") is not None for m in models.values() for t in m.values())
        if scored:
            return None
        if bench.get("problems"):  # e.g. "task summ not scored: reference metrics need the 'sacrebleu' package"
            return "no benchmark scores (no task could be scored: " + "; ".join(bench["problems"][:3]) + ")"
        return ("no benchmark scores (no task got a score for any candidate: items unanswered or too few samples "
                "to score; see the missing column)")
    judge_cfg = (info.get("config") or {}).get("judge")
    if not isinstance(judge_cfg, dict):
        return None
    judge = stages.get("judge")
    if not judge:
        return "the judge stage did not run"
    if (judge_cfg.get("mode") or judge.get("mode")) == "single":
        return None if judge.get("scores") else "no battles or scores came out of the judge stage"
    if not judge.get("battles"):
        return "no battles or scores came out of the judge stage, so there is no leaderboard"
    rating = stages.get("rating")
    if not rating or rating.get("skipped"):
        return f"no leaderboard ({(rating or {}).get('skipped', 'the rating stage did not run')})"
    return None


def decide_outcome(info: dict[str, Any]) -> tuple[str, list[str]]:
    """`completed`, `partial` (something failed but the result exists) or `failed` (nothing usable), with reasons."""
    stages = info.get("stages") or {}
    problems, any_answer = _answer_problems(stages)
    if stages.get("judge"):
        problems += _judge_problems(stages["judge"])
    for stage in stages.values():  # a stage may list what it could not do (e.g. a bench task a backend cannot score)
        problems += [str(p) for p in (stage.get("problems") or [] if isinstance(stage, dict) else [])]
    if "answers" in stages and not any_answer:
        return "failed", ["no candidate produced an answer", *problems]
    missing = _missing_product(info, stages)
    if missing:
        return "failed", [missing, *problems]
    return ("partial", problems) if problems else ("completed", [])


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (field 3), or None when there is no such process."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _boot_id() -> str | None:
    try:
        return (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """This process as run.json records it: pid, host, boot id and start time (guards against pid reuse)."""
    pid = os.getpid() if pid is None else pid
    stat = _proc_stat(pid)
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(),
            "start_ticks": int(stat[19]) if stat and len(stat) > 19 else None}


def process_alive(proc: dict[str, Any]) -> bool | None:
    """Whether the recorded process still runs: True, False, or None when it is on another host."""
    if proc.get("host") != socket.gethostname():
        return None
    pid = proc.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    if proc.get("boot_id") and _boot_id() and proc["boot_id"] != _boot_id():
        return False  # the machine restarted since
    if _PROC.is_dir():
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return proc.get("start_ticks") is None or len(stat) <= 19 or int(stat[19]) == proc["start_ticks"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def shown_status(info: dict[str, Any]) -> str:
    """The status to show: `killed` for a `running` run whose process is gone, `running (on host X)` elsewhere."""
    status = str(info.get("status", "unknown"))
    proc = info.get("process")
    if status != "running" or not isinstance(proc, dict):
        return status
    alive = process_alive(proc)
    if alive is None:
        return f"running (on host {proc.get('host')})"
    return "running" if alive else "killed"


def counts_as_completed(status: object) -> bool:
    """Whether a run with this recorded status is a finished week for `arena compare` and the History page: a
    completed run, or one from before statuses were recorded (missing, null or empty; the app shows those as
    'unknown' or 'None'). A partial, failed or interrupted run is an attempt its re-run continues."""
    return status in (None, "", "None", "unknown", "completed")
