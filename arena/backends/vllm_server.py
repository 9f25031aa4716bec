"""Launch a `vllm serve` subprocess, wait until it is healthy, and always stop it again.

Clean-up strategy (what guarantees the server never outlives the arena):
- the server runs in its own session / process group, so a Ctrl-C in the terminal reaches only the
  arena, and stop() can signal the server together with its workers (SIGTERM, grace, SIGKILL);
- ``with VLLMServer(...)`` (or ``async with``) stops it on normal exit, errors and KeyboardInterrupt;
  start() itself stops the process if waiting for /health fails or is interrupted;
- every live server sits in a module-level registry that an ``atexit`` hook stops, which covers
  servers started without ``with`` and an unhandled KeyboardInterrupt;
- Python's default SIGTERM and SIGHUP actions kill the interpreter without running ``atexit`` or
  ``finally``: the CLI calls install_sigterm_as_keyboard_interrupt() so both unwind like Ctrl-C (SIGHUP is
  what a lost terminal or SSH session sends; the server, in its own session, never gets it).
A SIGKILL of the arena itself (or the OOM killer) runs no handler: for that case the server is started under
vllm_guard.py, which leads its process group, passes the group's signals through, and stops the group when
the arena is gone from its parent slot (checked twice a second). PR_SET_PDEATHSIG was not used instead: it needs
a preexec_fn, which Python documents as unsafe while other threads run (servers are started from worker
threads), it fires when the *thread* that forked exits (an executor thread, not the arena), and it would reach
the leader only, not its workers.
"""
from __future__ import annotations

import asyncio
import atexit
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from arena.errors import BackendError, ConfigError
from arena.interrupts import install_sigterm_as_keyboard_interrupt  # noqa: F401 - re-exported (older imports)
from arena.redaction import MASK, register_secret

if TYPE_CHECKING:
    from typing_extensions import Self

    from arena.config import VLLMCandidate

LOG_TAIL_LINES = 30
_LIVE: set[VLLMServer] = set()
_LIVE_LOCK = threading.Lock()


class VLLMServer:
    """One `vllm serve MODEL` subprocess serving an OpenAI-compatible API on host:port."""

    def __init__(
        self,
        *,
        model: str,
        served_name: str,
        log_path: Path,
        command: list[str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        gpus: list[int] | None = None,
        tensor_parallel_size: int = 1,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        health_timeout: float = 600.0,
        poll_interval: float = 0.5,
        stop_grace: float = 15.0,
        model_flag: str | None = None,
        api_key: str | None = None,
    ) -> None:
        if tensor_parallel_size < 1:
            raise ConfigError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
        if gpus is not None and tensor_parallel_size > len(gpus):
            raise ConfigError(
                f"tensor_parallel_size={tensor_parallel_size} needs at least that many GPUs, got gpus={gpus}",
                hint="list more GPU ids in `gpus` or lower tensor_parallel_size",
            )
        self.model = model
        self.served_name = served_name
        self.log_path = Path(log_path)
        self.command = list(command) if command is not None else ["vllm", "serve"]
        self.host = host
        self.port = port if port is not None else find_free_port(host)
        self.gpus = list(gpus) if gpus is not None else None
        self.tensor_parallel_size = tensor_parallel_size
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.health_timeout = health_timeout
        self.poll_interval = poll_interval
        self.stop_grace = stop_grace
        self.model_flag = model_flag
        self.api_key = api_key
        register_secret(api_key)  # masked in every message from now on
        for value in _api_key_values(self.extra_args):  # a key passed as a flag (refused in configs)
            register_secret(value)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._abort = threading.Event()

    @classmethod
    def for_candidate(cls, candidate: VLLMCandidate, logs_dir: Path, suffix: str = "") -> VLLMServer:
        """The server of a `backend: vllm` candidate (its command, port, GPUs, arguments, environment and health
        timeout), logging to logs_dir/vllm-<name><suffix>.log."""
        from arena.backends.openai_compat import key_from_env

        c = candidate
        key = key_from_env(c.api_key_env, f"candidate '{c.name}'") if c.api_key_env else None
        return cls(model=c.model, served_name=c.name, log_path=Path(logs_dir) / f"vllm-{c.name}{suffix}.log",
                   command=c.command, model_flag=c.model_flag, port=c.port, gpus=c.gpus,
                   tensor_parallel_size=c.tensor_parallel_size, extra_args=c.extra_args, env=c.env,
                   health_timeout=c.health_timeout_s, api_key=key)

    # ----------------------------------------------------------------- properties
    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def health_url(self) -> str:
        """The URL polled until it answers 200."""
        return f"http://{self.host}:{self.port}/health"

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process group id), or None if never started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the server process exists and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def command_line(self) -> list[str]:
        """The full argv the server is launched with."""
        model_args = [self.model_flag, self.model] if self.model_flag else [self.model]
        args = [*self.command, *model_args, "--host", self.host, "--port", str(self.port)]
        args += ["--served-model-name", self.served_name]
        if self.tensor_parallel_size != 1:
            args += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        return args + self.extra_args

    def shown_command_line(self) -> str:
        """The argv as printed in messages: the value of an `--api-key` flag masked."""
        argv = self.command_line()
        return " ".join(MASK if i and argv[i - 1] == "--api-key" else f"--api-key={MASK}"
                        if a.startswith("--api-key=") else shlex.quote(a) for i, a in enumerate(argv))

    def _guarded(self, argv: list[str]) -> list[str]:
        """`argv` run under vllm_guard.py, which stops the server if this process is killed outright (SIGKILL,
        the OOM killer: no handler runs then). The launcher is looked up first, so a missing one is still an
        OSError here, as without the guard."""
        exe = locate_launcher(argv[0], self.process_env().get("PATH"))
        if exe is None:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        if not os.access(exe, os.X_OK):
            raise PermissionError(13, "Permission denied", argv[0])
        if not sys.executable:  # an embedded interpreter: no guard
            return [exe, *argv[1:]]
        guard = Path(__file__).with_name("vllm_guard.py")
        return [sys.executable, "-I", str(guard), str(os.getpid()), f"{self.stop_grace:g}", "--", exe, *argv[1:]]

    def process_env(self) -> dict[str, str]:
        """The environment of the server: ours, plus `env`, plus CUDA_VISIBLE_DEVICES from `gpus`, and
        VLLM_API_KEY only when this server has a key (`api_key`, from the candidate's api_key_env).

        An inherited VLLM_API_KEY is left out: vLLM would require that key on every request, and Arena sends
        a launched server no key unless api_key_env names one (the key then travels in the environment, not on
        the command line, which `ps` shows to every user)."""
        merged = {**{k: v for k, v in os.environ.items() if k != "VLLM_API_KEY"}, **self.env}
        if self.api_key:
            merged["VLLM_API_KEY"] = self.api_key
        if self.gpus is not None:
            merged["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in self.gpus)
        return merged

    # ----------------------------------------------------------------- lifecycle
    def start(self, clear_abort: bool = True) -> str:
        """Launch the server, wait for /health == 200 and return the OpenAI base URL (`clear_abort`: forget an
        earlier abort; start_async clears it itself, before the thread runs, so a cancel that lands first holds)."""
        if self.running:
            return self.base_url
        if clear_abort:
            self._abort.clear()
        elif self._abort.is_set():
            raise self._failure("start-up was cancelled", None)
        self._stopped = False
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = self.command_line()
        if not port_is_free(self.host, self.port):
            # Another server there could answer /health with 200 while ours fails to bind and exits:
            # start-up would look fine and the run would talk to the wrong model.
            raise BackendError(
                f"cannot launch vLLM server for {self.served_name!r}: port {self.port} on {self.host} is "
                "already in use by another process",
                hint="leave `port` unset (Arena picks a free one) or stop what listens there",
            )
        with open(self.log_path, "wb") as log:
            try:
                self._proc = subprocess.Popen(
                    self._guarded(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=self.process_env(), start_new_session=True,
                )
            except OSError as exc:
                raise BackendError(
                    f"could not launch vLLM server for {self.served_name!r}: {exc}\n"
                    f"  command: {self.shown_command_line()}",
                    hint="install vLLM into this environment (from the Arena checkout: pip install -e '.[vllm]';"
                         " the PyPI package named 'arena' is another project) or point `command` at a working launcher",
                ) from exc
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._wait_healthy(self._proc)
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_healthy(self, proc: subprocess.Popen[bytes]) -> None:
        """Poll /health until 200; raise BackendError on early exit, timeout or abort."""
        deadline = time.monotonic() + self.health_timeout
        with httpx.Client(trust_env=False) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    raise self._failure("exited during start-up", code)
                if self._abort.is_set():
                    raise self._failure("start-up was cancelled", None)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._failure(f"did not become healthy within {self.health_timeout:g} s", None)
                try:
                    if client.get(self.health_url, timeout=min(5.0, max(remaining, 0.1))).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0.0)))

    def _failure(self, what: str, exit_code: int | None) -> BackendError:
        """Build the start-up error: command line, exit code, log tail and a hint."""
        code = f"\n  exit code: {exit_code}" if exit_code is not None else ""
        hint = ("the launcher could not be run: check that it exists and that the interpreter on its first line "
                "(#!) does (a moved virtualenv breaks it); install vLLM into this environment (pip install -e "
                "'.[vllm]') or point `command` at a working launcher" if exit_code == 127 else
                "check the model path, the GPU ids (CUDA_VISIBLE_DEVICES) and free GPU memory in the log"
                if exit_code is not None else
                f"the model may need longer to load: raise health_timeout_s (now {self.health_timeout:g} s), "
                "or check the log for a hang")
        return BackendError(self._masked(
            f"vLLM server {self.served_name!r} {what}{code}\n  command: {self.shown_command_line()}\n"
            f"  log: {self.log_path}\n{self.log_excerpt()}"), hint=hint)

    def log_excerpt(self) -> str:
        """The first error-like line of the log (the root cause, often scrolled out of the tail by the
        shutdown that follows it) and the last LOG_TAIL_LINES lines."""
        cause = first_error_line(self.log_path)
        first = f"  first error in the log: {cause}\n" if cause else ""
        tail = read_log_tail(self.log_path, LOG_TAIL_LINES)
        return f"{first}  --- last {LOG_TAIL_LINES} log lines ---\n{tail}"

    def exit_report(self) -> str | None:
        """If the server has exited on its own (it was not stopped): what the user needs to know, with the log
        excerpt; None while it runs or once stopped."""
        proc = self._proc
        if proc is None or self._stopped or proc.poll() is None:
            return None
        return self._masked(f"vLLM server for {self.served_name} exited with code {proc.returncode} during "
                            f"generation; log: {self.log_path}\n{self.log_excerpt()}")

    def _masked(self, text: str) -> str:
        """`text` without this server's key (the api_key and `--api-key` values, however short: a server's log
        may print its arguments)."""
        for value in sorted({v for v in (self.api_key, *_api_key_values(self.extra_args)) if v}, key=len,
                            reverse=True):
            text = text.replace(value, MASK)
        return text

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the process group, wait `grace` seconds, then SIGKILL; idempotent; returns exit code."""
        proc = self._proc
        if proc is None or self._stopped:
            return None if proc is None else proc.returncode
        grace = self.stop_grace if grace is None else grace
        try:
            if proc.returncode is None:
                _signal_group(proc, signal.SIGTERM)
                _wait_exit_unreaped(proc, grace)
            # Leader has exited (still unreaped, so its pgid cannot be reused) or ignored SIGTERM:
            # kill whatever is left of the group, e.g. engine workers.
            _signal_group(proc, signal.SIGKILL)
        except BaseException:
            _signal_group(proc, signal.SIGKILL)
            raise
        finally:
            proc.wait()
            self._stopped = True
            with _LIVE_LOCK:
                _LIVE.discard(self)
        return proc.returncode

    async def start_async(self) -> str:
        """start() in a worker thread; cancelling the task aborts start-up and stops the server."""
        self._abort.clear()
        try:
            return await asyncio.to_thread(self.start, False)
        except asyncio.CancelledError:
            self._abort.set()
            raise

    async def stop_async(self, grace: float | None = None) -> int | None:
        """stop() in a worker thread."""
        return await asyncio.to_thread(self.stop, grace)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop_async()

    def __repr__(self) -> str:
        return f"VLLMServer({self.served_name!r}, {self.base_url}, pid={self.pid})"


# --------------------------------------------------------------------- helpers
def _api_key_values(args: list[str]) -> list[str]:
    """The values given to `--api-key` in a list of arguments (`--api-key KEY` and `--api-key=KEY`)."""
    out = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--api-key"]
    return out + [a.split("=", 1)[1] for a in args if a.startswith("--api-key=")]


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send `sig` to the process group led by `proc` (or to `proc` alone); gone is fine."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        if proc.returncode is None:  # not a group leader after all: signal the process itself
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass


def _wait_exit_unreaped(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to `timeout` s for `proc` to exit without reaping it (Linux); True if it exited."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.returncode is not None:
            return True
        if hasattr(os, "waitid"):
            try:
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True
        elif proc.poll() is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port right now (a bind test; SO_REUSEADDR as servers set it, so
    connections still closing there do not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 65536) -> str:
    """The last `lines` lines of a (possibly large, possibly missing) log file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - max_bytes))
            data = fh.read()
    except OSError as exc:
        return f"(log not readable: {exc})"
    text = data.decode("utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(text) if text else "(log is empty)"


# error-like log lines: "ValueError: ...", "torch.OutOfMemoryError: ...", "ERROR [core.py:1] OSError: ..."
_ERROR_LINE = re.compile(r"\b[A-Za-z_][\w.]*(?:Error|Exception): \S")
_NOT_THE_CAUSE = ("See root cause above", "Engine core initialization failed",
                  "Traceback (most recent call last)")


def first_error_line(path: Path, max_bytes: int = 4 * 2 ** 20, width: int = 500) -> str | None:
    """The first line of the log (its first `max_bytes`) that looks like an exception message, skipping vLLM's
    summary lines that only point at the real cause; None if there is none."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes)
    except OSError:
        return None
    for line in data.decode("utf-8", errors="replace").splitlines():
        if _ERROR_LINE.search(line) and not any(marker in line for marker in _NOT_THE_CAUSE):
            line = line.strip()
            return line if len(line) <= width else line[: width - 3] + "..."
    return None


def stop_all_servers(grace: float | None = None) -> None:
    """Stop every server this process started and has not stopped yet (also run at exit)."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop(grace)


atexit.register(stop_all_servers)


def plan_waves(gpu_sets: list[set[int] | None], ports: list[int | None] | None = None) -> list[list[int]]:
    """Group candidate indices into waves whose GPU sets are disjoint; None (all GPUs) runs alone.

    Greedy first fit in order: each candidate joins the earliest wave it does not overlap, else it
    opens a new one. An empty set uses no GPU and fits anywhere; pass None for CPU servers. Candidates
    with the same explicit port (`ports`, None: a free one) never share a wave: two servers cannot both
    listen there, and the second would talk to the first one's model.
    """
    ports = ports if ports is not None else [None] * len(gpu_sets)
    waves: list[list[int]] = []
    used: list[set[int] | None] = []
    for index, gpus in enumerate(gpu_sets):
        for wave, taken in zip(waves, used, strict=True):
            if not any(servers_clash(gpus, ports[index], taken, ports[i]) for i in wave):
                wave.append(index)
                taken |= gpus
                break
        else:
            waves.append([index])
            used.append(None if gpus is None else set(gpus))
    return waves


def locate_launcher(exe: str, path: str | None) -> str | None:
    """command[0] as the launch finds it: a path as given, a bare name on `path` (the server's PATH, which the
    candidate's env may set); None when there is no such file."""
    import shutil

    found = exe if os.sep in exe else shutil.which(exe, path=path)
    return found if found is not None and os.path.isfile(found) else None


def servers_clash(gpus_a: set[int] | None, port_a: int | None, gpus_b: set[int] | None, port_b: int | None) -> bool:
    """Whether two servers cannot run side by side: their GPU sets overlap (None, all GPUs, overlaps every set,
    the empty set included) or they ask for the same explicit port (None: a free one)."""
    if gpus_a is None or gpus_b is None or gpus_a & gpus_b:
        return True
    return port_a is not None and port_a == port_b


def ready_to_start(waiting: list[int], running: Collection[int], gpu_sets: list[set[int] | None],
                   ports: list[int | None]) -> list[int]:
    """The waiting candidates (indices; `waiting` in priority order, `plan_waves`' order) that may start now:
    each clashes with no running server and with no candidate waiting before it. Called again whenever a
    server stops, so a freed GPU set is used at once rather than when a whole wave has finished; no candidate
    starts later than in `plan_waves`' waves, and none is passed over for ever by later ones."""
    blocked = list(running)
    started = []
    for i in waiting:
        if not any(servers_clash(gpu_sets[i], ports[i], gpu_sets[j], ports[j]) for j in blocked):
            started.append(i)
        blocked.append(i)  # started, or waiting with priority over the later ones
    return started
