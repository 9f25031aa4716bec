"""Streaming aggregation: battles folded chunk by chunk into distinct outcomes with counts.

A BattleSummary holds one row per distinct (model_a, model_b, score, weight, category[, question_id])
with its number of battles and the index of its first battle, so its size depends on models, pairs and
categories, not on battles. The first-battle index lets every category's pair counts be built in exactly
the order `aggregate` builds them from the full table, so ratings and bootstrap draws are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from arena.errors import DataError
from arena.rating.packed import PackedCounts, fits

if TYPE_CHECKING:
    from arena.rating.options import RatingOptions
    from arena.rating.summary_view import SummaryView

KEYS = ["a", "b", "score", "weight", "category", "question"]
CONSOLIDATE_ROWS = 2_000_000  # partial tables are merged once they hold this many rows


def _key(value: object) -> str:
    """Dictionary key of a name or a number (repr keeps every float exactly)."""
    return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)


class _Codes:
    """Stable integer codes of names seen across chunks (in order of first appearance)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def encode(self, values: np.ndarray | pd.Series) -> np.ndarray:
        """Codes of the values (None / NaN -> -1), adding new names."""
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        lookup = np.array([self.index.setdefault(_key(u), len(self.index)) for u in uniques] + [-1], np.int64)
        return lookup[codes]

    @property
    def names(self) -> np.ndarray:
        """Names by code."""
        return np.array(list(self.index), dtype=object)

    @property
    def values(self) -> np.ndarray:
        """Numbers by code (for codes of float values)."""
        return np.array([float(v) for v in self.index], dtype=float)


@dataclass
class BattleSummary:
    """Distinct battle outcomes with counts (combos), answer-length sums, and the names behind the codes."""

    source: str
    combos: pd.DataFrame  # KEYS + count, first
    lengths: pd.DataFrame  # category, model, self, len_sum, len_n
    model_names: np.ndarray
    category_names: np.ndarray
    question_names: np.ndarray
    n_battles: int
    by_question: bool

    def categories(self) -> list[str]:
        """Sorted category names that have battles."""
        used = np.unique(self.combos["category"].to_numpy())
        return sorted(str(self.category_names[c]) for c in used if c >= 0)

    def prepare(self, category: str | None = None) -> tuple[SummaryView, list[str]]:
        """The battles of one category (or all) without self-battles, and the warnings prepare() gives."""
        from arena.rating.summary_view import prepare_view

        return prepare_view(self, category)


class SummaryBuilder:
    """Folds validated battle chunks (validate_battles' columns) into a BattleSummary."""

    def __init__(self, source: str, by_question: bool = False) -> None:
        self.source, self.by_question = source, by_question
        self.models, self.categories, self.questions = _Codes(), _Codes(), _Codes()
        self.parts: list[pd.DataFrame] = []
        self.length_parts: list[pd.DataFrame] = []
        self.rows = 0
        self.scores, self.weights = _Codes(), _Codes()  # float values by code, for the packed counts
        self.packed: PackedCounts | None = None if by_question else PackedCounts()

    def add(self, chunk: pd.DataFrame) -> None:
        """Fold one chunk in."""
        n = len(chunk)
        both = self.models.encode(pd.concat([chunk["model_a"], chunk["model_b"]], ignore_index=True))
        a, b = both[:n], both[n:]
        category = self._text_codes(self.categories, chunk, "category", n)
        question = np.full(n, -1, np.int64)
        first = self.rows + np.arange(n, dtype=np.int64)
        if self.by_question:
            ids = chunk["question_id"] if "question_id" in chunk else pd.Series([None] * n, dtype=object)
            ids = ids.reset_index(drop=True)
            question = self.questions.encode(ids.where(ids.notna() & (ids.astype(str) != ""), None))
            question = np.where(question < 0, -1 - first, question)  # unlabelled: a cluster of its own
        self._lengths(chunk, a, b, category)
        score, weight = chunk["score"].to_numpy(float), chunk["weight"].to_numpy(float)
        if self.packed is not None:
            columns = (a, b, self.scores.encode(score), self.weights.encode(weight), category + 1)
            if fits(columns):
                self.packed.add(columns, first)
                self.rows += n
                return
            self._unpack()
        frame = pd.DataFrame({"a": a, "b": b, "score": score, "weight": weight, "category": category,
                              "question": question, "first": first})
        self.parts.append(frame.groupby(KEYS, sort=False).agg(count=("first", "size"), first=("first", "min")))
        self.rows += n
        if sum(len(p) for p in self.parts) > CONSOLIDATE_ROWS:
            self.parts = [_merge(self.parts)]

    def _unpack(self) -> None:
        """Move the packed counts into the group-by parts (a code outgrew its bits)."""
        if self.packed is not None and len(self.packed.keys):
            table = self.packed.table(self.scores.values, self.weights.values)
            self.parts.append(table.set_index(KEYS))
        self.packed = None

    @staticmethod
    def _text_codes(codes: _Codes, chunk: pd.DataFrame, field: str, n: int) -> np.ndarray:
        """Codes of a text column (-1 where missing or absent)."""
        if field not in chunk or chunk[field] is None:
            return np.full(n, -1, np.int64)
        return codes.encode(chunk[field].reset_index(drop=True))

    def _lengths(self, chunk: pd.DataFrame, a: np.ndarray, b: np.ndarray, category: np.ndarray) -> None:
        """Answer-length sums and counts per (category, model, self-battle)."""
        if "len_a" not in chunk or chunk[["len_a", "len_b"]].isna().all().all():
            return
        same = a == b
        long = pd.DataFrame({"category": np.r_[category, category], "model": np.r_[a, b],
                             "self": np.r_[same, same],
                             "len": np.r_[chunk["len_a"].to_numpy(float), chunk["len_b"].to_numpy(float)]})
        part = long.groupby(["category", "model", "self"]).agg(len_sum=("len", "sum"), len_n=("len", "count"))
        self.length_parts.append(part)

    def finish(self) -> BattleSummary:
        """The summary of everything added."""
        self._unpack()
        combos = _merge(self.parts).reset_index() if self.parts else pd.DataFrame(columns=KEYS + ["count", "first"])
        if self.length_parts:
            lengths = pd.concat(self.length_parts).groupby(level=[0, 1, 2]).sum().reset_index()
        else:
            lengths = pd.DataFrame(columns=["category", "model", "self", "len_sum", "len_n"])
        return BattleSummary(self.source, combos, lengths, self.models.names, self.categories.names,
                             self.questions.names, self.rows, self.by_question)


def _merge(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Merge partial (KEYS-indexed) tables: counts add up, first battles take the minimum."""
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts).groupby(level=list(range(len(KEYS))), sort=False).agg(
        count=("count", "sum"), first=("first", "min"))


def summarise(chunks: Iterable[pd.DataFrame], source: str = "<battles>", by_question: bool = False) -> BattleSummary:
    """Fold validated battle chunks into a BattleSummary (memory grows with distinct outcomes only)."""
    builder = SummaryBuilder(source, by_question)
    for chunk in chunks:
        builder.add(chunk)
    return builder.finish()


ENGINES = ("auto", "pyarrow", "duckdb")


def battles_for_rating(
    path: Path | str, options: RatingOptions, engine: str = "auto"
) -> pd.DataFrame | BattleSummary:
    """What rate_battles needs from a battles file, run folder, or glob / folder of Parquet files: streamed
    pair counts for plain Bradley-Terry, the validated per-battle table for online Elo and style control
    (they need order and style features). engine: how a Parquet set is aggregated (auto = DuckDB when
    the `scale` extra is installed, else pyarrow chunks)."""
    from arena.rating.duck import duck_summary, parquet_files
    from arena.rating.io import load_battles
    from arena.rating.stream import iter_set_chunks

    files = parquet_files(path) or [Path(path)]
    chunks = iter_set_chunks(files, str(path))
    if options.style_control:  # every battle needs its answer lengths: the first without them is named here
        return pd.concat(list(_with_lengths(files, str(path))), ignore_index=True)
    if options.method != "bt":
        if len(files) == 1:
            return load_battles(files[0])
        return pd.concat(list(chunks), ignore_index=True)
    by_question = options.bootstrap_by == "question" and options.bootstrap > 0
    parquet = all(f.suffix.lower() == ".parquet" for f in files)
    if parquet and (engine == "duckdb" or (engine == "auto" and _has_duckdb())):
        return duck_summary(files, by_question, source=str(path))
    return summarise(chunks, str(path), by_question)


def _with_lengths(files: list[Path], source: str) -> Iterator[pd.DataFrame]:
    """The validated chunks of a battle set, each checked for len_a and len_b on every battle (style control):
    the first battle without them is named by file and line (or row)."""
    from arena.rating.io import battles_format, resolve_battles_path, where_row
    from arena.rating.stream import iter_set_chunks

    for file, chunk in iter_set_chunks(files, source, with_file=True):
        missing = chunk[["len_a", "len_b"]].isna().any(axis=1).to_numpy() if "len_a" in chunk else None
        if missing is None or missing.any():
            path = resolve_battles_path(file)
            at = (f"{where_row(path, chunk['line'].to_numpy(), int(np.argmax(missing)), battles_format(path))}: "
                  if missing is not None else f"{path}: no len_a / len_b field; ")
            raise DataError(f"{at}style control needs len_a and len_b (answer lengths) on every battle",
                            hint="add answer lengths in tokens, or drop --style-control")
        yield chunk


def _has_duckdb() -> bool:
    """Whether the optional DuckDB engine is importable."""
    import importlib.util

    return importlib.util.find_spec("duckdb") is not None
