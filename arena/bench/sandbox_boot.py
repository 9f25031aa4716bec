"""Runs INSIDE the code sandbox (stdlib only): lock the file system and privileges, set limits, run the program.

Invoked by arena.bench.sandbox as `python -I -S sandbox_boot.py <json-settings>`, either inside fresh
user/mount/network/PID namespaces (isolation 'namespaces') or as a plain child process ('rlimits').
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
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 24, 28, 38
SECUREBITS = 0x2F  # NOROOT and NO_SETUID_FIXUP set and locked, KEEP_CAPS locked off: exec never regains capabilities
EXIT_SETUP = 97  # the sandbox itself could not be set up (never the program's own code)
EXIT_PROCESSES = 98  # the program went over its process limit and was killed
POLL_S = 0.005  # how often PID 1 counts the namespace's processes


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
WORK = "/work"      # where the working directory appears inside


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


def _lock_filesystem(libc: ctypes.CDLL, workdir: str) -> None:
    """A new root holding only the system folders, Python's folders, four devices, a private /proc and the
    working directory (at /work); everything read-only but /work; the host's root detached."""
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0, "make mounts private")
    root = NEW_ROOT
    shown = _capture([*SYSTEM_DIRS, *_python_dirs(), *DEVICES, "/proc"])  # /proc: unshare's private one
    (work,) = _capture([workdir])
    _check(libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755") == 0,
           "mount the new root")
    for path, kind, source in shown:
        _mirror(libc, root + path, kind, source)
    _mirror(libc, root + WORK, "dir", work[2])
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
    _check(libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, WORK.encode(), 0, ctypes.byref(rw), ctypes.sizeof(rw)) == 0,
           "make the working directory writable")


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


def _count_processes() -> int:
    """Processes in this PID namespace (the private /proc lists only them)."""
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def _kill_all() -> None:
    """SIGKILL every other process of the namespace (from PID 1)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nothing left


def _supervise(child: int, max_processes: int) -> None:
    """As PID 1 of the namespace: reap, and kill everything once the program has more than `max_processes`
    processes (RLIMIT_NPROC does not bind a caller that is root outside) or when it ends; exit with its status."""
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == child:
            _kill_all()  # leftovers it forked into the background
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        if pid == 0 and _count_processes() > max_processes + 1:
            _kill_all()
            sys.stdout.write(f"\nsandbox: killed, more than {max_processes} processes\n")
            os._exit(EXIT_PROCESSES)
        if pid == 0:
            time.sleep(POLL_S)


def main() -> None:
    """Set the sandbox up as `argv[1]` (JSON) says, then run the program file as __main__."""
    cfg = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    workdir, program = cfg["workdir"], cfg["program"]
    import runpy  # before the host's files go out of sight
    if cfg["namespaces"]:
        _lock_filesystem(libc, workdir)
        _drop_privileges(libc)
        workdir, program = WORK, WORK + "/" + os.path.basename(program)
        os.environ["HOME"] = WORK
    os.chdir(workdir)
    os.write(cfg["ready_fd"], b"1")  # set up: tell the parent, and give the program no way to say it again
    os.close(cfg["ready_fd"])
    if cfg["namespaces"]:
        child = os.fork()
        if child:
            _supervise(child, cfg["max_processes"])
        # the program and everything it forks run below PID 1's priority: a fork bomb's thousands of busy
        # processes would otherwise starve the supervisor that counts and kills them (seen once in CI: a
        # timeout instead of the process-count stop)
        os.nice(10)
    _limits(cfg)
    if not cfg["namespaces"]:
        _block_network_in_process()
    sys.path[:0] = [workdir]
    sys.argv = [program]
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
