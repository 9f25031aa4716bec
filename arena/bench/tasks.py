"""The task-kind registry (as data): each kind's prompt template and scorer; resolving a configured task."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.bench.bbh import score_bbh
from arena.bench.config import BenchTask
from arena.bench.fewshot import FewShot, answer_text, build_prompt, check_options, load_fewshot
from arena.bench.genopts import CodeOptions, ReferenceOptions
from arena.bench.genscore import TaskScores, score_reference_task
from arena.bench.loaders import DEFAULT_KIND, BenchItem, LoadResult, load_items
from arena.bench.passk import score_code_task
from arena.bench.scoring import Score, parse_number, score_choice, score_exact, score_numeric
from arena.errors import ConfigError


def _numeric(text: str, item: BenchItem, task: BenchTask) -> Score:
    return score_numeric(text, parse_number(item.answer) or item.answer, task.tolerance)


def _choice(text: str, item: BenchItem, task: BenchTask) -> Score:
    labels = "".join(lab for lab, _ in item.choices)
    return score_choice(text, item.answer, labels, [t for _, t in item.choices])


def _exact(text: str, item: BenchItem, task: BenchTask) -> Score:
    if item.meta.get("match") == "bbh":  # BBH targets: '(A)', 'True', ') ]' (arena.bench.bbh)
        return score_bbh(text, item.answer)
    return score_exact(text, [item.answer, *item.accept])


def _no_text_scorer(text: str, item: BenchItem, task: BenchTask) -> Score:
    raise ConfigError(f"bench task '{task.name}': kind '{task.kind}' is scored from log-probabilities, not text")


def _whole_task_only(text: str, item: BenchItem, task: BenchTask) -> Score:
    raise ConfigError(f"bench task '{task.name}': kind '{task.kind}' is scored as a whole task (all samples at once)")


def _reference_task(t: LoadedTask, pairs: list[tuple[BenchItem, list[str]]], scratch: Path) -> TaskScores:
    return score_reference_task(pairs, t.task.reference or ReferenceOptions())


def _code_task(t: LoadedTask, pairs: list[tuple[BenchItem, list[str]]], scratch: Path) -> TaskScores:
    return score_code_task(pairs, t.task.code or CodeOptions(), scratch)


@dataclass(frozen=True)
class KindSpec:
    """How items of one kind are scored, and which file formats can feed it."""

    scorer: Callable[[str, BenchItem, BenchTask], Score]
    formats: tuple[str, ...]
    # Whole-task scoring (corpus metrics, several samples per item): (task, [(item, replies)], scratch dir).
    batch: Callable[[LoadedTask, list[tuple[BenchItem, list[str]]], Path], TaskScores] | None = None


KINDS: dict[str, KindSpec] = {
    "numeric": KindSpec(_numeric, ("gsm8k", "jsonl")),
    "choice": KindSpec(_choice, ("arc", "mmlu", "mmlu-original", "ceval", "cmmlu", "hellaswag")),
    "exact": KindSpec(_exact, ("jsonl", "gsm8k", "bbh")),
    "perplexity": KindSpec(_no_text_scorer, ("text",)),  # scored from log-probabilities (arena.bench.logprob_run)
    "reference": KindSpec(_exact, ("reference",), _reference_task),       # BLEU, ROUGE, ... (arena.bench.genscore)
    "code": KindSpec(_whole_task_only, ("humaneval", "mbpp"), _code_task),  # pass@k in the sandbox (arena.bench.passk)
}


MAX_REASONS = 20  # rejected records listed per task in bench/<model>.json (all are counted)


@dataclass
class LoadedTask:
    """A configured task with its file read: kind, format, items, rejected records."""

    task: BenchTask
    kind: str
    format: str
    data: LoadResult
    shots: FewShot | None = None  # few-shot examples (arena.bench.fewshot)
    limit: int | None = None  # only the first `limit` items were read (--limit or the task's `limit`)

    def prompt(self, item: BenchItem) -> str:
        """The user message (or plain-completion text) for one item."""
        return build_prompt(self.task, self.kind, item, self.shots)

    def score(self, text: str, item: BenchItem) -> Score:
        """Score one reply to one item (CoT: its final answer line)."""
        return KINDS[self.kind].scorer(answer_text(self.task, text, marked=self.kind == "numeric"), item, self.task)

    @property
    def samples(self) -> int:
        """Replies drawn per item: code.n for code tasks, else 1."""
        return self.task.code.n if self.kind == "code" and self.task.code else 1

    @property
    def metric(self) -> str:
        """The headline metric of a generated-text task, known before scoring (for a task that could not be scored)."""
        if self.kind == "reference":
            return (self.task.reference or ReferenceOptions()).primary
        if self.kind == "code":
            return (self.task.code or CodeOptions()).primary
        return "accuracy"

    @property
    def skipped(self) -> dict[str, Any]:
        """The records of the task's file that were not scored, for its result files: `rejected` (how many) and
        `rejected_reasons` (the first MAX_REASONS, each 'file:line: field: why')."""
        rej = self.data.rejected
        return {"rejected": len(rej), **({"rejected_reasons": rej[:MAX_REASONS]} if rej else {})}

    @property
    def read_info(self) -> dict[str, Any]:
        """What the result files say about how the task's file was read: `skipped`, and `limit` when only the
        first items were read (a `--limit` run's score is not the full task's)."""
        return {**self.skipped, **({"limit": self.limit} if self.limit is not None else {})}

    @property
    def whole_task(self) -> bool:
        """Whether this kind is scored over all items at once (`score_all`)."""
        return KINDS[self.kind].batch is not None

    def score_all(self, pairs: list[tuple[BenchItem, list[str]]], scratch: Path) -> TaskScores:
        """Score every (item, replies) pair of the task together; `scratch` holds sandbox working dirs."""
        batch = KINDS[self.kind].batch
        assert batch is not None, self.kind
        return batch(self, pairs, scratch)


def load_task(task: BenchTask, limit: int | None = None) -> LoadedTask:
    """Read a task's file and settle its kind (the format's default unless set) and format."""
    if task.kind == "perplexity" or task.format == "text":
        return _load_text_task(task, limit if limit is not None else task.limit)
    fmt, data = load_items(task.path, task.format, limit if limit is not None else task.limit)
    kind = task.kind or DEFAULT_KIND[fmt]
    for key in ("reference", "code"):
        if getattr(task, key) is not None and kind != key:
            raise ConfigError(f"bench task '{task.name}': '{key}:' options apply to kind {key}, not '{kind}'",
                              hint=f"set kind: {key}, or remove the '{key}:' block")
    if task.method == "loglikelihood" and kind != "choice":
        raise ConfigError(f"bench task '{task.name}': method: loglikelihood scores choice tasks (kind '{kind}')",
                          hint="use method: generate here, or kind: perplexity for a text set")
    if fmt not in KINDS[kind].formats:
        raise ConfigError(f"bench task '{task.name}': kind '{kind}' cannot score format '{fmt}'",
                          hint=f"kind '{kind}' reads: {', '.join(KINDS[kind].formats)}")
    if not data.items:
        first = f"; first rejected: {data.rejected[0]}" if data.rejected else ""
        raise ConfigError(f"bench task '{task.name}': no usable items in {task.path}{first}")
    check_options(task, kind)
    cut = limit if limit is not None else task.limit
    return LoadedTask(task, kind, fmt, data, load_fewshot(task, fmt, data.items, cut is not None), cut)


def _load_text_task(task: BenchTask, limit: int | None) -> LoadedTask:
    from arena.bench.perplexity import load_documents

    data = load_documents(task.path)
    data.items = data.items[:limit] if limit is not None else data.items
    if not data.items:
        first = f"; first rejected: {data.rejected[0]}" if data.rejected else ""
        raise ConfigError(f"bench task '{task.name}': no usable documents in {task.path}{first}")
    return LoadedTask(task, "perplexity", "text", data, limit=limit)
