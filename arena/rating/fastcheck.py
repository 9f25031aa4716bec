"""Vectorised validation of one pyarrow table of battles into validate_battles' canonical columns.

It vouches only for chunks it can check completely; anything unusual raises NotVouched, and the caller
re-reads the chunk row by row (arena.rating.io.validate_battles), which accepts or names the bad line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from arena.errors import DataError
from arena.rating.io import (
    MAX_WEIGHT,
    NUMERIC_COLUMNS,
    STYLE_COLUMNS,
    TEXT_COLUMNS,
    TIME_COLUMN,
    WINNER_SCORE,
    battle_times,
)

TEXT_FIELDS = TEXT_COLUMNS
NUMBER_FIELDS = NUMERIC_COLUMNS + ("turn",)
KNOWN_FIELDS = ("model_a", "model_b", "winner") + NUMBER_FIELDS + TEXT_FIELDS + (TIME_COLUMN,)


class NotVouched(Exception):
    """The fast path cannot vouch for this chunk: re-read it row by row."""


def json_schema(overrides: dict[str, pa.DataType] | None = None) -> pa.Schema:
    """Explicit pyarrow JSON schema of the battle fields (others are ignored)."""
    types = {"model_a": pa.string(), "model_b": pa.string(), "winner": pa.string()}
    types.update({f: pa.float64() for f in NUMBER_FIELDS})
    types.update({f: pa.string() for f in TEXT_FIELDS})
    types[TIME_COLUMN] = pa.float64()
    types.update(overrides or {})
    return pa.schema(list(types.items()))


def _is_text(kind: pa.DataType) -> bool:
    """String-typed (or all-null) column."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def _models(table: pa.Table, path: Path, first: bool) -> dict[str, pd.Series]:
    """model_a / model_b as text Series; NotVouched unless all are non-empty strings."""
    out = {}
    for field in ("model_a", "model_b"):
        column = table.column(field) if field in table.column_names else None
        if column is None:
            if not first:  # absent from a later block only: its rows are bad, named by the row-by-row reader
                raise NotVouched(field)
            raise DataError(f"{path}: missing field '{field}' in every battle",
                            hint="battles need model_a, model_b, winner")
        if not _is_text(column.type) or column.null_count or pc.any(pc.equal(column, "")).as_py():
            raise NotVouched(field)
        out[field] = column.to_pandas()
    return out


def _number(table: pa.Table, field: str) -> np.ndarray:
    """A numeric field as float64 (NaN where missing); NotVouched for anything not a plain number >= 0."""
    if field not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table.column(field)
    kind = column.type
    if pa.types.is_null(kind):
        return np.full(table.num_rows, np.nan)
    if pa.types.is_boolean(kind) or not (_is_text(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise NotVouched(field)
    try:
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise NotVouched(field) from None
    values = np.asarray(values, dtype=float)
    nan = np.isnan(values)
    if int(nan.sum()) != column.null_count or np.isinf(values).any() or (values < 0).any():
        raise NotVouched(field)
    if field == "weight" and (values > MAX_WEIGHT).any():
        raise NotVouched(field)
    return values


def _text(table: pa.Table, field: str) -> pd.Series | None:
    """A text field as a Series (missing where missing), or None when the column is absent."""
    if field not in table.column_names:
        return None
    column = table.column(field)
    if pa.types.is_integer(column.type):
        column = pc.cast(column, pa.string())
    elif not _is_text(column.type):
        raise NotVouched(field)
    return column.to_pandas()


def _times(table: pa.Table, kind: str) -> np.ndarray:
    """The tstamp column as validate_battles reads it (io.battle_times): numbers, else NaN; never an error."""
    if TIME_COLUMN not in table.column_names:
        return np.full(table.num_rows, np.nan)
    column = table.column(TIME_COLUMN)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = np.array(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), float)  # a writable copy
        values[~np.isfinite(values)] = np.nan
        return values
    if _is_text(column.type) and kind == "csv":
        return battle_times(column.to_pandas(), table.num_rows, kind)
    return np.full(table.num_rows, np.nan)  # text in JSON, booleans, Parquet timestamps: no usable time


def _winner(table: pa.Table, prob_a: np.ndarray) -> tuple[pd.Series | np.ndarray | None, np.ndarray]:
    """Winner (None when absent) and the score of model_a; NotVouched for an unknown winner."""
    if (prob_a > 1).any():
        raise NotVouched("prob_a")
    if "winner" not in table.column_names or pa.types.is_null(table.column("winner").type):
        if np.isnan(prob_a).any():
            raise NotVouched("winner")
        present = "winner" in table.column_names
        return (np.full(table.num_rows, None, dtype=object) if present else None), prob_a.copy()
    column = table.column("winner")
    if not _is_text(column.type):
        raise NotVouched("winner")
    encoded = pc.dictionary_encode(column).combine_chunks()
    lookup = np.array([WINNER_SCORE.get(v, np.nan) for v in encoded.dictionary.to_pylist()] + [np.nan])
    codes = encoded.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False)
    from_winner = lookup[codes]
    if (np.isnan(from_winner) & np.isnan(prob_a)).any():
        raise NotVouched("winner")
    return column.to_pandas(), np.where(np.isnan(prob_a), from_winner, prob_a)


def fast_validate(table: pa.Table, path: Path, lines: np.ndarray, kind: str, first: bool) -> pd.DataFrame:
    """Canonical battles of a pyarrow table, equal to validate_battles' output; NotVouched when unsure."""
    models = _models(table, path, first)
    numbers = {field: _number(table, field) for field in NUMBER_FIELDS}
    winner, score = _winner(table, numbers["prob_a"])
    columns = {**models, "winner": winner, "score": score,
               "weight": np.where(np.isnan(numbers["weight"]), 1.0, numbers["weight"]), "prob_a": numbers["prob_a"]}
    columns.update({field: _text(table, field) for field in TEXT_FIELDS})
    columns["turn"] = numbers["turn"]
    columns.update({field: numbers[field] for field in STYLE_COLUMNS})
    columns[TIME_COLUMN] = _times(table, kind)
    columns["line"] = lines
    return pd.DataFrame(columns)  # at once: inserting column by column costs more than the checks
