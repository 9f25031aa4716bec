"""Run untrusted Python (model-written code) in a separate, limited process; see `SandboxLimits` and the README.

Isolation 'namespaces' (Linux with unprivileged user namespaces, probed once): the program runs under
`unshare` in new user, mount, network and PID namespaces, in a new root that holds only the system folders
(/usr, /bin, /lib...), Python's own folders, /dev/null, /dev/zero, /dev/(u)random, a private /proc that shows
only its own processes, and its temporary working directory (at /work, the only writable place); the
host's other files (home folders, the project, config and key files) are not there at all. No network
interface is up (not even loopback), it has no capabilities, and it dies with everything it forked when
the time is up. The namespace's PID 1 (the boot script) kills every process in it as soon as there are more
than `max_processes` (RLIMIT_NPROC alone does not bind a caller that is root outside) and when the program
ends (nothing it left in the background survives).
Isolation 'rlimits' (the fallback, only when asked for): the same limits and environment, but the
program can read and write what the user can, and network is refused by an in-process audit hook
that native code can bypass.  Both: a time limit (wall and CPU), an address-space limit, a process limit,
a file-size limit, and an environment that holds no variable of the caller (no API keys). In 'rlimits'
mode the process limit is RLIMIT_NPROC only, which does not apply to root.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from arena.errors import ConfigError

Isolation = Literal["auto", "namespaces", "rlimits"]
BOOT = Path(__file__).with_name("sandbox_boot.py")
OUTPUT_BYTES = 4000          # of stdout/stderr kept per run (the file itself is capped by file_mb)
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits: wall-clock seconds, memory (address space, MB), processes, output file size (MB)."""

    timeout: float = 10.0
    memory_mb: int = 512
    max_processes: int = 16
    file_mb: int = 16


@dataclass(frozen=True)
class RunResult:
    """How one program ended: 'passed' (exit 0), 'failed', 'timeout' or 'error' (the sandbox itself)."""

    status: str
    returncode: int | None
    seconds: float
    output: str

    @property
    def passed(self) -> bool:
        """Whether the program exited with status 0 in time."""
        return self.status == "passed"


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether `unshare` can make user+mount+network+PID namespaces here (probed once per process)."""
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return False
    try:
        done = subprocess.run([exe, "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork",
                               "--kill-child", "--mount-proc", "true"], check=False, capture_output=True,
                              timeout=10, env=SAFE_ENV)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def resolve_isolation(isolation: Isolation) -> Literal["namespaces", "rlimits"]:
    """'auto' -> 'namespaces' when available; asking for namespaces where there are none is a ConfigError."""
    if isolation == "rlimits":
        return "rlimits"
    if namespaces_available():
        return "namespaces"
    raise ConfigError(
        "code tasks need the sandbox's Linux namespaces (util-linux 'unshare' with unprivileged user "
        "namespaces), which this machine does not allow",
        hint="enable user namespaces (sysctl kernel.unprivileged_userns_clone=1), or set the task's "
             "code.isolation: rlimits to accept weaker isolation (the code can then read and write your files)")


def _command(program: Path, workdir: Path, limits: SandboxLimits, namespaces: bool, ready_fd: int) -> list[str]:
    settings = {"workdir": str(workdir), "program": str(program), "namespaces": namespaces, "ready_fd": ready_fd,
                "memory_mb": limits.memory_mb, "cpu_seconds": int(limits.timeout) + 1,
                "max_processes": limits.max_processes, "file_mb": limits.file_mb}
    cmd = [sys.executable, "-I", "-S", "-u", str(BOOT), json.dumps(settings)]  # -u: output survives a kill
    if namespaces:
        cmd = [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--mount", "--net", "--pid",
               "--fork", "--kill-child", "--mount-proc", *cmd]
    return cmd


def _kill(proc: subprocess.Popen) -> None:
    """Kill the run's process group (rlimits) or its namespace's first process (which takes all with it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()
    proc.wait()


def _read_tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(OUTPUT_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def run_python(source: str, scratch: Path, limits: SandboxLimits = SandboxLimits(),
               isolation: Isolation = "auto") -> RunResult:
    """Run `source` as a Python program in a fresh directory under `scratch` (removed afterwards)."""
    mode = resolve_isolation(isolation)
    scratch = Path(scratch).resolve()  # a relative workspace path must not break the mounts or the child's cwd
    scratch.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    try:
        program = workdir / "program.py"
        program.write_text(source, encoding="utf-8")
        out_path = workdir.parent / f"{workdir.name}.out"
        start = time.monotonic()
        ready_r, ready_w = os.pipe()  # the boot writes one byte once set up, then closes it (unforgeable later)
        try:
            with open(out_path, "wb") as out:
                proc = subprocess.Popen(_command(program, workdir, limits, mode == "namespaces", ready_w),
                                        cwd=workdir, env={**SAFE_ENV, "HOME": str(workdir)}, pass_fds=(ready_w,),
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                os.close(ready_w)
                ready_w = -1
                try:
                    code: int | None = proc.wait(timeout=limits.timeout)
                except subprocess.TimeoutExpired:
                    _kill(proc)
                    code = None
            os.set_blocking(ready_r, False)
            try:
                set_up = os.read(ready_r, 1) == b"1"
            except BlockingIOError:
                set_up = False
        finally:
            os.close(ready_r)
            if ready_w >= 0:
                os.close(ready_w)
        seconds = time.monotonic() - start
        text = _read_tail(out_path)
        out_path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not set_up and code is not None:
        status = "error"  # the sandbox, not the program: it never signalled that it was ready
    elif code is None:
        status = "timeout"
    elif code == 0:
        status = "passed"
    else:
        status = "failed"
    return RunResult(status, code, round(seconds, 3), text)
