"""Whole-task scoring for the generation kinds: per-item details plus task-level metrics (corpus BLEU and the like)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arena.bench.aggregate import sample_stderr
from arena.bench.genopts import ReferenceOptions
from arena.bench.loaders import BenchItem
from arena.bench.textmetrics import bleu_tokenizer, corpus_scores, item_scores

ROUND = 6


@dataclass
class TaskScores:
    """A task's outcome for one model: item details, its headline score and every task-level metric."""

    details: list[dict[str, Any]] = field(default_factory=list)
    score: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    primary: str = "accuracy"
    stderr: float | None = None  # of the headline score when it is a mean over items (none for corpus scores)
    info: dict[str, Any] = field(default_factory=dict)  # settings worth recording beside the scores


def references(item: BenchItem) -> list[str]:
    """An item's reference texts (the answer first)."""
    return [item.answer, *item.accept]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def mean_stderr(values: Sequence[float]) -> float | None:
    """Standard error of a mean over items (arena.bench.aggregate.sample_stderr), rounded; None below two items."""
    err = sample_stderr(values)
    return None if err is None else round(err, ROUND)


def score_reference_task(pairs: Sequence[tuple[BenchItem, list[str]]], opts: ReferenceOptions) -> TaskScores:
    """Score the first reply of each item against its references; summarise per item (means) and per corpus.

    Columns: `bleu_corpus`/`chrf_corpus` are sacrebleu corpus scores (0-100, statistics pooled over items);
    `bleu_sentence_mean`/`chrf_sentence_mean` are means of per-item sentence scores (0-100); rouge1/2/L
    (F-measure), f1, em and semantic are means of per-item values (0-1), each item's best reference counting."""
    preds = [replies[0] for _, replies in pairs]
    refs = [references(item) for item, _ in pairs]
    tokenize = bleu_tokenizer(opts.lang, refs)
    text_metrics = [m for m in opts.metrics if m != "semantic"]
    per_item = [item_scores(p, r, text_metrics, tokenize) for p, r in zip(preds, refs)]
    if "semantic" in opts.metrics and preds:
        from arena.bench.semantic import similarities
        model = str(opts.embedding_model) if opts.embedding_model else None
        for row, sim in zip(per_item, similarities(preds, refs, model)):
            row["semantic"] = sim
    out = TaskScores(primary=opts.primary, info={"bleu_tokenize": tokenize})
    for (item, _), pred, row in zip(pairs, preds, per_item):
        out.details.append({"id": item.id, "correct": bool(row.get("em", 0.0)), "extracted": pred[:200],
                            "expected": item.answer, "metrics": {k: round(v, ROUND) for k, v in row.items()}})
    if not pairs:
        return out
    summary = corpus_scores(preds, refs, text_metrics, tokenize)
    for key in opts.metrics:
        mean = _mean([row[key] for row in per_item])
        summary[f"{key}_sentence_mean" if key in ("bleu", "chrf") else key] = mean
    out.metrics = {k: round(v, ROUND) for k, v in summary.items()}
    out.score = out.metrics.get(opts.primary)
    base = opts.primary.removesuffix("_sentence_mean")
    if not opts.primary.endswith("_corpus"):
        out.stderr = mean_stderr([row[base] for row in per_item])
    return out
