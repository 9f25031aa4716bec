"""The per-request shortcuts of the log-likelihood path give the plain computation's answers: decide's
acc_norm_bytes taken from acc_norm for ASCII options, and the scan's contiguous-offsets check on long echoes
(a BOS token's shift, empty tokens) against spans for every token."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arena.backends.logprobs import continuation_token_indices, continuation_tokens, spans_from_offsets
from arena.bench.loglik import decide


def _textbook_decide(lls: list[float], options: list[str], gold: int) -> dict[str, int]:
    """acc, acc_norm and acc_norm_bytes with plain loops: the first option with the largest score wins."""
    def first_best(scores: list[float]) -> int:
        best = 0
        for i, v in enumerate(scores):
            if v > scores[best]:
                best = i
        return best
    pred = first_best(lls)
    pred_norm = first_best([ll / max(1, len(o)) for ll, o in zip(lls, options)])
    pred_bytes = first_best([ll / max(1, len(o.encode("utf-8"))) for ll, o in zip(lls, options)])
    return {"pred": pred, "pred_norm": pred_norm, "acc": int(pred == gold), "acc_norm": int(pred_norm == gold),
            "acc_norm_bytes": int(pred_bytes == gold)}


OPTION = st.text(alphabet="ab é中", max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(OPTION, st.floats(-40, 0)), min_size=1, max_size=5), st.data())
def test_decide_equals_plain_loops_for_ascii_and_other_options(pairs, data):
    options = [o for o, _ in pairs]
    lls = [v for _, v in pairs]
    gold = data.draw(st.integers(0, len(options) - 1))
    assert decide(lls, options, gold) == _textbook_decide(lls, options, gold)


def test_acc_norm_bytes_by_hand():
    # 'é' is 1 character but 2 bytes: per character option 1 wins (-3/2 > -2/1), per byte option 0 (-2/2 > -3/2)
    out = decide([-2.0, -3.0], ["é", "ab"], 0)
    assert (out["pred_norm"], out["acc_norm"], out["acc_norm_bytes"]) == (1, 0, 1)
    out = decide([-2.0, -1.5], ["ab", "c"], 0)  # ASCII: the same answer both ways
    assert out["pred_norm"] == 0 and out["acc_norm"] == out["acc_norm_bytes"] == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab \n", max_size=5), max_size=60), st.sampled_from(["", "<s>"]), st.data())
def test_long_contiguous_echoes_scan_as_spans_for_every_token(words, bos, data):
    tokens = ([bos] if bos else []) + words
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    prompt = "".join(words)
    ctx = data.draw(st.integers(-2, len(prompt) + 2))
    plain = continuation_token_indices(spans_from_offsets(tokens, offsets, prompt), ctx)
    assert continuation_tokens(tokens, offsets, prompt, ctx) == plain
