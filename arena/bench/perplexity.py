"""Perplexity and bits per byte of a text set, with lm-evaluation-harness's rolling windows.

Definitions (as lm-evaluation-harness's `loglikelihood_rolling` tasks, e.g. wikitext), summed over documents:
  LL               = sum of log P(token | tokens before it in its window), natural log, over every scored token
  token_perplexity = exp(-LL / scored tokens)                       (= exp(mean NLL per token))
  word_perplexity  = exp(-LL / words),  words = len(re.split(r"\\s+", text)) per document
  byte_perplexity  = exp(-LL / UTF-8 bytes)
  bits_per_byte    = -LL / UTF-8 bytes / ln 2
Windows: a text of n tokens is cut into disjoint windows of at most max_length predicted tokens; the first
window is preceded by the prefix token (BOS), each later window is conditioned on the one token before it."""
from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena.backends.logprobs import LogprobModel, WindowInfo
from arena.bench.loaders import BenchItem, LoadResult
from arena.errors import DataError

_WORD_SPLIT = re.compile(r"\s+")
TEXT_FIELDS = ("text", "content", "document")


def rolling_windows(tokens: list[int], prefix: int | None, max_length: int) -> list[tuple[list[int], list[int]]]:
    """Disjoint (context, continuation) windows covering `tokens` (lm-evaluation-harness, context_len=1).

    With a prefix token the first window predicts tokens[0:max_length] from [prefix] + tokens[:max_length-1];
    without one the first token cannot be predicted and the first window predicts tokens[1:max_length].
    Each later window predicts up to max_length further tokens, its input being the max_length tokens
    that end just before its last prediction; the returned context is the part not predicted."""
    if max_length < 2:
        raise ValueError("max_length must be at least 2")
    seq = ([prefix] if prefix is not None else []) + list(tokens)
    start = 1  # index in seq of the first predicted token
    if len(seq) <= start:
        return []
    out: list[tuple[list[int], list[int]]] = []
    first_end = min(len(seq), max_length + (1 if prefix is not None else 0))
    out.append((seq[:start], seq[start:first_end]))
    done = first_end
    while done < len(seq):
        end = min(len(seq), done + max_length)
        window_input = seq[max(0, end - max_length - 1): end - 1]
        n_pred = end - done
        ctx = window_input[: len(window_input) - (n_pred - 1)]
        out.append((ctx, seq[done:end]))
        done = end
    return out


@dataclass(frozen=True)
class DocLL:
    """One document's summed log-likelihood and its counts."""

    logprob: float
    tokens: int
    words: int
    bytes: int
    windows: int


def count_words(text: str) -> int:
    """Words as lm-evaluation-harness counts them: pieces of re.split(r'\\s+', text)."""
    return len(_WORD_SPLIT.split(text))


def document_windows(info: WindowInfo, tokens: list[int], max_length: int | None) -> list[tuple[list[int], list[int]]]:
    """A tokenized document's rolling windows for a model (`max_length`: the task's, never longer than the model
    takes)."""
    return rolling_windows(tokens, info.prefix_id, min(max_length or info.max_length, info.max_length))


async def score_document(model: LogprobModel, text: str, max_length: int | None = None) -> DocLL:
    """Rolling log-likelihood of one document through `model`."""
    info = await model.window_info()
    tokens = await model.tokenize(text)
    windows = document_windows(info, tokens, max_length)
    values = await asyncio.gather(*(model.token_logprobs(ctx + cont, len(cont)) for ctx, cont in windows))
    total = math.fsum(v for window in values for v in window)
    scored = sum(len(window) for window in values)
    return DocLL(total, scored, count_words(text), len(text.encode("utf-8")), len(windows))


def aggregate(docs: list[DocLL]) -> dict[str, Any]:
    """Corpus-level perplexities and bits per byte (sums over documents, as lm-evaluation-harness weights them)."""
    ll = sum(d.logprob for d in docs)
    tokens, words, nbytes = (sum(d.tokens for d in docs), sum(d.words for d in docs), sum(d.bytes for d in docs))
    if not docs or not tokens or not nbytes or not words:
        return {}
    return {"token_perplexity": math.exp(-ll / tokens), "word_perplexity": math.exp(-ll / words),
            "byte_perplexity": math.exp(-ll / nbytes), "bits_per_byte": -ll / nbytes / math.log(2),
            "loglikelihood": ll, "tokens": tokens, "words": words, "bytes": nbytes,
            "windows": sum(d.windows for d in docs), "documents": len(docs)}


def load_documents(path: Path) -> LoadResult:
    """A text set: a .txt file (one document), a folder of .txt files, or JSONL with a 'text' field per line.

    Malformed JSONL lines and lines without text are rejected with file:line and the reason, not fatal."""
    path = Path(path)
    out = LoadResult()
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise DataError(f"{path}: no .txt files in this folder")
        for f in files:
            _add_text(out, f.stem, f.read_text(encoding="utf-8"), f"{f}")
        return out
    if path.suffix.lower() == ".txt":
        _add_text(out, path.stem, path.read_text(encoding="utf-8"), str(path))
        return out
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            out.rejected.append(f"{path}:{lineno}: not valid JSON ({exc.msg})")
            continue
        text = next((rec.get(k) for k in TEXT_FIELDS if isinstance(rec, dict) and k in rec), None)
        if not isinstance(text, str) or not text.strip():
            out.rejected.append(f"{path}:{lineno}: needs a non-empty text field 'text'")
            continue
        _add_text(out, str(rec.get("id", lineno)), text, f"{path}:{lineno}")
    return out


def _add_text(out: LoadResult, doc_id: str, text: str, where: str) -> None:
    if not text.strip():
        out.rejected.append(f"{where}: empty document")
        return
    out.items.append(BenchItem(doc_id, text, "", meta={"kind": "document"}))
