"""Run untrusted Python (model-written code) in a separate, limited process; see `SandboxLimits` and the README.

Isolation 'namespaces' (Linux with unprivileged user namespaces, probed once): the program runs under
`unshare` in new user, mount, network and PID namespaces, in a new root that holds only the system folders
(/usr, /bin, /lib...), Python's own folders, /dev/null, /dev/zero, /dev/(u)random, a private /proc that shows
only its own processes, and its temporary working directory (at /work, the only writable place); the
host's other files (home folders, the project, config and key files) are not there at all. /work is a
fresh tmpfs of `disk_mb` MB: the sample's total disk, none of it on the host's disk. No network interface is
up (not even loopback), it has no capabilities, and it dies with everything it forked when the time is up.
The namespace's PID 1 (the boot script) kills every process in it as soon as there are more than
`max_processes` (RLIMIT_NPROC alone does not bind a caller that is root outside), as soon as they together
hold more than `memory_mb` MB resident (polled every 5 ms), and when the program ends (nothing it left in the
background survives).
Isolation 'rlimits' (the fallback, only when asked for): the same per-process limits and environment, but
the program can read and write what the user can (its working directory is on the host's disk with no
total cap: only each file is capped), network is refused by an in-process audit hook that native code can
bypass, and there is no total memory cap. The boot process is the child subreaper and kills what the program
left running (also setsid() daemons) when it ends or times out, unless the program kills the boot first.
Both: a time limit (wall and CPU), an address-space limit per process, a process limit, a size limit per
file, and an environment that holds no variable of the caller (no API keys). In 'rlimits' mode the process
limit is RLIMIT_NPROC only, which does not apply to root.

Verdict: 'passed' needs positive evidence, a per-run nonce that the boot writes to a private pipe only after
the program ran to its end (see sandbox_boot); an exit status of 0 alone is not enough.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from arena.errors import ConfigError

Isolation = Literal["auto", "namespaces", "rlimits"]
BOOT = Path(__file__).with_name("sandbox_boot.py")
OUTPUT_BYTES = 4000          # of stdout/stderr kept per run (the file itself is capped by file_mb)
OUTPUT_HEAD = 1000           # ... of which from the start; the rest is the end (where the failure reason is)
STATUS_BYTES = 1 << 16       # read at most this much of the status pipe (set-up byte + nonce expected)
STOP_GRACE_S = 3.0           # rlimits mode, timeout: time the boot gets to kill what the program left
log = logging.getLogger(__name__)
SAFE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. `memory_mb` is the address space of EACH process (RLIMIT_AS); with namespaces, the
    processes of the run together are also killed above `memory_mb` resident. `file_mb` caps EACH file
    written (RLIMIT_FSIZE), the output file included; with namespaces, `disk_mb` caps everything the run
    writes to /work together (a tmpfs: it takes RAM, not disk). Without namespaces there is no total cap."""

    timeout: float = 10.0
    memory_mb: int = 512
    max_processes: int = 16
    file_mb: int = 16
    disk_mb: int = 64


@dataclass(frozen=True)
class RunResult:
    """How one program ended: 'passed' (it ran to its end and exited 0), 'failed', 'timeout' or 'error'
    (the sandbox itself)."""

    status: str
    returncode: int | None
    seconds: float
    output: str

    @property
    def passed(self) -> bool:
        """Whether the program ran to its end (its checks returned normally) in time."""
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


def _command(program: Path, workdir: Path, limits: SandboxLimits, namespaces: bool, status_fd: int,
             nonce_fd: int) -> list[str]:
    settings = {"workdir": str(workdir), "program": str(program), "namespaces": namespaces,
                "status_fd": status_fd, "nonce_fd": nonce_fd,
                "memory_mb": limits.memory_mb, "cpu_seconds": int(limits.timeout) + 1,
                "max_processes": limits.max_processes, "file_mb": limits.file_mb, "disk_mb": limits.disk_mb}
    cmd = [sys.executable, "-I", "-S", "-u", str(BOOT), json.dumps(settings)]  # -u: output survives a kill
    if namespaces:
        cmd = [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--mount", "--net", "--pid",
               "--fork", "--kill-child", "--mount-proc", *cmd]
    return cmd


def _kill(proc: subprocess.Popen, namespaces: bool) -> None:
    """Stop a run at its timeout. Namespaces: kill its first process (the namespace goes with it).
    rlimits: ask the boot (SIGTERM) to kill what the program started, setsid() daemons included, then kill
    the group."""
    if not namespaces:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=STOP_GRACE_S)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.kill()
    proc.wait()


def _read_tail(path: Path) -> str:
    """The program's output: all of it when short, else its first OUTPUT_HEAD bytes and its end (where a
    traceback is), so the failure reason survives a lot of printing."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            if size <= OUTPUT_BYTES:
                return fh.read().decode("utf-8", errors="replace")
            head = fh.read(OUTPUT_HEAD)
            fh.seek(size - (OUTPUT_BYTES - OUTPUT_HEAD))
            tail = fh.read(OUTPUT_BYTES - OUTPUT_HEAD)
    except OSError:
        return ""
    cut = size - len(head) - len(tail)
    return (head.decode("utf-8", errors="replace") + f"\n[... {cut} bytes of output left out ...]\n"
            + tail.decode("utf-8", errors="replace"))


def _drain(fd: int) -> bytes:
    """What is in a pipe now (non-blocking; a leftover process may still hold its other end)."""
    os.set_blocking(fd, False)
    data = b""
    while len(data) < STATUS_BYTES:
        try:
            chunk = os.read(fd, STATUS_BYTES)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data


def remove_tree(path: Path) -> None:
    """Remove a run's folder whatever the program left in it (thousands of nested folders, folders without
    permissions); never raises: a folder that cannot be removed is logged and left, and scores are kept."""
    try:
        shutil.rmtree(path)
        return
    except FileNotFoundError:
        return
    except Exception:  # noqa: BLE001 - RecursionError on deep trees (Python < 3.12), PermissionError, ...
        pass
    for cmd in (["rm", "-rf", "--", str(path)], ["chmod", "-R", "u+rwx", "--", str(path)],
                ["rm", "-rf", "--", str(path)]):
        if not os.path.lexists(path):
            return
        try:
            subprocess.run(cmd, check=False, capture_output=True, timeout=120, env=SAFE_ENV)
        except (OSError, subprocess.SubprocessError):
            pass
    if os.path.lexists(path):
        log.warning("could not remove the code sandbox folder %s (left in place; remove it by hand)", path)


def run_python(source: str, scratch: Path, limits: SandboxLimits = SandboxLimits(),
               isolation: Isolation = "auto") -> RunResult:
    """Run `source` as a Python program in a fresh directory under `scratch` (removed afterwards).

    'passed' means the program ran to its end: the boot harness wrote this run's random nonce to a private
    pipe after exec returned (sandbox_boot). An early exit of any kind (sys.exit(0), os._exit(0), atexit or
    excepthook tricks), a forged exit status or printed text is 'failed'."""
    mode = resolve_isolation(isolation)
    scratch = Path(scratch).resolve()  # a relative workspace path must not break the mounts or the child's cwd
    scratch.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    nonce = secrets.token_hex(16).encode()
    out_path = workdir.parent / f"{workdir.name}.out"
    try:
        program = workdir / "program.py"
        program.write_text(source, encoding="utf-8")
        start = time.monotonic()
        # status: the boot writes b"1" once set up, then the nonce only if the program ran to its end.
        # nonce: written here and closed before the start, so only the boot reads it (not in argv or env)
        status_r, status_w = os.pipe()
        nonce_r, nonce_w = os.pipe()
        os.write(nonce_w, nonce)
        os.close(nonce_w)
        try:
            with open(out_path, "wb") as out:
                cmd = _command(program, workdir, limits, mode == "namespaces", status_w, nonce_r)
                proc = subprocess.Popen(cmd, cwd=workdir, env={**SAFE_ENV, "HOME": str(workdir)},
                                        pass_fds=(status_w, nonce_r), stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                os.close(status_w)
                os.close(nonce_r)
                status_w = nonce_r = -1
                try:
                    code: int | None = proc.wait(timeout=limits.timeout)
                except subprocess.TimeoutExpired:
                    _kill(proc, mode == "namespaces")
                    code = None
            reported = _drain(status_r)
        finally:
            for fd in (status_r, status_w, nonce_r):
                if fd >= 0:
                    os.close(fd)
        seconds = time.monotonic() - start
        text = _read_tail(out_path)
    finally:
        with suppress(OSError):
            out_path.unlink(missing_ok=True)
        remove_tree(workdir)
    set_up = reported[:1] == b"1"
    if not set_up and code is not None:
        status = "error"  # the sandbox, not the program: it never signalled that it was ready
    elif code is None:
        status = "timeout"
    elif code == 0 and reported == b"1" + nonce:
        status = "passed"
    else:
        status = "failed"
    return RunResult(status, code, round(seconds, 3), text)
