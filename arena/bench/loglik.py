"""Multiple choice by option log-likelihood: acc and acc_norm as lm-evaluation-harness defines them.

For an item with context C and options o_1..o_k, each option is scored as LL_i = log P(" " + o_i | C)
(the target delimiter is one space; context and continuation are tokenized together and the tokens that
reach into the continuation are summed). Then
  acc      = 1 if argmax_i LL_i is the gold option
  acc_norm = 1 if argmax_i LL_i / len(o_i) is the gold option, len = characters of the option text
             without the delimiter (lm-evaluation-harness: `len(choice)`; bytes for ASCII options)
  acc_norm_bytes = the same with len = UTF-8 bytes of the option (differs from acc_norm for non-ASCII text)
Ties go to the first option (numpy argmax). Task scores are means over items; the standard error is the
sample standard deviation over items / sqrt(n), as lm-evaluation-harness reports it."""
from __future__ import annotations

import asyncio
from itertools import repeat
from operator import attrgetter, itemgetter, truediv
from typing import Any

from arena.backends.logprobs import ContinuationLL, LogprobModel
from arena.bench.aggregate import sample_stderr
from arena.bench.loaders import BenchItem

TARGET_DELIMITER = " "


def mc_context(item: BenchItem) -> str:
    """The context an option continues: the item's own (`meta['ll_context']`: a HellaSwag context, a C-Eval
    question with its options and '答案：'), else 'Question: <question>\\nAnswer:' (lm-evaluation-harness's ARC form)."""
    own = item.meta.get("ll_context")
    return own if isinstance(own, str) else f"Question: {item.question.strip()}\nAnswer:"


def mc_options(item: BenchItem) -> list[str]:
    """The continuations compared: the item's own (`meta['ll_continuations']`, e.g. the letters A-D for C-Eval and
    CMMLU as lm-evaluation-harness scores them), else the option texts."""
    own = item.meta.get("ll_continuations")
    return [str(x) for x in own] if isinstance(own, list) else [text for _, text in item.choices]


def split_pair(context: str, continuation: str) -> tuple[str, str]:
    """Trailing whitespace of the context moves to the continuation (so no token straddles it)."""
    stripped = context.rstrip()
    return stripped, context[len(stripped):] + continuation


def argmax(values: list[float]) -> int:
    """Index of the largest value; the first on a tie (max keeps an item until a later one compares greater)."""
    return max(range(len(values)), key=values.__getitem__) if values else 0


def decide(lls: list[float], options: list[str], gold: int) -> dict[str, Any]:
    """acc and acc_norm of one item from its options' log-likelihoods."""
    pred = argmax(lls)
    pred_norm = argmax(list(map(truediv, lls, map(max, repeat(1), map(len, options)))))
    # ASCII options have as many UTF-8 bytes as characters: the same division, the same prediction
    pred_bytes = pred_norm if "".join(options).isascii() else argmax(
        list(map(truediv, lls, map(max, repeat(1), map(len, map(str.encode, options))))))
    return {"pred": pred, "pred_norm": pred_norm, "acc": int(pred == gold), "acc_norm": int(pred_norm == gold),
            "acc_norm_bytes": int(pred_bytes == gold)}


def option_pairs(item: BenchItem) -> list[tuple[str, str]]:
    """The (context, continuation) pairs scored for one choice item, one per option."""
    context = mc_context(item)
    return [split_pair(context, TARGET_DELIMITER + text) for text in mc_options(item)]


def item_result(item: BenchItem, scored: list[ContinuationLL]) -> dict[str, Any]:
    """One choice item's entry from its options' log-likelihoods (in option order): the prediction, acc, acc_norm."""
    labels = list(map(itemgetter(0), item.choices))
    lls = list(map(attrgetter("logprob"), scored))
    straddled = sum(map(int, map(attrgetter("straddled"), scored)))
    gold = labels.index(item.answer)
    out = decide(lls, mc_options(item), gold)
    return {"id": item.id, **out, "correct": bool(out["acc"]), "expected": item.answer,
            "extracted": labels[out["pred"]], "loglikelihoods": list(map(round, lls, repeat(6))),
            "tokens": list(map(attrgetter("tokens"), scored)), **({"straddled": straddled} if straddled else {})}


async def score_item(model: LogprobModel, item: BenchItem) -> dict[str, Any]:
    """Score one choice item: each option's log-likelihood, the prediction, acc and acc_norm."""
    scored = await asyncio.gather(*(model.continuation_logprob(ctx, cont) for ctx, cont in option_pairs(item)))
    return item_result(item, list(scored))


def mean_stderr(values: list[float]) -> tuple[float, float | None]:
    """Mean and its standard error (sample standard deviation / sqrt(n)); no error for n < 2."""
    return sum(values) / len(values), sample_stderr(values)


def summarize(details: list[dict[str, Any]]) -> dict[str, Any]:
    """acc, acc_norm, acc_norm_bytes and their standard errors over the scored items."""
    out: dict[str, Any] = {}
    for key in ("acc", "acc_norm", "acc_norm_bytes"):
        mean, err = mean_stderr([float(d[key]) for d in details])
        out[key] = round(mean, 6)
        out[f"{key}_stderr"] = round(err, 6) if err is not None else None
    return out
