"""Chunked columnar reading of battles (pyarrow): validated battle tables, a few hundred thousand at a time.

Each chunk is parsed by pyarrow and checked with vectorised tests (arena.rating.fastcheck). A chunk the
fast path cannot vouch for (a type pyarrow will not convert, NaN, a bad winner, two objects on one line)
is re-read row by row by arena.rating.io, which accepts exactly what it always accepted and otherwise
raises the error naming file, line and field. Memory is bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from arena.errors import DataError
from arena.rating import io as rio
from arena.rating.fastcheck import KNOWN_FIELDS, TEXT_FIELDS, NotVouched, fast_validate, json_schema

CHUNK_BYTES = 8 << 20  # JSONL bytes parsed at once (about 80k battles; peak memory grows ~15x this)
CHUNK_ROWS = 1 << 18  # Parquet rows per batch


def iter_set_chunks(files: list[Path], source: str, with_file: bool = False) -> Iterator[Any]:
    """Validated battle tables of several files in order (a Parquet glob or folder): a file with no battles adds
    nothing; only a set with no battles at all is an error. `with_file`: (file, table) pairs."""
    empty = True
    for file in files:
        for chunk in iter_battle_chunks(file, allow_empty=len(files) > 1):
            empty = False
            yield (file, chunk) if with_file else chunk
    if empty:
        raise no_battles(source, len(files))


def no_battles(source: str, n_files: int) -> DataError:
    """The error for a battle set with no battles at all."""
    return DataError(f"{source}: no battles" + (f" in any of its {n_files} files" if n_files > 1 else ""))


def iter_battle_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES, allow_empty: bool = False) -> Iterator[pd.DataFrame]:
    """Validated battle tables (validate_battles' columns) of a file or run folder, in file order (a file with no
    battles is an error unless allow_empty)."""
    path = rio.resolve_battles_path(Path(path))
    kind = rio.battles_format(path)
    readers = {"jsonl": _jsonl_chunks, "csv": _csv_chunks, "parquet": _parquet_chunks, "json": _json_chunks}
    empty = True
    for chunk in readers[kind](path, chunk_bytes):
        if len(chunk):
            empty = False
            yield chunk
    if empty and not allow_empty:
        raise DataError(f"{path}: no battles")


def _json_chunks(path: Path, chunk_bytes: int) -> Iterator[pd.DataFrame]:
    """A JSON list is one document: parsed whole by the standard library (use JSONL for big files)."""
    records, lines = rio.read_json_records(path)
    if records:
        yield rio.validate_battles(pd.DataFrame(records, dtype=object), path, lines, "json")


def _open_binary(path: Path):
    """Open a possibly gzipped file for binary reading."""
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _line_blocks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int, int]]:
    """Blocks of whole lines (about chunk_bytes, read on to the end of the line; the last line gets a newline
    if it lacks one), the number of their first line, and how many lines they hold."""
    first = 1
    try:
        with _open_binary(path) as handle:
            if handle.read(3) != b"\xef\xbb\xbf":  # a UTF-8 byte-order mark before the first line is dropped
                handle.seek(0)
            while block := handle.read(chunk_bytes):
                if not block.endswith(b"\n"):
                    block += handle.readline()
                    if not block.endswith(b"\n"):
                        block += b"\n"
                n_lines = block.count(b"\n")
                yield block, first, n_lines
                first += n_lines
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read battles ({exc})") from None


def _jsonl_lines(n_lines: int, first: int, n_rows: int) -> np.ndarray:
    """Line numbers of the rows of a block whose every line holds one object; NotVouched otherwise."""
    if n_rows != n_lines:
        raise NotVouched("rows do not match lines (blank lines, or two objects on a line)")
    return np.arange(first, first + n_lines, dtype=np.int64)


def _every_line_is_an_object(block: bytes) -> bool:
    """Whether every line of a block of whole lines starts with '{' (a bare `null` line crashes pyarrow 26's
    JSON reader; blank or indented lines go row by row)."""
    data = np.frombuffer(block, np.uint8)
    return bool(data[0] == 0x7B and (data[1:][data[:-1] == 0x0A] == 0x7B).all())


class _JsonlSchema:
    """The explicit pyarrow schema for the blocks of one JSONL file.

    Absent fields in an explicit schema cost pyarrow's reader about as much as present ones, so while the
    lines hold battle fields only, blocks are parsed with the fields seen so far and any other field is
    inferred (it then shows up as a column, and joins the schema). Once a line holds fields the engine
    does not read (conversations, time stamps ...), inferring those would cost more than they save: the
    remaining blocks are parsed with every battle field and the others ignored.
    """

    def __init__(self) -> None:
        self.seen: list[str] | None = None  # None: every battle field, other fields ignored
        self.infer = True

    def options(self, overrides: dict[str, pa.DataType]) -> pajson.ParseOptions:
        """Parse options for the next attempt at a block."""
        full = json_schema(overrides)
        if not self.infer:
            return pajson.ParseOptions(explicit_schema=full, unexpected_field_behavior="ignore")
        fields = [full.field(f) for f in (self.seen or [])]
        return pajson.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="infer")

    def learn(self, table: pa.Table) -> None:
        """Note the columns of a block parsed with inference: battle fields join, others end inference."""
        if not self.infer:
            return
        names = table.column_names
        if any(f not in KNOWN_FIELDS for f in names):
            self.infer = False
            return
        seen = self.seen or []
        self.seen = seen + [f for f in names if f not in seen and not pa.types.is_null(table.column(f).type)]


def check_utf8(table: pa.Table) -> None:
    """Raise pyarrow.ArrowInvalid when a text column holds bytes that are not UTF-8 (pyarrow's JSON reader
    does not check inside strings)."""
    for column in table.columns:
        if pa.types.is_string(column.type):
            column.validate(full=True)


def utf8_block(block: bytes) -> bool:
    """Whether a whole block of bytes is UTF-8 (Arrow's validation: about 0.5 ms for 8 MB, no Python string)."""
    offsets = pa.py_buffer(np.array([0, len(block)], np.int32).tobytes())
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(block)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _parse_jsonl_block(block: bytes, n_lines: int, schema: _JsonlSchema | None = None) -> pa.Table:
    """pyarrow parse of a JSONL block with the battle schema (text ids may be numbers).

    Only blocks whose every line starts with '{' and that are UTF-8 throughout (fields the engine does not read
    included, as in every block and in the row-by-row reader) reach pyarrow; others raise NotVouched.
    """
    if not _every_line_is_an_object(block):
        raise NotVouched("a line does not start with '{'")
    if not utf8_block(block):  # pyarrow's JSON reader does not check inside strings; the row reader names the line
        raise NotVouched("not UTF-8")
    schema = schema or _JsonlSchema()
    overrides: dict[str, pa.DataType] = {}
    for _ in range(len(TEXT_FIELDS) + 2):
        try:
            table = pajson.read_json(pa.BufferReader(block), parse_options=schema.options(overrides))
        except pa.ArrowInvalid as exc:
            field = re.search(r"Column\(/(\w+)\) changed from string to number", str(exc))
            if field and field.group(1) in TEXT_FIELDS and field.group(1) not in overrides:
                overrides[field.group(1)] = pa.int64()
            elif schema.infer:  # an inferred field changed type: parse with the battle fields only
                schema.infer = False
            else:
                raise NotVouched(str(exc)) from None
            continue
        schema.learn(table)
        return table
    raise NotVouched("schema")


def _parsed_blocks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int, int, pa.Table | None]]:
    """Blocks of whole lines with their pyarrow table (None when the fast path cannot vouch for the block).

    pyarrow parses one block ahead in a worker thread (it releases the GIL), while the caller checks and
    counts the previous one; blocks are parsed in file order, so the schema learns as it would in one thread.
    """
    from concurrent.futures import ThreadPoolExecutor

    schema = _JsonlSchema()

    def parse(block: bytes, first: int, n_lines: int) -> tuple[bytes, int, int, pa.Table | None]:
        try:
            return block, first, n_lines, _parse_jsonl_block(block, n_lines, schema)
        except NotVouched:
            return block, first, n_lines, None

    with ThreadPoolExecutor(1, thread_name_prefix="arena-jsonl") as pool:
        ahead = None
        for block, first, n_lines in _line_blocks(path, chunk_bytes):
            parsing = pool.submit(parse, block, first, n_lines)
            del block
            if ahead is not None:
                yield ahead.result()
            ahead = parsing
        if ahead is not None:
            yield ahead.result()


def _jsonl_chunks(path: Path, chunk_bytes: int) -> Iterator[pd.DataFrame]:
    """JSONL (optionally gzipped) in blocks of whole lines."""
    for block, first, n_lines, table in _parsed_blocks(path, chunk_bytes):
        try:
            if table is None:
                raise NotVouched("parse")
            yield fast_validate(table, path, _jsonl_lines(n_lines, first, table.num_rows), "jsonl", first == 1)
        except NotVouched:
            try:
                records, lines = rio.parse_jsonl_lines(path, block.split(b"\n"), first)
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: cannot read battles ({exc})") from None
            if records:
                frame = pd.DataFrame(records, dtype=object)
                if first > 1:  # a field absent from a later block is missing on its rows, not in every battle
                    frame = frame.reindex(columns=[*frame, *(f for f in ("model_a", "model_b") if f not in frame)])
                yield rio.validate_battles(frame, path, lines, "jsonl")
        del block, table  # the next block is read while this one's chunk is still held: not three at once


def _csv_chunks(path: Path, chunk_bytes: int) -> Iterator[pd.DataFrame]:
    """CSV (optionally gzipped) in record batches; every cell read as text, '' as missing."""
    import pyarrow.csv as pacsv  # here: `arena rate` on JSONL need not load it

    done = 0
    try:
        header = _csv_header(path)
        present = [c for c in header if c in KNOWN_FIELDS]
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in present}, include_columns=present,
            strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=True,
        )
        compression = "gzip" if path.suffix.lower() == ".gz" else None
        reader = pacsv.open_csv(
            pa.input_stream(str(path), compression=compression),
            read_options=pacsv.ReadOptions(block_size=min(chunk_bytes, 1 << 30)),
            convert_options=convert,
        )
        done = 0
        for batch in reader:
            table = pa.Table.from_batches([batch])
            lines = np.arange(done + 2, done + 2 + table.num_rows, dtype=np.int64)  # one record per line
            try:
                try:
                    chunk = fast_validate(table, path, lines, "csv", done == 0)
                except NotVouched:
                    frame = table.to_pandas().astype(object)
                    chunk = rio.validate_battles(frame.where(frame.notna(), None), path, lines, "csv")
            except DataError:  # name the real line: blank lines and quoted line breaks shift records
                frame = table.to_pandas().astype(object)
                rio.validate_battles(frame.where(frame.notna(), None), path, _csv_lines(path, done, len(frame)),
                                     "csv")
                raise
            done += table.num_rows
            yield chunk
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError):
        frame = rio.read_csv_text(path)  # the row-by-row reader names the line (fields, encoding)
        lines = frame.attrs["lines"][done:]
        if len(lines):
            yield rio.validate_battles(frame.iloc[done:], path, lines, "csv")


def _csv_lines(path: Path, start: int, count: int) -> np.ndarray:
    """First physical line of the CSV records start..start+count (0 = the first after the header), by a scan
    (only to name the line of an error)."""
    with rio._open_text(path) as handle:
        records = (line for line, row in rio.csv_records(handle) if row)
        next(records, None)  # the header
        return np.array([line for _, line in zip(range(start + count), records)][start:], np.int64)


def _csv_header(path: Path) -> list[str]:
    """The CSV header's field names."""
    with rio._open_text(path) as handle:
        header = next((row for _, row in rio.csv_records(handle) if row), None)  # blank lines before it skipped
    if not header:
        raise DataError(f"{path}: empty CSV file (expected a header with model_a, model_b, winner)")
    rio.check_csv_header(path, header)
    return header


def _parquet_chunks(path: Path, chunk_bytes: int) -> Iterator[pd.DataFrame]:
    """Parquet in record batches of the battle columns; errors name the row (1-based)."""
    import pyarrow.parquet as pq  # here: `arena rate` on JSONL need not load it

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read Parquet battles ({exc})") from None
    present = [c for c in source.schema_arrow.names if c in KNOWN_FIELDS]
    row = 0
    for batch in source.iter_batches(batch_size=CHUNK_ROWS, columns=present):
        table = pa.Table.from_batches([batch])
        lines = np.arange(row + 1, row + 1 + table.num_rows, dtype=np.int64)
        row += table.num_rows
        try:
            yield fast_validate(table, path, lines, "parquet", row == table.num_rows)
        except NotVouched:
            frame = table.to_pandas(integer_object_nulls=True).astype(object)  # ints with nulls stay ints (not 1.0)
            yield rio.validate_battles(frame.where(frame.notna(), None), path, lines, "parquet")
