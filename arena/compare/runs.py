"""The two runs of a comparison: what each run says about itself, its battles, and picking a series' last two."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from arena.errors import ArenaError, DataError
from arena.rating.io import load_battles
from arena.records import iter_jsonl
from arena.run_status import counts_as_completed
from arena.store import Workspace


@dataclass
class RunFacts:
    """One judged run: its folder, run.json, leaderboard options, judge template hashes and battles."""

    path: Path
    info: dict[str, Any]
    leaderboard: dict[str, Any]
    template_hashes: list[str]
    judge_models: list[str]
    battles: pd.DataFrame = field(repr=False)

    @property
    def run_id(self) -> str:
        """The run folder's name."""
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config recorded in run.json ({} when absent)."""
        cfg = self.info.get("config")
        return cfg if isinstance(cfg, dict) else {}

    @property
    def series(self) -> tuple[str | None, str | None]:
        """(run name, judge mode): runs with the same pair belong to one weekly series."""
        judge = self.config.get("judge") if isinstance(self.config.get("judge"), dict) else {}
        return self.config.get("run_name"), judge.get("mode")


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it is absent; a broken file is an error naming it."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable JSON ({exc})", hint="re-run the run or pass another run") from None
    return data if isinstance(data, dict) else {}


def _judgment_facts(path: Path) -> tuple[list[str], list[str]]:
    """Sorted distinct template hashes and judge models of a run's judgments.jsonl (empty when absent)."""
    hashes: set[str] = set()
    models: set[str] = set()
    if not path.is_file():
        return [], []
    fast = _judgment_facts_arrow(path)
    if fast is not None:
        return fast
    for _, rec in iter_jsonl(path, strict=False):  # a torn last line says nothing about the judge
        if rec.get("template_hash"):
            hashes.add(str(rec["template_hash"]))
        if rec.get("judge_model") or rec.get("judge"):
            models.add(str(rec.get("judge_model") or rec.get("judge")))
    return sorted(hashes), sorted(models)


def _judgment_facts_arrow(path: Path) -> tuple[list[str], list[str]] | None:
    """_judgment_facts by pyarrow's JSON reader, which tokenises the file in C++ and keeps only the three
    fields (a run of 200k battles holds 400k judgments with the judges' text; parsed line by line in Python
    they take seconds); None when pyarrow cannot take the file (a malformed or torn line, a field of another
    type), and the line-by-line reader takes over."""
    import pyarrow as pa
    import pyarrow.json as pajson

    from arena.rating.stream import check_utf8

    fields = ("template_hash", "judge_model", "judge")
    schema = pa.schema([(f, pa.string()) for f in fields])
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pajson.read_json(path, parse_options=options)
        check_utf8(table)
        hashes = {h for h in table.column("template_hash").unique().to_pylist() if h}
        pairs = table.select(["judge_model", "judge"]).group_by(["judge_model", "judge"]).aggregate([])
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        return None
    models = {str(m or j) for m, j in zip(pairs.column("judge_model").to_pylist(), pairs.column("judge").to_pylist())
              if m or j}
    return sorted(hashes), sorted(models)


def load_run(path: Path | str) -> RunFacts:
    """Read a run folder (run.json and battles.jsonl required); errors name the folder and the fix."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such run folder", hint="pass WORKSPACE/runs/<run> (see `arena runs WORKSPACE`)")
    if not (path / "run.json").is_file():
        raise DataError(f"{path}: not a run folder (no run.json)", hint="pass WORKSPACE/runs/<run>")
    if not _has_battles(path):
        raise DataError(f"{path}: run has no battles.jsonl (not judged in a pairwise or baseline mode)",
                        hint="compare runs that were judged: arena run -c CONFIG (with judge.mode pairwise/baseline)")
    battles = load_battles(path)  # the run folder: battles.jsonl or battles.jsonl.gz
    hashes, judges = _judgment_facts(path / "judgments.jsonl")
    return RunFacts(path, _read_json(path / "run.json"), _read_json(path / "leaderboard.json"), hashes, judges,
                    battles)


def _judged_runs(workspace: Path) -> list[Path]:
    """Run folders of a workspace that have run.json and battles.jsonl, oldest first (folder names start with
    the UTC start time)."""
    runs_dir = workspace / "runs"
    if not runs_dir.is_dir():
        raise DataError(f"{workspace}: no runs/ folder, so no runs to compare",
                        hint="name a workspace (arena compare WORKSPACE) or two run folders")
    return [r.path for r in Workspace(workspace).runs() if _has_battles(r.path, nonempty=True)]


def _has_battles(path: Path, nonempty: bool = False) -> bool:
    """A run folder holds battles.jsonl (or its gzip); with `nonempty`, at least one byte of battles (a run
    whose judge failed writes an empty file: it is no week to compare)."""
    plain, packed = path / "battles.jsonl", path / "battles.jsonl.gz"
    if not nonempty:
        return plain.is_file() or packed.is_file()
    if plain.is_file():
        return plain.stat().st_size > 0
    if packed.is_file():
        try:
            with gzip.open(packed, "rb") as fh:
                return bool(fh.read(1))
        except (OSError, EOFError):
            return True  # a damaged file: load_run names it
    return False


def _series_of(path: Path) -> tuple[Any, Any]:
    """(run name, judge mode) from a run folder's run.json without loading its battles."""
    cfg = _read_json(path / "run.json").get("config")
    cfg = cfg if isinstance(cfg, dict) else {}
    judge = cfg.get("judge") if isinstance(cfg.get("judge"), dict) else {}
    return cfg.get("run_name"), judge.get("mode")


def is_dry_run(path: Path) -> bool:
    """Whether a run folder's run.json records a dry run (random verdicts: `--dry-run` or a dry-run judge),
    read as the app reads it."""
    info = _read_json(path / "run.json")
    cfg = info.get("config") if isinstance(info.get("config"), dict) else {}
    return bool(cfg.get("dry_run", info.get("dry_run", False)))


def _status(path: Path) -> str:
    """A run's recorded status; runs from before statuses were recorded count as completed."""
    status = _read_json(path / "run.json").get("status")
    return "completed" if counts_as_completed(status) else str(status)


def _previous(earlier: list[Path]) -> Path:
    """The run to compare against among the earlier runs of a series (oldest first): the latest completed one.
    A partial, failed or interrupted run is an attempt that a re-run of the same config continues (the cache
    keeps its work), so it is no week of its own; with no completed run, the latest run all the same."""
    done = [p for p in earlier if _status(p) == "completed"]
    return done[-1] if done else earlier[-1]


def _latest_of_series(runs: list[Path]) -> tuple[Path, Path] | None:
    """(previous, latest) of the latest run's series among `runs` (oldest first), or None when it is alone."""
    series = _series_of(runs[-1])
    earlier = [p for p in runs[:-1] if _series_of(p) == series]
    return (_previous(earlier), runs[-1]) if earlier else None


def _newest_series(runs: list[Path]) -> tuple[Path, Path] | None:
    """(previous, latest) runs of the newest series with two runs among `runs` (oldest first), or None."""
    by_series: dict[tuple, list[Path]] = {}
    for run in runs:
        by_series.setdefault(_series_of(run), []).append(run)
    pairs = [(_previous(group[:-1]), group[-1]) for group in by_series.values() if len(group) >= 2]
    return max(pairs, key=lambda pair: pair[1].name) if pairs else None


def default_pair(workspace: Path | str) -> tuple[Path, Path, str]:
    """(old, new, how they were picked) for `arena compare WORKSPACE` and the app's Compare page.

    Dry runs (random verdicts) stay out: the latest real run against the previous real run of its series, else
    the newest series with two real runs. Only when no two real runs share a series do dry runs pair, and only
    with dry runs. The reason says which dry runs of the series were skipped (name them to compare them)."""
    workspace = Path(workspace)
    runs = _judged_runs(workspace)
    if not runs:
        raise DataError(f"{workspace}: no judged runs (none has battles.jsonl)", hint="run arena run -c CONFIG first")
    dry = [r for r in runs if is_dry_run(r)]
    real = [r for r in runs if r not in dry]
    for pool, kind in ((real, "real"), (dry, "dry")):
        if not pool:
            continue
        pair = _latest_of_series(pool)
        alone = pair is None
        pair = pair or _newest_series(pool)
        if pair is None:
            continue
        old, new = pair
        name, mode = _series_of(new)
        previous = "the previous completed one" if _status(old) == "completed" else "the previous one"
        if alone:
            how = (f"the latest run is alone in its series, so the newest series with two judged runs: "
                   f"run_name {name!r}, mode {mode!r}, its latest run against {previous}")
        else:
            how = f"latest run of series (run_name {name!r}, mode {mode!r}) against {previous}"
        if kind == "dry":
            how += "; both dry runs (random verdicts): no two real runs share a series"
        unfinished = [f"{r.name}: {_status(r)}" for r in pool
                      if old.name < r.name < new.name and _series_of(r) == (name, mode)]
        if unfinished:
            plural = "s" if len(unfinished) > 1 else ""
            how += (f"; {len(unfinished)} unfinished run{plural} skipped ({', '.join(unfinished)}): a re-run "
                    "continues an unfinished one, so it is no week of its own; name two run folders to compare it")
        skipped = [r.name for r in dry
                   if kind == "real" and r.name > old.name and _series_of(r) == (name, mode)]
        if skipped:
            plural = "s" if len(skipped) > 1 else ""
            how += (f"; {len(skipped)} dry run{plural} skipped ({', '.join(skipped)}): the default pair is real "
                    "runs, name two run folders to compare a dry run")
        return old, new, how
    latest = runs[-1]
    name, mode = _series_of(latest)
    raise DataError(f"{workspace}: run {latest.name} is the only judged run of its series "
                    f"(run_name {name!r}, mode {mode!r}); nothing to compare it with"
                    + ("; dry runs pair only with dry runs" if dry and real else ""),
                    hint="run the same config again next week, or pass two run folders")


def latest_pair(workspace: Path | str) -> tuple[Path, Path]:
    """(previous, latest) runs of the default pair (default_pair: dry runs left out when real ones pair)."""
    old, new, _ = default_pair(workspace)
    return old, new


def resolve_pair(paths: list[Path]) -> tuple[Path, Path, str]:
    """(old run, new run, how they were picked) from zero, one (a workspace) or two (run folders) paths."""
    if len(paths) > 2:
        raise ArenaError(f"compare takes at most two paths, got {len(paths)}",
                         hint="arena compare RUN_OLD RUN_NEW, or arena compare WORKSPACE")
    if len(paths) == 2:
        return paths[0], paths[1], "given on the command line"
    workspace = paths[0] if paths else Path("arena-workspace")
    if (workspace / "run.json").is_file():
        raise ArenaError(f"{workspace}: one run folder given; a comparison needs two",
                         hint="arena compare RUN_OLD RUN_NEW, or arena compare WORKSPACE for its latest two")
    return default_pair(workspace)
