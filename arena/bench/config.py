"""The `bench:` section of a run config: which benchmark tasks to run, from which files, how to score them."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from arena.bench.genopts import CodeOptions, ReferenceOptions
from arena.strict import Strict

# Kept free of `arena.config` imports: arena.config imports this module for `RunConfig.bench`
# (so `Strict` comes from arena.strict).

Kind = Literal["numeric", "choice", "exact", "perplexity", "reference", "code"]
Format = Literal["auto", "gsm8k", "arc", "mmlu", "mmlu-original", "ceval", "cmmlu", "hellaswag", "bbh", "jsonl", "text",
                 "reference", "humaneval", "mbpp"]
Language = Literal["auto", "en", "zh"]
Method = Literal["generate", "loglikelihood"]
Prompting = Literal["chat", "completion"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class BenchTask(Strict):
    """One benchmark task: a name, how it is scored, and the file it is read from."""

    name: str
    kind: Kind | None = None          # default: from the format (gsm8k numeric, arc/mmlu choice, jsonl exact)
    path: Path
    format: Format = "auto"           # auto: from the file name and its first record
    limit: int | None = Field(default=None, ge=1)
    tolerance: float = Field(default=1e-6, ge=0.0)   # numeric tasks: relative tolerance
    reference: ReferenceOptions | None = None        # reference tasks: metrics (default: ReferenceOptions())
    code: CodeOptions | None = None                  # code tasks: samples, k, sandbox limits (default: CodeOptions())
    method: Method = "generate"        # choice tasks: generate a letter, or compare option log-likelihoods
    max_length: int | None = Field(default=None, ge=2)  # perplexity: window length in tokens (default: the model's)
    # Few-shot and chain-of-thought (numeric, choice, exact; arena.bench.fewshot)
    num_fewshot: int = Field(default=0, ge=0, le=64)    # solved examples before each item
    fewshot_path: Path | None = None   # where examples come from (a dev split); default: the task's file, minus the item
    fewshot_seed: int = 1234           # examples are drawn per item from this seed and the item's id
    cot: bool = False                  # ask for step-by-step reasoning; score the final 'Answer:' line
    prompting: Prompting = "chat"      # chat: one user message; completion: one plain text via /v1/completions
    fewshot_prompt: Path | None = None  # a fixed text of worked examples before each item (BBH cot-prompts/<task>.txt)
    language: Language = "auto"        # prompt language; auto: zh for ceval/cmmlu files, else en
    _looked: tuple[Path, ...] = PrivateAttr(default=())  # where resolve_paths looked when the path was not found

    @model_validator(mode="after")
    def _safe_name(self) -> BenchTask:
        if not _NAME.match(self.name):
            raise ValueError(f"task name '{self.name}' must be letters, digits, '_', '-' or '.' (it is a file key)")
        return self


class BenchConfig(Strict):
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

    _config_file: Path | None = PrivateAttr(default=None)
    _config_dir: Path | None = PrivateAttr(default=None)

    def resolve_paths(self, config_dir: Path, config_file: Path | None = None) -> None:
        """Resolve relative task paths (current directory, config's folder, its parent); remember where it looked."""
        self._config_dir = config_dir
        if config_file is not None:
            self._config_file = config_file
        for task in self.tasks:
            for key in ("fewshot_path", "fewshot_prompt"):
                side = getattr(task, key)
                if side is not None and not side.is_absolute() and not side.exists():
                    setattr(task, key, next((alt for alt in (config_dir / side, config_dir.parent / side)
                                             if alt.exists()), side))
            p = task.path
            if p.is_absolute() or p.exists():
                task._looked = (p,) if p.is_absolute() else (Path.cwd() / p,)
                continue
            tried = (Path.cwd() / p, config_dir / p, config_dir.parent / p)
            task._looked = tried
            for alt in tried[1:]:
                if alt.exists():
                    task.path = alt
                    break

    def missing_path_error(self, task: BenchTask) -> str | None:
        """None if the task's file exists; else a message naming the config file, the key and where it looked."""
        if task.path.exists():
            return None
        index = next(i for i, t in enumerate(self.tasks) if t is task)
        looked = task._looked or ((task.path,) if task.path.is_absolute() else (Path.cwd() / task.path,))
        where = str(self._config_file) if self._config_file else (
            f"the config in {self._config_dir}" if self._config_dir else "the config")
        places = list(dict.fromkeys(looked))
        order = " (in this order: the current directory, the config's folder, its parent)" if len(places) > 1 else ""
        tried = "\n".join(f"    {p}" for p in places)
        return (f"{where}: bench.tasks[{index}].path (task '{task.name}'): file not found: {task.path}\n"
                f"  looked in{order}:\n{tried}")
