"""JSONL/JSON files: tolerant reading, crash-safe appending, atomic writes, content hashes."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: damaged cache lines are then skipped, not set aside
    fcntl = None  # type: ignore[assignment]
from typing import Any, Iterator

from arena.errors import ArenaError, DataError


def content_hash(obj: Any, length: int = 16) -> str:
    """Stable short sha256 of any JSON-serialisable object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def read_text(path: Path | str, error: type[ArenaError] = DataError) -> str:
    """A whole UTF-8 text file; a file in another encoding or unreadable is one `error` naming file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(_not_utf8(path, raw, exc), hint="save the file as UTF-8") from None


def _not_utf8(path: Path, raw: bytes, exc: UnicodeDecodeError, line_offset: int = 0) -> str:
    line = raw[: exc.start].count(b"\n") + 1 + line_offset
    return f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} is not valid UTF-8)"


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes (un-gzipped for `.gz`); a missing or unreadable file is a DataError."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the file ({getattr(exc, 'strerror', None) or exc})") from None


def _parse_line(line: bytes, first: bool) -> tuple[dict | None, str]:
    """(record, "") for a JSON object line, else (None, why it is not one)."""
    try:
        text = line.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    if not isinstance(rec, dict):
        return None, f"expected a JSON object, got {type(rec).__name__}"
    return rec, ""


def _scan(raw: bytes) -> tuple[list[tuple[int, dict]], list[tuple[int, bytes, str]]]:
    """Split JSONL bytes into (line number, record) pairs and (line number, raw line, reason) for bad lines."""
    lines = raw.split(b"\n")
    good: list[tuple[int, dict]] = []
    bad: list[tuple[int, bytes, str]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        rec, why = _parse_line(line, lineno == 1)
        if rec is None:
            cut = lineno == len(lines)  # no newline after it: a write cut short by a crash or a kill
            bad.append((lineno, line, "an incomplete last line (an interrupted write)" if cut else why))
        else:
            good.append((lineno, rec))
    return good, bad


def scan_jsonl(path: Path) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """A JSONL file's good records as (line number, record) and its bad lines as (line number, why); the file
    is left as it is (user files: the caller reports the bad lines and goes on with the good ones)."""
    good, bad = _scan(_raw_bytes(Path(path)))
    return good, [(lineno, why) for lineno, _, why in bad]


def iter_jsonl(path: Path, *, strict: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) from a JSONL file.

    Strict (user files): a malformed line raises DataError naming file, line and what is wrong. Not strict
    (Arena's own cache files, and the app): malformed lines are skipped silently; `read_records` reports them.
    """
    path = Path(path)
    good, bad = _scan(_raw_bytes(path))
    if strict and bad:
        lineno, _, why = bad[0]
        hint = "save the file as UTF-8" if why.startswith("not UTF-8") else \
            "fix or delete that line; every line must be one JSON object"
        raise DataError(f"{path}:{lineno}: {why}", hint=hint)
    yield from good


def read_records(path: Path, *, strict: bool = True) -> list[tuple[int, dict]]:
    """Read a JSONL file, or a JSON file holding a list of objects, as (line/index, record) pairs.

    Not strict (Arena's cache files): damaged lines are reported once and set aside (see `set_aside`).
    """
    path = Path(path)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".json"):
        return _read_json_list(path)
    if strict:
        return list(iter_jsonl(path))
    good, bad = _scan(_raw_bytes(path))
    if bad:
        set_aside(path, bad)
    return good


def _read_json_list(path: Path) -> list[tuple[int, dict]]:
    raw = _raw_bytes(path)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(_not_utf8(path, raw, exc), hint="save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise DataError(f"{path}: not valid JSON (nested too deeply)") from None
    if isinstance(data, dict):
        return [(1, data)]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: expected a JSON list of objects")
    return list(zip(_element_lines(raw.decode("utf-8-sig"), len(data)), data))


def _element_lines(text: str, count: int) -> list[int]:
    """The line on which each element of a (valid) top-level JSON list starts, so that an error in a
    pretty-printed file names the record's line, not its position in the list."""
    decoder, lines, pos, line = json.JSONDecoder(), [], text.index("[") + 1, 1 + text.count("\n", 0, text.index("["))
    for _ in range(count):
        while text[pos] in " \t\r\n,":
            line += text[pos] == "\n"
            pos += 1
        lines.append(line)
        _, end = decoder.raw_decode(text, pos)
        line += text.count("\n", pos, end)
        pos = end
    return lines


_reported: set[tuple[str, tuple[int, ...]]] = set()


def set_aside(path: Path, bad: list[tuple[int, bytes, str]]) -> None:
    """Move damaged lines of an Arena cache file to `<file>.bad` (appended) and rewrite the file atomically
    without them, so the next run reads it clean; say so in one line on stderr, once.

    Done under an exclusive lock on the file, from a fresh read: an appender (which holds a shared lock) is
    never cut off and no good line is dropped. When another writer has the file open, the lines are only
    skipped now and set aside by a later run.
    """
    path = Path(path)
    lineno, _, why = bad[0]
    what = f"{len(bad)} damaged line(s) (line {lineno}: {why})"
    try:
        moved = fcntl is not None and path.suffix != ".gz" and _rewrite_without_bad(path)
    except OSError:  # a read-only workspace, a full disk: the lines are skipped, the file stays as it was
        moved = False
    if moved:
        _say(f"warning: {path}: {what} moved to {_bad_path(path)}; the file now holds only complete records")
        return
    seen = (str(path), tuple(n for n, _, _ in bad))
    if seen not in _reported:
        _reported.add(seen)
        _say(f"warning: {path}: skipping {what}; they move to {_bad_path(path)} once no writer has the file "
             "open")


def _bad_path(path: Path) -> Path:
    return path.with_name(path.name + ".bad")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _rewrite_without_bad(path: Path) -> bool:
    """True when the damaged lines were moved out (under an exclusive, non-blocking lock on the file)."""
    with open(path, "rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # an appender has it open: leave the file alone
        if not path.exists() or os.fstat(fh.fileno()).st_ino != os.stat(path).st_ino:
            return False  # replaced meanwhile: the next read looks again
        raw = fh.read()
        lines = raw.split(b"\n")
        damaged = {n for n, _, _ in _scan(raw)[1]}
        if not damaged:
            return True
        keep = [ln for n, ln in enumerate(lines, start=1) if n not in damaged and ln.strip()]
        with open(_bad_path(path), "ab") as bad:
            bad.write(b"".join(lines[n - 1] + b"\n" for n in sorted(damaged)))
            bad.flush()
            os.fsync(bad.fileno())
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as out:
                out.write(b"".join(ln + b"\n" for ln in keep))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return True


def repair_tail(path: Path) -> None:
    """Finish a last line a killed writer left without its newline, so appends stay valid: a complete
    record gets its newline, a partial one moves to `<file>.bad`."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        end = fh.seek(0, os.SEEK_END)
        fh.seek(end - 1)
        if fh.read(1) == b"\n":
            return
        cut = _after_last_newline(fh, end)
        fh.seek(cut)
        tail = fh.read()
        if _parse_line(tail, cut == 0)[0] is not None:
            fh.write(b"\n")
            return
        with open(_bad_path(path), "ab") as bad:
            bad.write(tail + b"\n")
        fh.truncate(cut)


def _after_last_newline(fh: Any, end: int, chunk: int = 4096) -> int:
    """Offset just after the file's last newline (0 when it has none)."""
    pos = end
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        fh.seek(pos)
        idx = fh.read(step).rfind(b"\n")
        if idx >= 0:
            return pos + idx + 1
    return 0


class JsonlAppender:
    """Appends one complete JSON line per record with a single write (O_APPEND), fsync'd on close.

    One appender per file and process: Arena never lets two writers share a file. With `background_sync`
    the fsyncs run in a helper thread (group commit): each line is still written at once, so a killed process
    loses nothing, and each fsync covers every line written before it started, while an event loop writing
    hundreds of records a second never waits for the disk.
    """

    def __init__(self, path: Path, *, fsync_every: int = 1, background_sync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = _open_locked(self.path)
        repair_tail(self.path)
        self._fsync_every = fsync_every
        self._pending = 0
        self._syncer = (ThreadPoolExecutor(1, thread_name_prefix="arena-fsync")
                        if background_sync and fsync_every else None)
        self._sync_queued = False
        self._sync_error: OSError | None = None  # a helper-thread fsync that failed: raised by the next call

    def append(self, record: dict) -> None:
        """Write one record as one line."""
        self._raise_sync_error()
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        os.write(self._fd, line)
        self._pending += 1
        if self._fsync_every and self._pending >= self._fsync_every:
            self._pending = 0
            if self._syncer is None:
                os.fsync(self._fd)
            elif not self._sync_queued:  # a queued fsync has not started yet: it will cover this line too
                self._sync_queued = True
                self._syncer.submit(self._sync)

    def _sync(self) -> None:
        self._sync_queued = False  # lines written from now on need the next fsync
        try:
            os.fsync(self._fd)
        except OSError as exc:  # EIO, ENOSPC, EDQUOT: the kernel reports it to one fsync only, this one
            self._sync_error = exc

    def _raise_sync_error(self) -> None:
        """Raise a failed helper-thread fsync in the writer, as a synchronous fsync would have."""
        if self._sync_error is not None:
            exc, self._sync_error = self._sync_error, None
            raise OSError(exc.errno, f"{self.path}: writing to disk failed ({exc.strerror}); records written "
                                     "since the last successful sync may be lost on a crash") from exc

    def close(self) -> None:
        """Flush to disk and close."""
        if self._fd >= 0:
            if self._syncer is not None:
                self._syncer.shutdown(wait=True)
            try:
                self._raise_sync_error()
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_locked(path: Path) -> int:
    """An O_APPEND descriptor holding a shared lock, on the file the path names now (`set_aside` may have
    replaced it while we waited)."""
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:  # a file system without locks: append unlocked, as before
            return fd
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to a sibling temp file, then rename over the target (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON atomically (write_text_atomic), indented, UTF-8."""
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def write_jsonl_atomic(path: Path, rows: list[dict]) -> None:
    """Write a whole JSONL file through a sibling temp file and a rename (readers never see half of it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    with JsonlAppender(tmp, fsync_every=0) as app:
        for r in rows:
            app.append(r)
    os.replace(tmp, path)


def safe_filename(name: str) -> str:
    """A model or judge name as one file name: no folders, no '..', no hidden files, no NUL."""
    out = str(name).replace("\x00", "").replace("/", "__").replace("\\", "__")
    if not out or out.startswith("."):
        out = "_" + out
    return out
