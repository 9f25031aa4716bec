"""Read battles files (JSONL, JSON, CSV, optionally gzipped, or Parquet) into a validated table.

The fast path is columnar and chunked (arena.rating.stream); the row-by-row readers here are its
precise fallback: a chunk the fast path cannot vouch for is re-read by them, so errors name file and line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from arena.errors import DataError

WINNER_SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}
STYLE_COLUMNS = ("len_a", "len_b", "header_a", "header_b", "list_a", "list_b", "bold_a", "bold_b")
NUMERIC_COLUMNS = ("weight", "prob_a") + STYLE_COLUMNS
TEXT_COLUMNS = ("category", "judge", "question_id")
TIME_COLUMN = "tstamp"  # seconds (Chatbot Arena's battle time): online Elo plays battles in its order when all have one
BATTLES_FILENAME = "battles.jsonl"
ANONYMOUS_FILENAME = "battles.anonymous.jsonl"  # a Chatbot Arena import's anonymous battles (arena.interop.writer)
MAX_WEIGHT = 1e12  # a larger battle weight would let sums over millions of battles lose all precision


def weight_problem(value: Any) -> str | None:
    """Why a battle weight is unusable (not a finite number in [0, MAX_WEIGHT]), or None when it is fine."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return f"must be a number, got {value!r:.40}"
    if not np.isfinite(value) or value < 0 or value > MAX_WEIGHT:
        shown = float(value) if isinstance(value, (np.integer, np.floating)) else value  # not np.float64(...)
        return f"must be a finite number between 0 and {MAX_WEIGHT:g}, got {shown!r:.40}"
    return None


def resolve_battles_path(path: Path) -> Path:
    """Return the battles file for a file path or a run folder holding battles.jsonl."""
    path = Path(path)
    if path.is_dir():
        for name in (BATTLES_FILENAME, BATTLES_FILENAME + ".gz"):
            if (path / name).is_file():
                return path / name
        raise DataError(
            f"{path}: folder has no {BATTLES_FILENAME}", hint="pass a battles file or a run folder"
        )
    if not path.is_file():
        raise DataError(f"{path}: no such battles file")
    return path


def rating_source(path: Path) -> tuple[Path, str | None]:
    """What `arena rate` rates for PATH, and a note to show: a Chatbot Arena import run folder holding
    battles.anonymous.jsonl gives that file (its leaderboard, like Chatbot Arena's, counts anonymous battles
    only), or, when that file holds no battle (no battle is anonymous), the run's battles.jsonl, all of them;
    anything else is PATH itself."""
    path = Path(path)
    anonymous = path / ANONYMOUS_FILENAME
    if not (path.is_dir() and anonymous.is_file() and chatbot_arena_run(path)):
        return path, None
    if not _has_record(anonymous):
        return path, (f"{path}: no anonymous battles ({ANONYMOUS_FILENAME} is empty): rating all of the "
                      "run's battles, as its leaderboard does")
    note = (f"{path}: rating the run's anonymous battles ({ANONYMOUS_FILENAME}), as its leaderboard does; "
            f"to rate all battles pass {path / BATTLES_FILENAME}")
    return anonymous, note


def chatbot_arena_run(path: Path) -> bool:
    """Whether PATH is a run folder imported from Chatbot Arena battles (its leaderboard's scale and battles
    follow Chatbot Arena's)."""
    return Path(path).is_dir() and _run_tool(Path(path)) == "chatbot-arena"


def _has_record(path: Path) -> bool:
    """Whether a JSONL file has a line that is not blank (read up to the first one)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return any(line.strip() for line in fh)
    except OSError:
        return True  # unreadable: reading it for the ratings gives the error that names it


def _run_tool(path: Path) -> str | None:
    """The tool an imported run folder came from (run.json's source.tool), or None."""
    try:
        info = json.loads((path / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    source = info.get("source") if isinstance(info, dict) else None
    return source.get("tool") if isinstance(source, dict) else None


def _open_text(path: Path) -> IO[str]:
    """Open a possibly gzipped UTF-8 text file (a byte-order mark at the start is dropped, as spreadsheet programs
    write one)."""
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def battles_format(path: Path) -> str:
    """jsonl, json, csv or parquet, from the file name (ignoring a trailing .gz)."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
    if kind not in formats or (kind == ".parquet" and path.suffix.lower() == ".gz"):
        raise DataError(
            f"{path}: unknown battles format {kind or '(no suffix)'!r}",
            hint="use .jsonl, .json or .csv (optionally .gz), or .parquet",
        )
    return formats[kind]


def _no_constant(name: str) -> Any:
    """json parse_constant hook: NaN and Infinity are not numbers a battles file may hold."""
    raise ValueError(f"{name} is not a valid number here")


def _not_utf8(path: Path, number: int, line: bytes, exc: UnicodeDecodeError) -> DataError:
    """The error for a line that is not UTF-8, naming the line, the byte and its column."""
    return DataError(
        f"{path}:{number}: not UTF-8 text (byte {line[exc.start]:#04x} at column {exc.start + 1});"
        " save the file as UTF-8"
    )


def _first_bad_utf8_line(path: Path) -> DataError | None:
    """The error naming the first line of a (possibly gzipped) file that is not UTF-8, if any."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return _not_utf8(path, number, line, exc)
    return None


def parse_jsonl_lines(
    path: Path, lines: Iterable[str | bytes], first: int = 1
) -> tuple[list[dict[str, Any]], list[int]]:
    """Parse one JSON object per non-blank line (numbered from `first`), keeping line numbers."""
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    for number, line in enumerate(lines, start=first):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, number, line, exc) from None
        if not line.strip():
            continue
        try:
            record = decoder.decode(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        except (ValueError, RecursionError) as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        numbers.append(number)
    return records, numbers


def read_json_records(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Parse a JSON list of battle objects (or {"battles": [...]}); 'lines' are record numbers."""
    try:
        with _open_text(path) as handle:
            data = json.load(handle, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"{path}: cannot read battles ({exc})") from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{path}: invalid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("battles"), list):
        data = data["battles"]
    if not isinstance(data, list):
        raise DataError(f'{path}: expected a JSON list of battles or {{"battles": [...]}}')
    for number, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path}: record {number}: expected a JSON object, got {type(record).__name__}")
    return data, list(range(1, len(data) + 1))


def read_csv_text(path: Path) -> pd.DataFrame:
    """Read a CSV with every cell as text (typed later, so errors can name the line)."""
    try:
        with _open_text(path) as handle:
            rows = list(csv_records(handle))
    except UnicodeDecodeError as exc:
        raise (_first_bad_utf8_line(path) or DataError(f"{path}: cannot read CSV battles ({exc})")) from None
    except (OSError, EOFError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read CSV battles ({exc})") from None
    records = [(line, row) for line, row in rows if row]  # blank lines hold no record
    if not records:
        raise DataError(f"{path}: empty CSV file (expected a header with model_a, model_b, winner)")
    header = records[0][1]
    check_csv_header(path, header)
    for line, row in records[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} fields where the header has {len(header)}",
                            hint="quote fields that contain commas")
    frame = pd.DataFrame([r for _, r in records[1:]], columns=header, dtype=str).replace({"": None})
    frame.attrs["lines"] = np.array([line for line, _ in records[1:]], np.int64)  # each record's first line
    return frame


def csv_records(handle: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each CSV row, blank lines included as empty rows (a quoted field may
    span lines, so record k is not line k)."""
    reader = csv.reader(handle)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        yield start, row


def check_csv_header(path: Path, header: list[str]) -> None:
    """A battle field named twice in the header is an error (which of the two columns would be meant?)."""
    from arena.rating.fastcheck import KNOWN_FIELDS

    twice = sorted({name for name in header if name in KNOWN_FIELDS and header.count(name) > 1})
    if twice:
        raise DataError(f"{path}: the CSV header names {', '.join(repr(n) for n in twice)} more than once",
                        hint="keep one column of each name")


def where_row(path: Path, lines: np.ndarray, row: int, kind: str) -> str:
    """Human location of a row: file:line (JSONL/CSV), file: record N (JSON) or file: row N (Parquet)."""
    if kind in ("json", "parquet"):
        return f"{path}: {'record' if kind == 'json' else 'row'} {lines[row]}"
    return f"{path}:{lines[row]}"


def _check_models(frame: pd.DataFrame, path: Path, lines: np.ndarray, kind: str) -> None:
    """model_a and model_b must be non-empty strings on every row."""
    for field in ("model_a", "model_b"):
        if field not in frame:
            raise DataError(
                f"{path}: missing field '{field}' in every battle",
                hint="battles need model_a, model_b, winner",
            )
        values = frame[field]
        bad = ~values.map(lambda v: isinstance(v, str) and v != "").to_numpy(bool)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(
                f"{where_row(path, lines, row, kind)}: field '{field}' must be a non-empty string, got {values.iloc[row]!r}"
            )


def _to_number(frame: pd.DataFrame, field: str, path: Path, lines: np.ndarray, kind: str) -> np.ndarray:
    """Column as float64 (NaN where missing); a non-numeric or negative value raises DataError."""
    if field not in frame:
        return np.full(len(frame), np.nan)
    raw = frame[field]
    values = pd.to_numeric(raw.map(lambda v: None if isinstance(v, bool) else v), errors="coerce").to_numpy(
        float
    )
    bad = (np.isnan(values) & raw.notna().to_numpy()) | np.isinf(values) | (values < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"{where_row(path, lines, row, kind)}: field '{field}' must be a non-negative number, got {raw.iloc[row]!r}"
        )
    if field == "weight" and (values > MAX_WEIGHT).any():
        row = int(np.argmax(values > MAX_WEIGHT))
        raise DataError(
            f"{where_row(path, lines, row, kind)}: field 'weight' {weight_problem(values[row])}",
            hint="weights are relative (strong verdicts weigh 3): scale them down",
        )
    return values


def battle_times(raw: pd.Series | None, n: int, kind: str) -> np.ndarray:
    """The tstamp column as float64 seconds, NaN where missing or not a finite number: a battle time is only
    used to order online Elo, so an unusable one means "no time", never an error. CSV cells are text."""
    if raw is None:
        return np.full(n, np.nan)
    if kind == "csv":
        values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    else:
        values = np.array([float(v) if isinstance(v, (int, float, np.integer, np.floating))
                           and not isinstance(v, (bool, np.bool_)) else np.nan for v in raw], float)
    values[~np.isfinite(values)] = np.nan
    return values


def _scores(frame: pd.DataFrame, prob_a: np.ndarray, path: Path, lines: np.ndarray, kind: str) -> np.ndarray:
    """Score of model_a per battle: prob_a when given, else 1 / 0.5 / 0 from the winner."""
    if (prob_a > 1).any():
        row = int(np.argmax(prob_a > 1))
        raise DataError(
            f"{where_row(path, lines, row, kind)}: field 'prob_a' must be in [0, 1], got {prob_a[row]}"
        )
    winner = frame["winner"] if "winner" in frame else pd.Series([None] * len(frame), index=frame.index)
    from_winner = winner.map(
        lambda v: WINNER_SCORE.get(v, np.nan) if isinstance(v, str) else np.nan
    ).to_numpy(float)
    bad = np.isnan(from_winner) & np.isnan(prob_a)
    if bad.any():
        row = int(np.argmax(bad))
        value = winner.iloc[row]
        if value is None or (isinstance(value, float) and np.isnan(value)):  # absent, null or an empty cell
            raise DataError(f"{where_row(path, lines, row, kind)}: field 'winner' is missing",
                            hint=f"give winner ({', '.join(WINNER_SCORE)}) or prob_a on every battle")
        raise DataError(
            f"{where_row(path, lines, row, kind)}: field 'winner' must be one of "
            f"{', '.join(WINNER_SCORE)} (or give prob_a), got {value!r}"
        )
    return np.where(np.isnan(prob_a), from_winner, prob_a)


def validate_battles(
    frame: pd.DataFrame, path: Path | str = "<battles>", lines: Any = None, kind: str = "jsonl"
) -> pd.DataFrame:
    """Check and normalise a raw battles table; returns the canonical columns used by the engine."""
    path = Path(path)
    frame = frame.reset_index(drop=True)
    lines = np.arange(1, len(frame) + 1) if lines is None else np.asarray(lines)
    if frame.empty:
        raise DataError(f"{path}: no battles")
    _check_models(frame, path, lines, kind)
    out = pd.DataFrame(
        {"model_a": frame["model_a"].to_numpy(object), "model_b": frame["model_b"].to_numpy(object)}
    )
    numbers = {field: _to_number(frame, field, path, lines, kind) for field in NUMERIC_COLUMNS}
    out["winner"] = frame["winner"].to_numpy(object) if "winner" in frame else None
    out["score"] = _scores(frame, numbers["prob_a"], path, lines, kind)
    out["weight"] = np.where(np.isnan(numbers["weight"]), 1.0, numbers["weight"])
    out["prob_a"] = numbers["prob_a"]
    for field in TEXT_COLUMNS:
        out[field] = (
            frame[field]
            .map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
            .to_numpy(object)
            if field in frame
            else None
        )
    out["turn"] = _to_number(frame, "turn", path, lines, kind) if "turn" in frame else np.nan
    for field in STYLE_COLUMNS:
        out[field] = numbers[field]
    out[TIME_COLUMN] = battle_times(frame[TIME_COLUMN] if TIME_COLUMN in frame else None, len(frame), kind)
    out["line"] = lines
    return out


def load_battles(path: Path | str) -> pd.DataFrame:
    """Load and validate a battles file or run folder; raise DataError naming file, line and field."""
    from arena.rating.stream import iter_battle_chunks

    chunks = list(iter_battle_chunks(Path(path)))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
