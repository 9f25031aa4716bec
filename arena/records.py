"""JSONL/JSON files: tolerant reading, crash-safe appending, atomic writes, content hashes."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

from arena.errors import DataError


def content_hash(obj: Any, length: int = 16) -> str:
    """Stable short sha256 of any JSON-serialisable object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def _open_text(path: Path):
    """Open a text file, transparently un-gzipping `.gz` files."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, "r", encoding="utf-8")


def iter_jsonl(path: Path, *, strict: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) from a JSONL file.

    Strict (user files): any malformed line raises DataError naming file and line. Not strict (Arena's
    own cache files): a malformed line is skipped with a warning; a last line without a newline is a
    write cut short by a crash or a kill, which the next appender trims.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    with _open_text(path) as fh:
        lines = fh.read().split("\n")
    last = len(lines)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if lineno == last and not strict:
                warnings.warn(f"{path}:{lineno}: ignoring an incomplete last line (an interrupted write)")
                continue
            msg = f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})"
            if strict:
                raise DataError(msg, hint="fix or delete that line; every line must be one JSON object")
            warnings.warn(msg + "; line skipped")
            continue
        if not isinstance(rec, dict):
            msg = f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}"
            if strict:
                raise DataError(msg)
            warnings.warn(msg + "; line skipped")
            continue
        yield lineno, rec


def read_records(path: Path, *, strict: bool = True) -> list[tuple[int, dict]]:
    """Read a JSONL file, or a JSON file holding a list of objects, as (line/index, record) pairs."""
    path = Path(path)
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(".json"):
        if not path.exists():
            raise DataError(f"{path}: file not found")
        with _open_text(path) as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a JSON list of objects")
        return [(i + 1, r) for i, r in enumerate(data)]
    return list(iter_jsonl(path, strict=strict))


def repair_tail(path: Path) -> None:
    """Cut a partial last line (no trailing newline) left by a killed writer, so appends stay valid."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        data_end = fh.seek(0, os.SEEK_END)
        pos = data_end
        chunk = 4096
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            fh.seek(pos)
            buf = fh.read(step)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                fh.truncate(pos + idx + 1)
                return
        fh.truncate(0)


class JsonlAppender:
    """Appends one complete JSON line per record with a single write (O_APPEND), fsync'd on close.

    One appender per file and process: Arena never lets two writers share a file.
    """

    def __init__(self, path: Path, *, fsync_every: int = 1) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fsync_every = fsync_every
        self._pending = 0

    def append(self, record: dict) -> None:
        """Write one record as one line."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        os.write(self._fd, line)
        self._pending += 1
        if self._fsync_every and self._pending >= self._fsync_every:
            os.fsync(self._fd)
            self._pending = 0

    def close(self) -> None:
        """Flush to disk and close."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a sibling temp file, then rename over the target (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=2, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
