"""The `bench:` section of a run config: which benchmark tasks to run, from which files, how to score them."""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Kept free of `arena.config` imports: arena.config imports this module for `RunConfig.bench`.

Kind = Literal["numeric", "choice", "exact"]
Format = Literal["auto", "gsm8k", "arc", "mmlu", "mmlu-original", "jsonl"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class _Strict(BaseModel):
    """Unknown keys are rejected with the nearest valid key (as in arena.config)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        valid = set(cls.model_fields)
        for key in data:
            if key not in valid:
                close = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.5)
                tip = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(valid))}"
                raise ValueError(f"unknown key '{key}'; {tip}")
        return data


class BenchTask(_Strict):
    """One benchmark task: a name, how it is scored, and the file it is read from."""

    name: str
    kind: Kind | None = None          # default: from the format (gsm8k numeric, arc/mmlu choice, jsonl exact)
    path: Path
    format: Format = "auto"           # auto: from the file name and its first record
    limit: int | None = Field(default=None, ge=1)
    tolerance: float = Field(default=1e-6, ge=0.0)   # numeric tasks: relative tolerance

    @model_validator(mode="after")
    def _safe_name(self) -> BenchTask:
        if not _NAME.match(self.name):
            raise ValueError(f"task name '{self.name}' must be letters, digits, '_', '-' or '.' (it is a file key)")
        return self


class BenchConfig(_Strict):
    """The benchmark tasks of a run config and their generation settings (temperature is always 0)."""

    tasks: list[BenchTask] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)   # default: generation.max_tokens
    system_prompt: str | None = None                     # default: generation.system_prompt

    @model_validator(mode="after")
    def _unique(self) -> BenchConfig:
        names = [t.name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"bench task names must be unique; repeated: {', '.join(dupes)}")
        return self

    def select(self, names: list[str] | None) -> list[BenchTask]:
        """The tasks named (all when `names` is empty), in config order; unknown names are an error."""
        if not names:
            return list(self.tasks)
        known = {t.name for t in self.tasks}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown bench task(s) {', '.join(unknown)}; this config has: {', '.join(sorted(known))}")
        return [t for t in self.tasks if t.name in names]

    def resolve_paths(self, config_dir: Path) -> None:
        """Resolve relative task paths: the current directory first, then the config's folder and its parent."""
        for task in self.tasks:
            p = task.path
            if p.is_absolute() or p.exists():
                continue
            for alt in (config_dir / p, config_dir.parent / p):
                if alt.exists():
                    task.path = alt
                    break
