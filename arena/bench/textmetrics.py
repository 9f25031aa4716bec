"""Generation metrics against references: BLEU and chrF (sacrebleu), ROUGE-1/2/L (rouge-score, jieba for Chinese),
SQuAD token F1 and exact match; corpus and per-item figures are kept apart (corpus BLEU is not a mean)."""
from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from arena.errors import ConfigError

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
METRICS = ("bleu", "chrf", *ROUGE_TYPES, "f1", "em", "semantic")
DEFAULT_METRICS = ("bleu", "chrf", *ROUGE_TYPES, "f1", "em")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def _require(module: str, extra: str = "metrics") -> Any:
    """Import an optional library or raise one line naming the extra to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"reference metrics need the '{module}' package, which is not installed",
                          hint=f"pip install -e '.[{extra}]'") from None


def has_cjk(text: str) -> bool:
    """Whether the text has Chinese, Japanese or Korean characters."""
    return CJK.search(text) is not None


def squad_normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, punctuation deleted ('1,000' -> '1000', 'U.S.' -> 'us', as the
    official script does), articles removed, single spaces (punctuation here also covers Unicode punctuation
    such as '，。' so Chinese answers normalise too)."""
    text = "".join("" if ch in _PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_tokens(text: str) -> list[str]:
    """Normalised tokens: whitespace words, with every CJK character its own token (as CMRC scores Chinese)."""
    norm = squad_normalize(text)
    return [tok for word in norm.split() for tok in (CJK.sub(lambda m: f" {m.group(0)} ", word).split())]


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: harmonic mean of token precision and recall on the multiset overlap (1.0 if both empty)."""
    pred, ref = squad_tokens(prediction), squad_tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    """SQuAD exact match: 1.0 when the normalised texts are equal."""
    return float(squad_normalize(prediction) == squad_normalize(reference))


class JiebaTokenizer:
    """rouge-score tokenizer for text with Chinese: jieba words (lower case, punctuation and spaces dropped)."""

    def __init__(self) -> None:
        self._jieba = _require("jieba")
        self._jieba.setLogLevel(60)  # no 'Building prefix dict' chatter on stderr

    def tokenize(self, text: str) -> list[str]:
        """The words of `text`."""
        words = (w.strip().lower() for w in self._jieba.lcut(text))
        return [w for w in words if w and not all(ch in _PUNCT or unicodedata.category(ch)[0] in "PZ" for ch in w)]


class StemmedTokenizer:
    """rouge-score's own tokenize() with its Porter stemmer, each word's stem remembered (stemming is most
    of ROUGE's time; the tokens are exactly those of RougeScorer(use_stemmer=True))."""

    MAX_CACHED = 200_000

    def __init__(self) -> None:
        self._tokenize = _require("rouge_score.tokenize").tokenize
        self._porter = _require("nltk.stem.porter").PorterStemmer()
        self._stems: dict[str, str] = {}

    def stem(self, word: str) -> str:
        """The Porter stem of a word (cached)."""
        got = self._stems.get(word)
        if got is None:
            if len(self._stems) >= self.MAX_CACHED:
                self._stems.clear()
            got = self._stems[word] = self._porter.stem(word)
        return got

    def tokenize(self, text: str) -> list[str]:
        """The stemmed tokens of `text`."""
        return self._tokenize(text, self)


@lru_cache(maxsize=4)
def rouge_scorer(chinese: bool) -> Any:
    """A cached rouge-score RougeScorer: Porter-stemmed words for English, jieba words for Chinese."""
    rs = _require("rouge_score.rouge_scorer")
    return rs.RougeScorer(list(ROUGE_TYPES), tokenizer=JiebaTokenizer() if chinese else StemmedTokenizer())


def bleu_tokenizer(lang: str, references: Sequence[Sequence[str]]) -> str:
    """sacrebleu's tokenizer for a task: 'zh' for Chinese (or lang 'auto' with CJK in the references), else '13a'."""
    if lang == "zh" or (lang == "auto" and any(has_cjk(r) for refs in references for r in refs)):
        return "zh"
    return "13a"


def item_scores(prediction: str, references: Sequence[str], metrics: Sequence[str], tokenize: str) -> dict[str, float]:
    """Per-item scores (best over the references): sentence BLEU/chrF (0-100), ROUGE F1, token F1 and EM (0-1)."""
    out: dict[str, float] = {}
    if "bleu" in metrics or "chrf" in metrics:
        sb = _require("sacrebleu")
        if "bleu" in metrics:
            out["bleu"] = sb.sentence_bleu(prediction, list(references), tokenize=tokenize).score
        if "chrf" in metrics:
            out["chrf"] = sb.sentence_chrf(prediction, list(references)).score
    wanted = [r for r in ROUGE_TYPES if r in metrics]
    if wanted:
        chinese = has_cjk(prediction) or any(has_cjk(r) for r in references)
        got = rouge_scorer(chinese).score_multi(list(references), prediction)
        out.update({r: got[r].fmeasure for r in wanted})
    if "f1" in metrics:
        out["f1"] = max(token_f1(prediction, r) for r in references)
    if "em" in metrics:
        out["em"] = max(exact_match(prediction, r) for r in references)
    return out


def corpus_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], metrics: Sequence[str],
                  tokenize: str) -> dict[str, float]:
    """Corpus BLEU and chrF over all items (n-gram statistics summed first, then one score), 0-100."""
    if not predictions or not ({"bleu", "chrf"} & set(metrics)):
        return {}
    sb = _require("sacrebleu")
    width = max(len(r) for r in references)
    streams = [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
    out = {}
    if "bleu" in metrics:
        out["bleu_corpus"] = sb.metrics.BLEU(tokenize=tokenize).corpus_score(list(predictions), streams).score
    if "chrf" in metrics:
        out["chrf_corpus"] = sb.metrics.CHRF().corpus_score(list(predictions), streams).score
    return out
