"""Test helpers: a tiny random GPT-2 causal LM built offline, and /v1/completions + /tokenize replies computed
from it the way vLLM computes them (echoed prompt tokens, decoded token texts, cumulative text offsets)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models import _train_tokenizer

BOS = "<|endoftext|>"


def make_tiny_lm(path: Path, seed: int = 0, add_bos: bool = True, n_positions: int = 128) -> Path:
    """Write a ~60k-parameter GPT2LMHeadModel and a byte-level BPE fast tokenizer to `path`.

    add_bos: the tokenizer puts BOS before every text (as Llama's does); otherwise it adds nothing (as GPT-2's)."""
    import torch
    from tokenizers import processors
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(500)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, tok.token_to_id(BOS))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=BOS)
    tokenizer.save_pretrained(path)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        initializer_range=0.3)
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).eval().save_pretrained(path)
    return path


class ServedTinyLM:
    """Answers /v1/completions (echo + logprobs, prompt as text or token ids) and /tokenize from a tiny LM."""

    def __init__(self, path: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForCausalLM.from_pretrained(str(path)).eval()

    def _logprobs(self, ids: list[int]) -> list[float | None]:
        import torch

        with torch.no_grad():
            logits = self.model(torch.tensor([ids])).logits[0].float()
        lp = torch.log_softmax(logits, dim=-1)
        return [None] + [float(lp[i - 1, ids[i]]) for i in range(1, len(ids))]

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        """vLLM-style echo: every prompt token (special ones too) with its decoded text and offset, plus one
        generated token."""
        prompt = body["prompt"]
        ids = list(prompt) if isinstance(prompt, list) else self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        values = self._logprobs(ids)
        texts = [self.tokenizer.decode([i]) for i in ids] + ["!"]
        offsets, pos = [], 0
        for t in texts:
            offsets.append(pos)
            pos += len(t)
        return {"id": "c", "object": "text_completion", "model": body["model"],
                "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1},
                "choices": [{"index": 0, "text": "".join(texts), "finish_reason": "length",
                             "logprobs": {"tokens": texts, "token_logprobs": values + [-0.1],
                                          "text_offset": offsets, "top_logprobs": None}}]}

    def tokenize(self, body: dict[str, Any]) -> dict[str, Any]:
        """vLLM's /tokenize: token ids of the prompt (special tokens as asked) and the context length."""
        ids = self.tokenizer(body["prompt"], add_special_tokens=bool(body.get("add_special_tokens", True)))["input_ids"]
        return {"tokens": ids, "count": len(ids), "max_model_len": self.model.config.n_positions}
