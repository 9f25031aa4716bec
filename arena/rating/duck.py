"""Out-of-core aggregation of Parquet battles with DuckDB (optional extra `scale`): one SQL GROUP BY.

For battle logs larger than memory: DuckDB scans a path or glob of Parquet files in parallel and spills
to disk when it must, and returns the same BattleSummary the chunked reader builds (distinct outcomes
with counts and first-battle order: file order, then row order). A bad row is located in SQL and then
re-read by the chunked reader, so the error names the file and row exactly as it always does.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from arena.errors import ArenaError, DataError
from arena.rating.io import MAX_WEIGHT, WINNER_SCORE
from arena.rating.summary import KEYS, BattleSummary, _Codes, summarise

GLOB_CHARS = "*?["
ROW_BITS = 40  # a battle's order key is file index << ROW_BITS | row in file


def parquet_files(pattern: str | Path) -> list[Path] | None:
    """The sorted Parquet files of a glob or a folder of .parquet files; None for anything else. An existing path
    is taken as it is, glob characters in its name or not. A folder's other files (`arena rate -o` outputs,
    dataset metadata) are left out (left_out names them); a glob must match Parquet files only."""
    text = str(pattern)
    path = Path(text)
    is_glob = any(c in text for c in GLOB_CHARS) and not path.exists()
    if is_glob:
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise DataError(f"{text}: no file matches this pattern", hint="quote the glob, e.g. 'logs/*.parquet'")
    elif _parquet_folder(path):
        found = sorted(p for p in path.glob("*.parquet") if p.is_file())
    else:
        return None
    if not found or any(p.suffix.lower() != ".parquet" for p in found):
        return _only_parquet(text, found) if is_glob else None
    return found


def _parquet_folder(path: Path) -> bool:
    """Whether PATH is a folder rated as a set of Parquet files (not a run folder holding battles.jsonl)."""
    return path.is_dir() and not any((path / n).is_file() for n in ("battles.jsonl", "battles.jsonl.gz")) \
        and any(p.is_file() for p in path.glob("*.parquet"))


def left_out(pattern: str | Path) -> str | None:
    """A note naming the files with a battles suffix (.jsonl, .json, .csv) that rating a folder of Parquet
    files leaves out (e.g. `arena rate -o` outputs, dataset_info.json), or None."""
    path = Path(pattern)
    if not _parquet_folder(path):
        return None
    other = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() != ".parquet"
                   and not p.name.startswith(".") and _battle_file(p))
    if not other:
        return None
    count = sum(1 for p in path.glob("*.parquet") if p.is_file())
    shown = ", ".join(other[:6]) + (f" and {len(other) - 6} more" if len(other) > 6 else "")
    files = f"{count} Parquet file" + ("s" if count != 1 else "")
    rest = f"{len(other)} other file" + ("s" if len(other) != 1 else "")
    return f"{path}: rating its {files}; left out {rest}: {shown} (rate a file on its own by naming it)"


def _battle_file(path: Path) -> bool:
    """Whether a file's name says it holds battles (.jsonl, .json, .csv, optionally .gz, or .parquet)."""
    from arena.rating.io import battles_format

    try:
        battles_format(path)
    except DataError:
        return False
    return True


def _only_parquet(text: str, found: list[Path]) -> list[Path]:
    """A glob must match Parquet battle files only."""
    other = [p.name for p in found if p.suffix.lower() != ".parquet"][:3]
    raise DataError(f"{text}: the pattern matches files that are not Parquet ({', '.join(other)})",
                    hint="battle sets given by a pattern must be .parquet files: e.g. "
                         f"'{Path(text).parent / '*.parquet'}'")


def _connect():
    """A DuckDB connection, or an error naming the extra to install."""
    try:
        import duckdb
    except ImportError:
        raise ArenaError("aggregating Parquet battles with DuckDB needs the 'scale' extra",
                         hint="pip install -e '.[scale]' (or drop --engine duckdb)") from None
    return duckdb.connect()


def _columns(con, files: list[Path]) -> dict[str, str]:
    """Column name -> DuckDB type of the Parquet set."""
    rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?, union_by_name=true)", [_patterns(files)]).fetchall()
    return {name: kind for name, kind, *_ in rows}


def _battle_sql(columns: dict[str, str]) -> str:
    """SELECT of one row per battle: canonical columns, its order key, and whether the reader would reject it."""
    from arena.rating.fastcheck import NUMBER_FIELDS

    def number(name: str, default: str) -> str:  # NaN counts as missing, as in the readers
        value = f"CAST({name} AS DOUBLE)"
        return f"(CASE WHEN isnan({value}) THEN NULL ELSE {value} END)" if name in columns else default

    def text(name: str, empty_is_missing: bool = False) -> str:  # an empty question_id is no question
        value = f"CAST({name} AS VARCHAR)"
        if columns.get(name) == "BOOLEAN":  # as the other readers spell it (Python's str): True / False
            value = f"(CASE WHEN {name} THEN 'True' WHEN NOT {name} THEN 'False' END)"
        value = f"NULLIF({value}, '')" if empty_is_missing else value
        return value if name in columns else "NULL::VARCHAR"

    winner = " ".join(f"WHEN '{w}' THEN {s}" for w, s in WINNER_SCORE.items())
    winner_col = "winner" if "winner" in columns else "NULL::VARCHAR"
    checks = ["model_a IS NULL", "model_a = ''", "model_b IS NULL", "model_b = ''",
              f"coalesce({number('weight', 'NULL')} > {MAX_WEIGHT}, false)",
              f"coalesce({number('prob_a', 'NULL')} > 1, false)",
              f"({number('prob_a', 'NULL')} IS NULL AND (CASE {winner_col} {winner} ELSE NULL END) IS NULL)"]
    checks += [f"coalesce(isinf({number(f, 'NULL')}) OR {number(f, 'NULL')} < 0, false)"
               for f in NUMBER_FIELDS if f in columns]
    return f"""
        SELECT model_a, model_b, {number('weight', '1.0')} AS w0, {number('prob_a', 'NULL::DOUBLE')} AS p,
               CASE {winner_col} {winner} ELSE NULL END AS from_winner,
               {text('category')} AS category, {text('question_id', True)} AS question,
               {number('len_a', 'NULL::DOUBLE')} AS len_a, {number('len_b', 'NULL::DOUBLE')} AS len_b,
               (list_position(?, filename)::BIGINT - 1) * {1 << ROW_BITS} + file_row_number AS ord,
               {' OR '.join(checks)} AS bad
        FROM read_parquet(?, filename=true, file_row_number=true, union_by_name=true)"""


def _patterns(files: list[Path]) -> list[str]:
    """The files as DuckDB reads them: it expands every name given to read_parquet as a glob, so `*`, `?` and `[`
    in a file's own name are escaped (`s[1].parquet` would otherwise read `s1.parquet`)."""
    return [glob.escape(str(f)) for f in files]


def _first_bad(con, files: list[Path], base: str) -> tuple[Path, int] | None:
    """File and 1-based row of the first battle the chunked reader would reject, or None."""
    names = [str(f) for f in files]
    row = con.execute(f"SELECT min(ord) FROM ({base}) WHERE bad", [names, _patterns(files)]).fetchone()
    if row is None or row[0] is None:
        return None
    return files[row[0] >> ROW_BITS], (row[0] & ((1 << ROW_BITS) - 1)) + 1


def duck_summary(files: list[Path], by_question: bool = False, memory_limit: str | None = None,
                 source: str | None = None) -> BattleSummary:
    """BattleSummary of a Parquet set (named `source` in errors), grouped by DuckDB out of core (memory bounded by
    memory_limit)."""
    from arena.rating.fastcheck import NUMBER_FIELDS
    from arena.rating.stream import iter_set_chunks, no_battles

    label = source or " ".join(map(str, files))
    con = _connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    columns = _columns(con, files)
    odd = [c for c in ("model_a", "model_b", "winner") if c in columns and columns[c] != "VARCHAR"]
    odd += [c for c in NUMBER_FIELDS if c in columns and columns[c] not in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER")]
    if "model_a" not in columns or "model_b" not in columns or odd:  # unusual types: the chunked reader
        return summarise(iter_set_chunks(files, label), label, by_question)
    base = _battle_sql(columns)
    found = _first_bad(con, files, base)
    if found is not None:  # the chunked reader names file, row and field (and has the last word)
        return summarise(iter_set_chunks(files, label), label, by_question)
    names = [str(f) for f in files]
    alone = "CASE WHEN question IS NULL THEN ord END" if by_question else "NULL::BIGINT"
    question = "question" if by_question else "NULL::VARCHAR"
    combos = con.execute(f"""
        SELECT model_a, model_b, coalesce(p, from_winner) AS score, coalesce(w0, 1.0) AS weight, category,
               {question} AS question, {alone} AS alone, count(*) AS count, min(ord) AS first
        FROM ({base}) GROUP BY ALL""", [names, _patterns(files)]).df()
    if combos.empty:
        raise no_battles(label, len(files))
    lengths = con.execute(f"""
        SELECT category, model, model_a = model_b AS self, sum(len) AS len_sum, count(len) AS len_n FROM (
            SELECT category, model_a, model_b, model_a AS model, len_a AS len FROM ({base})
            UNION ALL SELECT category, model_a, model_b, model_b AS model, len_b AS len FROM ({base}))
        GROUP BY ALL HAVING count(len) > 0""", [names, _patterns(files)] * 2).df()
    return _to_summary(" ".join(names), combos, lengths, by_question)


def _to_summary(source: str, combos: pd.DataFrame, lengths: pd.DataFrame, by_question: bool) -> BattleSummary:
    """Encode DuckDB's grouped rows (names as text) into a BattleSummary."""
    models, categories, questions = _Codes(), _Codes(), _Codes()
    n = len(combos)
    both = models.encode(pd.concat([combos["model_a"], combos["model_b"]], ignore_index=True))
    question = questions.encode(combos["question"]) if by_question else np.full(n, -1, np.int64)
    alone = combos["alone"].to_numpy()
    question = np.where(pd.isna(alone), question, -1 - combos["first"].to_numpy(np.int64)) if by_question else question
    table = pd.DataFrame({"a": both[:n], "b": both[n:], "score": combos["score"].to_numpy(float),
                          "weight": combos["weight"].to_numpy(float), "category": categories.encode(combos["category"]),
                          "question": question, "count": combos["count"].to_numpy(np.int64),
                          "first": combos["first"].to_numpy(np.int64)})
    length_table = pd.DataFrame({
        "category": categories.encode(lengths["category"]) if len(lengths) else np.zeros(0, np.int64),
        "model": models.encode(lengths["model"]) if len(lengths) else np.zeros(0, np.int64),
        "self": lengths["self"].to_numpy(bool), "len_sum": lengths["len_sum"].to_numpy(float),
        "len_n": lengths["len_n"].to_numpy(np.int64)})
    return BattleSummary(source, table[KEYS + ["count", "first"]], length_table, models.names, categories.names,
                         questions.names, int(table["count"].sum()), by_question)
