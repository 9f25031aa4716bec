"""Test helper: a tiny random Qwen2 reward model with a trained byte-level BPE tokenizer, built offline."""
from __future__ import annotations

import json
import os
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _training_text(max_chars: int = 60_000) -> list[str]:
    """A few tens of KB of local text to train the tokenizer on: Python's own standard-library sources."""
    import json as json_mod
    import textwrap

    texts: list[str] = []
    for module in (json_mod, textwrap, os):
        src = Path(module.__file__ or "")
        if src.is_file():
            texts.append(src.read_text(encoding="utf-8", errors="replace"))
    text = "\n".join(texts)[:max_chars]
    return [line for line in text.splitlines() if line.strip()]


def _train_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer (tokenizers library) trained on stdlib sources."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_training_text(), trainer=trainer)
    return tok


def make_tiny_reward_model(path: Path, seed: int = 0, chat_template: bool = True, vocab_size: int = 1000) -> Path:
    """Write a ~100k-parameter Qwen2ForSequenceClassification (num_labels=1) and its tokenizer to `path`."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForSequenceClassification

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # No pad token on purpose: LocalRewardModel must fall back to eos, as for many real reward models.
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_train_tokenizer(vocab_size),
                                        eos_token="<|im_end|>", bos_token=None, unk_token=None,
                                        additional_special_tokens=["<|im_start|>", "<|endoftext|>"])
    if chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(path)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         num_labels=1, pad_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         initializer_range=0.2, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Qwen2ForSequenceClassification(config).eval()
    model.save_pretrained(path)
    (path / "arena_tiny_model.json").write_text(json.dumps({"seed": seed, "chat_template": chat_template}))
    return path
