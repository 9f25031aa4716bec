"""An in-process transformers causal LM as a log-likelihood backend (extra `rm`: torch + transformers).

For users without a server: the model is loaded once, runs one forward pass at a time in a worker thread,
and scores exactly what the `/v1/completions` backend scores (same token boundary rule, same windows)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arena.backends.logprobs import ContinuationLL, WindowInfo, continuation_token_indices
from arena.errors import ArenaError, ConfigError

DEFAULT_MAX_LENGTH = 2048


def _imports() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError("backend: transformers needs torch and transformers",
                          hint="pip install -e '.[rm]' (the reward-model extra brings both)") from None
    return torch, transformers


def check_device(device: str, what: str) -> None:
    """A torch device that exists here (cpu, cuda[:N] with CUDA available, mps on Apple silicon), before any
    model is loaded: a clear config error instead of torch's assertion deep inside the first forward pass."""
    import torch

    hint = "set device: cpu (or cuda / cuda:N on a machine with a CUDA build of torch and a GPU, mps on a Mac)"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"{what}: unknown device {device!r}", hint=hint) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{what}: device {device!r} but CUDA is not available (torch {torch.__version__})",
                              hint=hint)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{what}: device {device!r} but only {torch.cuda.device_count()} CUDA device(s)",
                              hint=hint)
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{what}: device {device!r} but MPS is not available here", hint=hint)
    elif dev.type != "cpu":
        raise ConfigError(f"{what}: device {device!r} is not supported", hint=hint)


def model_limit(config: Any) -> int | None:
    """The model's context length from its config (max_position_embeddings, or n_positions for GPT-2)."""
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return limit if isinstance(limit, int) and limit > 0 else None


class LocalLM:
    """A causal LM and its (fast) tokenizer from a local folder, scoring prompt tokens in-process."""

    demo = False

    def __init__(self, *, name: str, path: Path, device: str = "cpu", max_length: int | None = None) -> None:
        if not Path(path).exists():
            raise ConfigError(f"candidate '{name}': model folder not found: {path}",
                              hint="backend: transformers reads a local folder (config.json, weights, tokenizer)")
        torch, tf = _imports()
        check_device(device, f"candidate '{name}'")
        self.name, self.endpoint, self.concurrency = name, f"local://{path}", 1
        self._torch = torch
        self.tokenizer = tf.AutoTokenizer.from_pretrained(str(path))
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError(f"candidate '{name}': {path} has no fast tokenizer (tokenizer.json)",
                              hint="token offsets come from a fast tokenizer; save one with save_pretrained")
        model, info = tf.AutoModelForCausalLM.from_pretrained(str(path), output_loading_info=True)
        missing = sorted(info.get("missing_keys") or []) + sorted(str(k) for k in info.get("mismatched_keys") or [])
        if missing:
            raise ConfigError(f"candidate '{name}': {path} has no weights for {', '.join(missing[:4])}"
                              f"{' and more' if len(missing) > 4 else ''}; they would be random",
                              hint="backend: transformers needs a causal LM with its LM head (not a reward "
                                   "model or a base model)")
        self.model = model.to(device).eval()
        self.device = device
        native = model_limit(self.model.config)
        # a window longer than the model's positions would index past its position table: cap it there
        wanted = max_length or native or DEFAULT_MAX_LENGTH
        self.max_length = min(wanted, native) if native else wanted
        self.capped_from = max_length if max_length and self.max_length < max_length else None
        bos = self.tokenizer("", add_special_tokens=True)["input_ids"]
        self.prefix_id = bos[0] if bos else None
        self._lock = asyncio.Lock()

    def _logprobs(self, ids: list[int]) -> Any:
        """log_softmax of the logits for every position of one sequence (float32, on the CPU)."""
        torch = self._torch
        with torch.no_grad():
            logits = self.model(torch.tensor([ids], device=self.device)).logits[0].float()
        return torch.log_softmax(logits, dim=-1).cpu()

    def _continuation(self, context: str, continuation: str) -> ContinuationLL:
        prompt = context + continuation
        enc = self.tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=True)
        ids, spans = enc["input_ids"], [tuple(s) for s in enc["offset_mapping"]]
        picked, straddled = continuation_token_indices(spans, len(context))  # type: ignore[arg-type]
        picked = [i for i in picked if i > 0]  # the very first token has nothing to condition on
        if not picked:
            raise ArenaError(f"{self.name}: the continuation {continuation!r} has no token to score")
        # the model reads ids[:-1] (the last token is only predicted); too long: keep the end, as lm-eval does
        start = max(0, len(ids) - 1 - self.max_length)
        if picked[0] <= start:
            raise ArenaError(f"{self.name}: the continuation alone is longer than max_length={self.max_length}")
        lp = self._logprobs(ids[start:-1])
        total = sum(float(lp[i - 1 - start, ids[i]]) for i in picked)
        return ContinuationLL(total, len(picked), straddled)

    def _window(self, tokens: list[int], n_scored: int) -> list[float]:
        lp = self._logprobs(tokens[:-1])  # the last token is predicted, never read
        first = len(tokens) - n_scored
        return [float(lp[i - 1, tokens[i]]) for i in range(first, len(tokens))]

    async def continuation_logprob(self, context: str, continuation: str) -> ContinuationLL:
        """log P(continuation | context), context and continuation tokenized together."""
        async with self._lock:
            return await asyncio.to_thread(self._continuation, context, continuation)

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def window_info(self) -> WindowInfo:
        """The model's context length (or the configured max_length) and its BOS token, if the tokenizer adds one."""
        return WindowInfo(self.max_length, self.prefix_id)

    async def token_logprobs(self, tokens: list[int], n_scored: int) -> list[float]:
        """log P of the last `n_scored` tokens, each given all the tokens before it."""
        if not 0 < n_scored < len(tokens):
            raise ValueError("n_scored must leave at least one conditioning token")
        async with self._lock:
            return await asyncio.to_thread(self._window, tokens, n_scored)

    async def aclose(self) -> None:
        """Nothing to release (the model is freed with the object)."""
