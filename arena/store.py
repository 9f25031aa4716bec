"""The workspace and its run folders: `answers/`, `judgments/`, `runs/<run>/run.json`."""
from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from arena.errors import BackendError
from arena.records import write_json_atomic
from arena.run_status import decide_outcome, process_identity
from arena.redaction import redact, redact_data

_PACKAGES = ("arena", "openai", "httpx", "pydantic", "numpy", "scipy", "pandas", "pyyaml")


def package_versions() -> dict[str, str | None]:
    """Versions of Python and the packages a run depends on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(cwd: Path | None = None) -> dict[str, Any] | None:
    """The git commit (and whether the tree is dirty) of the current directory, if it is a checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


class Workspace:
    """A folder that holds every run and the caches that runs share."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def answers_dir(self) -> Path:
        """Cached answers, one file per model."""
        return self.root / "answers"

    @property
    def judgments_dir(self) -> Path:
        """Cached judgments, one folder per judge."""
        return self.root / "judgments"

    @property
    def runs_dir(self) -> Path:
        """One folder per run."""
        return self.root / "runs"

    def new_run(self, name: str | None = None) -> "RunDir":
        """Create a fresh run folder named after the run name or the UTC time."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        base = f"{stamp}-{name}" if name else stamp
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:  # mkdir without exist_ok: two runs started in the same second get different folders
            path = self.runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
                return RunDir(path)
            except FileExistsError:
                n += 1

    def runs(self) -> list["RunDir"]:
        """Existing runs, oldest first."""
        if not self.runs_dir.exists():
            return []
        return [RunDir(p) for p in sorted(self.runs_dir.iterdir()) if (p / "run.json").exists()]


class RunDir:
    """One run's folder and its self-describing `run.json`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.run_id = self.path.name
        self.info: dict[str, Any] = {}

    @property
    def logs_dir(self) -> Path:
        """Server logs and other logs of this run."""
        return self.path / "logs"

    def start(self, config: dict[str, Any], command: list[str], kind: str = "arena") -> None:
        """Write the initial run.json (status `running`, with the process that runs it)."""
        self.info = {
            "run_id": self.run_id, "kind": kind, "status": "running", "command": command,
            "process": process_identity(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "finished": None,
            "config": config, "versions": package_versions(),
            "git": {"cwd": git_commit(), "arena": git_commit(Path(__file__).resolve().parent)},
            "platform": {"system": platform.system(), "machine": platform.machine(), "argv0": sys.argv[0]},
            "stages": {}, "errors": [],
        }
        self.save()

    def save(self) -> None:
        """Rewrite run.json atomically."""
        write_json_atomic(self.path / "run.json", redact_data(self.info))  # no key reaches the file

    def stage(self, name: str, summary: dict[str, Any]) -> None:
        """Record one stage's counts, tokens and timings."""
        self.info.setdefault("stages", {})[name] = summary
        self.save()

    def error(self, message: str, **fields: Any) -> None:
        """Record an error (already redacted of secrets)."""
        self.info.setdefault("errors", []).append({"message": redact(message), **fields})

    def finish(self, status: str, reasons: list[str] | None = None) -> None:
        """Mark the run completed, partial, failed or interrupted (with the reasons for partial or failed)."""
        self.info["status"] = status
        if reasons:
            self.info["status_reasons"] = reasons
        self.info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.save()

    @contextmanager
    def finishing(self, stage: str) -> Iterator[None]:
        """Finish the run on leaving: its outcome (completed, partial, failed: see run_status.decide_outcome),
        interrupted (Ctrl-C), or failed with the error recorded under `stage`."""
        status, reasons = "failed", []
        try:
            yield
            status, reasons = decide_outcome(self.info)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception as exc:
            self.error(str(exc), stage=stage)
            reasons = [f"{stage}: {exc}"]
            if isinstance(exc, BackendError) and not hasattr(exc, "exit_code"):
                # a model server or endpoint failed while the run ran: the run failed (1); a config, file or
                # missing extra found inside a stage stays bad input (2)
                exc.exit_code = 1  # type: ignore[attr-defined]
            raise
        finally:
            self.finish(status, reasons)
