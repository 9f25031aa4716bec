"""Reference metrics against the libraries' documented examples, hand-worked cases and a textbook BLEU."""
from __future__ import annotations

import math
import random
import statistics
from collections import Counter

import pytest

from arena.bench.genopts import ReferenceOptions
from arena.bench.genscore import score_reference_task
from arena.bench.loaders import BenchItem
from arena.bench.textmetrics import (
    StemmedTokenizer,
    _require,
    corpus_scores,
    exact_match,
    item_scores,
    rouge_scorer,
    squad_tokens,
    token_f1,
)
from arena.errors import ConfigError

# sacrebleu's README example: two reference streams for three system sentences.
SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REF_STREAMS = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
               ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
PER_ITEM_REFS = [list(r) for r in zip(*REF_STREAMS)]


def test_corpus_bleu_and_chrf_match_the_sacrebleu_readme():
    got = corpus_scores(SYS, PER_ITEM_REFS, ["bleu", "chrf"], "13a")
    assert round(got["bleu_corpus"], 2) == 48.53  # "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ...)"
    assert round(got["chrf_corpus"], 2) == 59.73  # "chrF2 = 59.73"


def _textbook_bleu(hyps: list[list[str]], refs: list[list[list[str]]]) -> float:
    """Papineni et al. corpus BLEU-4: clipped n-gram precisions pooled over the corpus, closest ref length BP."""
    match, total = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hyp, rs in zip(hyps, refs):
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in rs)[1]
        for n in range(1, 5):
            grams = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            best: Counter = Counter()
            for r in rs:
                best |= Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
            match[n - 1] += sum(min(c, best[g]) for g, c in grams.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    log_p = sum(math.log(m / t) for m, t in zip(match, total)) / 4
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(log_p)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corpus_bleu_equals_a_textbook_implementation(seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(12)]
    hyps, refs = [], []
    for _ in range(30):
        ref = [rng.choice(vocab) for _ in range(rng.randint(6, 14))]
        hyp = [w if rng.random() < 0.7 else rng.choice(vocab) for w in ref][: rng.randint(5, len(ref))]
        refs.append([ref, [w for w in ref if rng.random() < 0.9]])
        hyps.append(hyp)
    got = corpus_scores([" ".join(h) for h in hyps], [[" ".join(r) for r in rs] for rs in refs], ["bleu"], "13a")
    assert got["bleu_corpus"] == pytest.approx(_textbook_bleu(hyps, refs), abs=1e-9)


def test_rouge_hand_worked_on_the_rouge_score_readme_pair():
    # rouge-score README: score('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the log.')
    # Stemmed tokens: target 9, prediction 8; unigram overlap 6, bigram overlap 2 (of 8 / 7), LCS 5.
    got = item_scores("The quick brown dog jumps on the log.", ["The quick brown fox jumps over the lazy dog"],
                      ["rouge1", "rouge2", "rougeL"], "13a")
    f = lambda p, r: 2 * p * r / (p + r)
    assert got["rouge1"] == pytest.approx(f(6 / 8, 6 / 9))
    assert got["rouge2"] == pytest.approx(f(2 / 7, 2 / 8))
    assert got["rougeL"] == pytest.approx(f(5 / 8, 5 / 9))


def test_cached_stemming_tokenizes_exactly_like_rouge_score():
    from rouge_score import rouge_scorer as rs
    from rouge_score.tokenizers import DefaultTokenizer
    texts = ["The runners were running quickly; generously agreed!", "dogs' happiness in 2023-11", "a an the", ""]
    assert [StemmedTokenizer().tokenize(t) for t in texts] == [DefaultTokenizer(True).tokenize(t) for t in texts]
    lib = rs.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for pred, ref in zip(texts, reversed(texts)):
        ours = item_scores(pred, [ref], ["rouge1", "rouge2", "rougeL"], "13a")
        assert ours == {k: v.fmeasure for k, v in lib.score(ref, pred).items()}


def test_rouge_for_chinese_uses_jieba_words_where_the_default_tokenizer_sees_nothing():
    import jieba
    from rouge_score import rouge_scorer as rs
    pred, ref = "我喜欢吃苹果。", "我喜欢吃香蕉"
    assert rs.RougeScorer(["rouge1"]).score(ref, pred)["rouge1"].fmeasure == 0.0  # non-ASCII dropped
    assert [w for w in jieba.lcut(pred) if w != "。"] == ["我", "喜欢", "吃", "苹果"]
    got = item_scores(pred, [ref], ["rouge1", "rouge2", "rougeL"], "zh")
    assert got["rouge1"] == pytest.approx(3 / 4) and got["rougeL"] == pytest.approx(3 / 4)
    assert got["rouge2"] == pytest.approx(2 / 3)  # bigrams: 我喜欢, 喜欢吃 shared of 3
    assert rouge_scorer(True) is rouge_scorer(True)  # built once


def test_squad_f1_and_exact_match_hand_cases():
    assert exact_match("The Denver Broncos!", "denver broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0
    assert token_f1("Broncos won", "the Denver Broncos") == pytest.approx(0.5)   # P 1/2, R 1/2
    assert token_f1("a cat sat on the mat", "the cat sat") == pytest.approx(2 * 1 * (2 / 4) / (1 + 2 / 4))
    assert squad_tokens("北京大学，在 Beijing") == ["北", "京", "大", "学", "在", "beijing"]
    assert token_f1("北京大学", "北京") == pytest.approx(2 * 0.5 * 1 / 1.5)  # characters: P 2/4, R 2/2
    assert token_f1("", "") == 1.0 and token_f1("", "x") == 0.0


def test_multiple_references_take_the_best_and_corpus_is_not_the_sentence_mean():
    items = [BenchItem(f"i{i}", "p", refs[0], accept=refs[1:]) for i, refs in enumerate(PER_ITEM_REFS)]
    got = score_reference_task([(it, [s]) for it, s in zip(items, SYS)], ReferenceOptions(primary="bleu_corpus"))
    m = got.metrics
    assert m["bleu_corpus"] == pytest.approx(48.53, abs=0.005) and got.score == m["bleu_corpus"]
    assert got.stderr is None  # a corpus score is not a mean over items
    ems = [d["metrics"]["em"] for d in got.details]
    em_task = score_reference_task([(it, [s]) for it, s in zip(items, SYS)], ReferenceOptions(primary="em"))
    assert em_task.stderr == pytest.approx(statistics.stdev(ems) / math.sqrt(3), abs=1e-6)
    assert m["bleu_sentence_mean"] != pytest.approx(m["bleu_corpus"], abs=0.5)  # two different figures, both kept
    assert got.details[0]["metrics"]["em"] == 1.0 and got.details[0]["correct"]  # 'The dog bit the man.' exact
    assert m["em"] == pytest.approx(1 / 3) and got.info["bleu_tokenize"] == "13a"
    assert set(m) == {"bleu_corpus", "chrf_corpus", "bleu_sentence_mean", "chrf_sentence_mean",
                      "rouge1", "rouge2", "rougeL", "f1", "em"}


def test_chinese_task_gets_the_zh_bleu_tokenizer():
    item = BenchItem("z", "p", "猫坐在垫子上")
    got = score_reference_task([(item, ["猫在垫子上坐着"])], ReferenceOptions(metrics=["bleu", "rougeL"]))
    assert got.info["bleu_tokenize"] == "zh"
    import sacrebleu
    assert got.metrics["bleu_corpus"] == pytest.approx(
        round(sacrebleu.corpus_bleu(["猫在垫子上坐着"], [["猫坐在垫子上"]], tokenize="zh").score, 6))


def test_primary_must_be_computed_and_missing_libraries_name_the_extra():
    with pytest.raises(ValueError, match="needs metric 'bleu'"):
        ReferenceOptions(metrics=["rougeL"], primary="bleu_corpus")
    with pytest.raises(ConfigError, match=r"\.\[metrics\]"):
        _require("surely_not_installed_metric_lib")


def _official_squad_normalize(s: str) -> str:
    """The SQuAD v1.1 evaluation script's normalisation, written out from its description: lower case, ASCII
    punctuation deleted, articles a/an/the removed, whitespace collapsed."""
    import re
    import string

    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def _official_f1(pred: str, ref: str) -> float:
    p, r = _official_squad_normalize(pred).split(), _official_squad_normalize(ref).split()
    same = sum((Counter(p) & Counter(r)).values())
    if not p or not r:
        return float(p == r)
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(r)
    return 2 * prec * rec / (prec + rec)


@pytest.mark.parametrize("pred, ref", [
    ("It costs 1000 dollars.", "It costs 1,000 dollars."), ("the U.S. army", "US Army"),
    ("state-of-the-art model", "state of the art model"), ("Denver's Broncos", "Denver Broncos"),
    ("e.g. a cat", "eg cat"), ("Hello, world!", "hello world"), ("3.14", "314"),
])
def test_squad_normalisation_deletes_punctuation_as_the_official_script(pred, ref):
    assert token_f1(pred, ref) == pytest.approx(_official_f1(pred, ref))
    assert exact_match(pred, ref) == float(_official_squad_normalize(pred) == _official_squad_normalize(ref))
