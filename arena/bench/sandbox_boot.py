"""Runs INSIDE the code sandbox (stdlib only): lock the file system and privileges, set limits, run the program.

Invoked by arena.bench.sandbox as `python -I -S sandbox_boot.py <json-settings>`, either inside fresh
user/mount/network/PID namespaces (isolation 'namespaces') or as a plain child process ('rlimits').

The verdict needs positive evidence. The boot reads a per-run random nonce from a pipe (never in the program
text, argv or environment), forks, and the child execs the program with `__name__` set to "__sandbox__" (so
a reply's main guard does not fire, as in OpenAI's human-eval). Only when exec returns normally does it write
the nonce to the status pipe; any exception, SystemExit included, is a failure, and so is an exit of any
other kind (os._exit, a signal, atexit or excepthook tricks): no nonce reaches the parent. The parent
compares what the pipe holds with the nonce it sent, so printed text or bytes written to guessed file
descriptors cannot pose as a pass. What this does NOT stop: deliberately hostile code in the same
interpreter can find the nonce (frame inspection, gc, reading this process's memory) or rebind what the
tests use (AssertionError, `check`, the candidate's results' __eq__) before they run; OpenAI's human-eval
accepts the same. It stops accidents and casual cheating (early exits, main guards), not a model written
to defeat the harness.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time

MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, AT_RECURSIVE, AT_FDCWD, SYS_MOUNT_SETATTR = 0x1, 0x8000, -100, 442
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 24, 28, 36, 38
SECUREBITS = 0x2F  # NOROOT and NO_SETUID_FIXUP set and locked, KEEP_CAPS locked off: exec never regains capabilities
EXIT_SETUP = 97  # the sandbox itself could not be set up (never the program's own code)
EXIT_PROCESSES = 98  # the program went over its process limit and was killed
EXIT_MEMORY = 99  # the program's processes together went over the memory limit and were killed
EXIT_KILLED = 96  # rlimits mode: the parent stopped the run (timeout); everything it started was killed
POLL_S = 0.005  # how often PID 1 counts the namespace's processes and their memory
PROGRAM_NAME = "__sandbox__"  # the program's __name__ (not the main module's: its main guard is skipped)
PAGE = os.sysconf("SC_PAGE_SIZE")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(ok: bool, what: str) -> None:
    if not ok:
        sys.stderr.write(f"sandbox setup failed: {what} (errno {ctypes.get_errno()})\n")
        os._exit(EXIT_SETUP)


MNT_DETACH, MS_NOSUID, MS_NODEV = 2, 2, 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin")
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
NEW_ROOT = "/tmp"   # a tmpfs is mounted here (in this mount namespace only) and becomes the root
WORK = "/work"      # the working directory inside: its own size-limited tmpfs
SHM = "/dev/shm"    # POSIX shared memory (multiprocessing's locks and queues): a small tmpfs of its own
SHM_MB = 16
WORK_INODES = 65536  # files and folders a sample may create in /work


def _bind(libc: ctypes.CDLL, src: str, dst: str) -> None:
    _check(libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None) == 0, f"bind {dst}")


def _capture(paths: list[str]) -> list[tuple[str, str, int | str]]:
    """For each existing path: (path, 'link', target) or (path, 'dir'/'file', O_PATH fd), taken before the new
    root's tmpfs may hide them (the working directory itself can live under /tmp)."""
    got: list[tuple[str, str, int | str]] = []
    for path in paths:
        if os.path.islink(path):
            got.append((path, "link", os.readlink(path)))
        elif os.path.exists(path):
            got.append((path, "dir" if os.path.isdir(path) else "file", os.open(path, os.O_PATH | os.O_CLOEXEC)))
    return got


def _mirror(libc: ctypes.CDLL, target: str, kind: str, source: int | str) -> None:
    """Recreate a captured path at `target`: a symlink, or a bind mount of the directory or file."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if kind == "link":
        os.symlink(str(source), target)
        return
    if kind == "dir":
        os.makedirs(target, exist_ok=True)
    else:
        open(target, "w").close()
    _bind(libc, f"/proc/self/fd/{source}", target)
    os.close(int(source))


def _python_dirs() -> list[str]:
    """The interpreter's own folders (its prefix, the venv, the real executable's folder) - read-only inside."""
    exe_dir = os.path.dirname(os.path.realpath(sys.executable))
    dirs = {os.path.realpath(d) for d in (sys.base_prefix, sys.prefix, exe_dir)}
    return sorted(d for d in dirs if not any(d.startswith(s + "/") or d == s for s in SYSTEM_DIRS))


def _lock_filesystem(libc: ctypes.CDLL, disk_mb: int) -> None:
    """A new root holding only the system folders, Python's folders, four devices, a private /proc and a
    working directory (at /work) that is a fresh tmpfs of `disk_mb` MB: the sample's total disk (nothing it
    writes reaches the host's disk, and it all goes with the namespace), and a 16 MB /dev/shm of its own (so
    multiprocessing works); everything read-only but those two; the host's root detached."""
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0, "make mounts private")
    root = NEW_ROOT
    shown = _capture([*SYSTEM_DIRS, *_python_dirs(), *DEVICES, "/proc"])  # /proc: unshare's private one
    _check(libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755") == 0,
           "mount the new root")
    for path, kind, source in shown:
        _mirror(libc, root + path, kind, source)
    os.makedirs(root + WORK)
    work_opts = f"size={disk_mb}m,nr_inodes={WORK_INODES},mode=0755".encode()
    _check(libc.mount(b"tmpfs", (root + WORK).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, work_opts) == 0,
           "mount the working directory")
    os.makedirs(root + SHM, exist_ok=True)
    _check(libc.mount(b"tmpfs", (root + SHM).encode(), b"tmpfs", MS_NOSUID | MS_NODEV,
                      f"size={SHM_MB}m,mode=1777".encode()) == 0, "mount /dev/shm")
    os.makedirs(root + "/.old")
    _check(libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], root.encode(), (root + "/.old").encode()) == 0,
           "pivot_root")
    os.chdir("/")
    _check(libc.umount2(b"/.old", MNT_DETACH) == 0, "detach the host's root")
    os.rmdir("/.old")
    ro = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    _check(libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(ro), ctypes.sizeof(ro)) == 0,
           "make / read-only")
    rw = _MountAttr(0, MOUNT_ATTR_RDONLY, 0, 0)
    for place in (WORK, SHM):
        _check(libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, place.encode(), 0, ctypes.byref(rw), ctypes.sizeof(rw)) == 0,
               f"make {place} writable")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_privileges(libc: ctypes.CDLL) -> None:
    """No capabilities now or after any exec (so mounts cannot be undone), no new privileges via setuid files."""
    _check(libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) == 0,
           "lock securebits")
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)) == 0, "drop capabilities")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "set no_new_privs")


def _limits(cfg: dict) -> None:
    """Memory (address space), CPU seconds, processes, file size and open files."""
    mem = cfg["memory_mb"] * 1024 * 1024
    for res, value in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_DATA, mem),
                       (resource.RLIMIT_CPU, cfg["cpu_seconds"]), (resource.RLIMIT_NPROC, cfg["max_processes"]),
                       (resource.RLIMIT_FSIZE, cfg["file_mb"] * 1024 * 1024), (resource.RLIMIT_NOFILE, 64),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


def _block_network_in_process() -> None:
    """Without a network namespace: refuse sockets other than local pairs through an audit hook (bypassable)."""
    def hook(event: str, args: tuple) -> None:
        if event in ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo"):
            if event == "socket.__new__" and args and args[1] == 1:   # AF_UNIX socketpair used by the stdlib
                return
            raise PermissionError("network access is disabled in the code sandbox")
    sys.addaudithook(hook)


def _census() -> tuple[int, int]:
    """Processes in this PID namespace (the private /proc lists only them) and their resident memory in bytes
    (PID 1 itself not counted; pages shared after a fork count once per process, so it errs high)."""
    count, pages = 0, 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        count += 1
        if name != "1":
            try:
                with open(f"/proc/{name}/statm", "rb") as fh:
                    pages += int(fh.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass  # it just ended
    return count, pages * PAGE


def _kill_all() -> None:
    """SIGKILL every other process of the namespace (from PID 1)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing left


def _stop(code: int, why: str) -> None:
    _kill_all()
    sys.stdout.write(f"\nsandbox: killed, {why}\n")
    os._exit(code)


def _supervise(child: int, max_processes: int, memory_mb: int) -> None:
    """As PID 1 of the namespace: reap, and kill everything once the program has more than `max_processes`
    processes (RLIMIT_NPROC does not bind a caller that is root outside), once they together hold more than
    `memory_mb` MB resident (RLIMIT_AS binds each process alone), or when it ends; exit with its status."""
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == child:
            _kill_all()  # leftovers it forked into the background
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        if pid == 0:
            count, rss = _census()
            if count > max_processes + 1:
                _stop(EXIT_PROCESSES, f"more than {max_processes} processes")
            if rss > memory_mb * 1024 * 1024:
                _stop(EXIT_MEMORY, f"its processes together used more than {memory_mb} MB of memory")
            time.sleep(POLL_S)


def _children() -> list[int]:
    """This process's children, from /proc (orphans of the program are re-parented here: the subreaper)."""
    me, found = os.getpid(), []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    if int(fh.read().rsplit(b")", 1)[1].split()[1]) == me:
                        found.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def _kill_descendants(limit_s: float = 3.0) -> None:
    """Kill and reap every process the program left, down the tree: as the child subreaper this process
    inherits each orphan, even one that called setsid(), so killing its children until none is left gets
    them all."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        kids = _children()
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:  # reaping one hands its own children to this process
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _supervise_rlimits(child: int) -> None:
    """Without namespaces: wait for the program, then kill whatever it left running (also when the parent
    stops the run with SIGTERM at the timeout); exit with its status. The program runs as the same user and
    can kill this process first: then what it left survives (documented)."""
    def stopped(_sig: int, _frame: object) -> None:
        _kill_descendants()
        os._exit(EXIT_KILLED)

    signal.signal(signal.SIGTERM, stopped)
    _, status = os.waitpid(child, 0)
    _kill_descendants()
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _say(text: str) -> None:
    """A harness message on fd 2 (the program may have replaced or closed sys.stderr)."""
    try:
        os.write(2, text.encode("utf-8", "replace"))
    except OSError:
        pass


def _run(source: str, path: str, status_fd: int, nonce: bytes) -> None:
    """Exec the program as module "__sandbox__"; write the nonce to the status pipe only when exec returned
    normally (its tests ran to their end). Exits, never returns: no atexit handler or thread join runs."""
    import traceback
    import types
    module = types.ModuleType(PROGRAM_NAME)  # a real module: pickling its functions (Pool.map) works
    module.__file__ = path
    sys.modules[PROGRAM_NAME] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)  # running model code is the point (sandboxed)
    except SystemExit as exc:
        _say(f"\nsandbox: the program exited (SystemExit: {exc.code!r}) before its tests finished: "
             "counted as failed\n")
        code = exc.code if isinstance(exc.code, int) and 0 < exc.code < 256 else 1
    except BaseException as exc:  # every way of not finishing is a failure
        try:
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # without this harness's frame
            traceback.print_exception(type(exc), exc, tb, file=sys.__stderr__)
        except Exception:  # a broken stderr must not turn a failure into something else
            _say(f"\n{type(exc).__name__}\n")
        code = 1
    else:
        os.write(status_fd, nonce)
        code = 0
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: S110 - the verdict is made; output is best effort
            pass
    os._exit(code)


def _read_all(fd: int) -> bytes:
    """Everything the parent wrote to a pipe (it closed its end before starting this process); closes it."""
    data = b""
    while chunk := os.read(fd, 256):
        data += chunk
    os.close(fd)
    return data


def main() -> None:
    """Set the sandbox up as `argv[1]` (JSON) says, then run the program (see the module docstring)."""
    cfg = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    workdir, program = cfg["workdir"], cfg["program"]
    status_fd = cfg["status_fd"]
    nonce = _read_all(cfg["nonce_fd"])
    with open(program, encoding="utf-8") as fh:
        source = fh.read()  # before the host's files go out of sight (and with them the working directory)
    import traceback  # noqa: F401 - imported here (used in _run) while the host's files are in sight
    import types  # noqa: F401
    if cfg["namespaces"]:
        _lock_filesystem(libc, cfg["disk_mb"])
        _drop_privileges(libc)
        workdir, program = WORK, WORK + "/" + os.path.basename(program)
        with open(program, "w", encoding="utf-8") as fh:
            fh.write(source)  # so that tracebacks show its lines
        os.environ["HOME"] = WORK
    elif sys.platform.startswith("linux"):  # elsewhere (no prctl, no /proc) leftovers are not hunted down
        _check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "become the child subreaper")
    os.chdir(workdir)
    os.write(status_fd, b"1")  # set up: tell the parent (the program cannot take this byte back)
    child = os.fork()
    if child:
        os.close(status_fd)
        if cfg["namespaces"]:
            _supervise(child, cfg["max_processes"], cfg["memory_mb"])
        _supervise_rlimits(child)
    if cfg["namespaces"]:
        # the program and everything it forks run below PID 1's priority: a fork bomb's thousands of busy
        # processes would otherwise starve the supervisor that counts and kills them (seen once in CI: a
        # timeout instead of the process-count stop)
        os.nice(10)
    os.set_inheritable(status_fd, False)  # commands the program starts do not get it
    _limits(cfg)
    if not cfg["namespaces"]:
        _block_network_in_process()
    sys.path[:0] = [workdir]
    sys.argv = [program]
    _run(source, program, status_fd, nonce)


if __name__ == "__main__":
    main()
