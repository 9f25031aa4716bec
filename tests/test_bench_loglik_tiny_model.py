"""A tiny random GPT-2 built in the test: the in-process backend equals a direct torch computation, rolling
windows equal a hand-stitched computation, and the same model served over /v1/completions gives the same
numbers as in-process (extra `rm`: torch + transformers)."""
from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tiny_lm import ServedTinyLM, make_tiny_lm
from transformers import AutoModelForCausalLM, AutoTokenizer

from arena.backends.local_lm import LocalLM
from arena.bench.configfile import load_bench_config
from arena.bench.perplexity import aggregate, score_document
from arena.bench.runner import run_bench

TEXT = ("The release notes list the changes users will notice first. The search page loads faster now, "
        "and the export button remembers the last format that was picked.")


@pytest.fixture(scope="module")
def tiny_bos(tmp_path_factory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_lm_bos"), seed=0, add_bos=True)


@pytest.fixture(scope="module")
def tiny_plain(tmp_path_factory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tiny_lm_plain"), seed=1, add_bos=False)


def _load(path: Path):
    return AutoTokenizer.from_pretrained(str(path)), AutoModelForCausalLM.from_pretrained(str(path)).eval()


def _logprobs(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)


def _run(coro_fn):
    return asyncio.run(coro_fn())


def test_continuation_logprob_equals_direct_torch(tiny_bos):
    tok, model = _load(tiny_bos)
    context, cont = "Question: Which animal purrs?\nAnswer:", " a small cat"
    ctx_ids, full = tok(context)["input_ids"], tok(context + cont)["input_ids"]
    assert full[: len(ctx_ids)] == ctx_ids and ctx_ids[0] == tok.bos_token_id  # lm-eval's context/continuation split
    lp = _logprobs(model, full)
    direct = sum(float(lp[i - 1, full[i]]) for i in range(len(ctx_ids), len(full)))

    async def local():
        return await LocalLM(name="t", path=tiny_bos).continuation_logprob(context, cont)

    got = _run(local)
    assert got.tokens == len(full) - len(ctx_ids) and not got.straddled
    assert got.logprob == pytest.approx(direct, abs=1e-5)


def _hand_stitched(model, tokens: list[int], prefix: int | None, length: int) -> tuple[float, int]:
    """Predict tokens in consecutive blocks of `length`: block 1 from the prefix (or, without one, from the
    first token, which is not predicted); each later block from the `length` tokens that end just before its
    last token, summing only the block's own predictions."""
    seq = ([prefix] if prefix is not None else []) + tokens
    first = 1
    total, count = 0.0, 0
    block_start = first
    while block_start < len(seq):
        block_end = min(len(seq), block_start + (length if block_start > first or prefix is not None else length - 1))
        inp_start = 0 if block_start == first else max(0, block_end - 1 - length)
        inp = seq[inp_start:block_end - 1]  # the block's last token is predicted, never read
        assert len(inp) <= length
        lp = _logprobs(model, inp)
        for i in range(block_start, block_end):
            total += float(lp[i - 1 - inp_start, seq[i]])
            count += 1
        block_start = block_end
    return total, count


@pytest.mark.parametrize("which", ["bos", "plain"])
def test_rolling_windows_equal_hand_stitched_and_one_window_is_exp_mean_nll(which, tiny_bos, tiny_plain):
    path = tiny_bos if which == "bos" else tiny_plain
    tok, model = _load(path)
    tokens = tok(TEXT, add_special_tokens=False)["input_ids"]
    prefix = tok.bos_token_id if which == "bos" else None
    assert len(tokens) > 40  # longer than the 16-token context used below

    async def scores():
        lm = LocalLM(name="t", path=path)
        return (await score_document(lm, TEXT, 16), await score_document(lm, TEXT, 1000))

    windowed, whole = _run(scores)
    hand_ll, hand_n = _hand_stitched(model, tokens, prefix, 16)
    assert windowed.tokens == hand_n == len(tokens) - (0 if prefix is not None else 1)
    assert windowed.logprob == pytest.approx(hand_ll, abs=1e-4)
    assert windowed.windows == math.ceil(hand_n / 16)
    # one window: perplexity is exp(mean NLL) from torch's cross entropy over the whole sequence
    seq = ([prefix] if prefix is not None else []) + tokens
    with torch.no_grad():
        logits = model(torch.tensor([seq])).logits[0]
    nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(seq[1:])).item()
    assert aggregate([whole])["token_perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)
    assert abs(whole.logprob - windowed.logprob) > 1e-3  # the short context does change the numbers


def test_default_windows_fill_the_model_context_exactly(tiny_bos):
    tok, model = _load(tiny_bos)
    text = " ".join([TEXT] * 5)
    tokens = tok(text, add_special_tokens=False)["input_ids"]
    assert len(tokens) > 2 * model.config.n_positions

    async def score():
        return await score_document(LocalLM(name="t", path=tiny_bos), text)  # no max_length: n_positions

    doc = _run(score)
    hand_ll, hand_n = _hand_stitched(model, tokens, tok.bos_token_id, model.config.n_positions)
    assert doc.windows == math.ceil(len(tokens) / model.config.n_positions) and doc.tokens == hand_n
    assert doc.logprob == pytest.approx(hand_ll, abs=1e-3)


def _arc(path: Path) -> Path:
    items = [("Which animal purrs?", ["cat", "big elephant", "fish"], "A"),
             ("Which is a color?", ["blue", "table", "seven"], "A"),
             ("Which one flies?", ["stone", "bird", "chair", "the lamp"], "B")]
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": {"stem": s, "choices": [
        {"label": "ABCD"[j], "text": t} for j, t in enumerate(opts)]}, "answerKey": g}) + "\n"
        for i, (s, opts, g) in enumerate(items)))
    return path


def test_served_tiny_model_gives_the_in_process_numbers(tmp_path, tiny_bos):
    served = ServedTinyLM(tiny_bos)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "d1", "text": TEXT}) + "\n" + json.dumps({"id": "d2", "text": "a b c"}) + "\n")
    with FakeOpenAI() as srv:
        srv.completions, srv.tokenize = served.completions, served.tokenize
        cfg = {"workspace": str(tmp_path / "ws"),
               "candidates": [{"name": "served", "backend": "openai", "model": "tiny", "base_url": srv.base_url},
                              {"name": "local", "backend": "transformers", "path": str(tiny_bos)}],
               "bench": {"tasks": [{"name": "mc", "kind": "choice", "method": "loglikelihood",
                                    "path": str(_arc(tmp_path / "mc.jsonl")), "format": "arc"},
                                   {"name": "ppl", "kind": "perplexity", "path": str(docs), "max_length": 16}]}}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        c, bench = load_bench_config(path)
        out = run_bench(c, bench, show_progress=False, log=lambda s: None)
    a, b = out.results["served"], out.results["local"]
    for da, db in zip(a["details"]["mc"], b["details"]["mc"]):
        assert da["loglikelihoods"] == pytest.approx(db["loglikelihoods"], abs=1e-4)
        assert (da["tokens"], da["pred"], da["pred_norm"]) == (db["tokens"], db["pred"], db["pred_norm"])
    assert a["metrics"]["mc"] == b["metrics"]["mc"]
    ma, mb = a["metrics"]["ppl"], b["metrics"]["ppl"]
    assert (ma["tokens"], ma["windows"], ma["bytes"]) == (mb["tokens"], mb["windows"], mb["bytes"])
    for key in ("token_perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert ma[key] == pytest.approx(mb[key], rel=1e-5), key
    assert "demo" not in a["sources"]["ppl"] and "demo" not in b["sources"]["ppl"]


@pytest.mark.parametrize("problem", ["missing-folder", "bad-device"])
def test_an_unusable_transformers_candidate_stops_arena_bench_before_any_work(tmp_path, tiny_bos, capsys,
                                                                             problem):
    """A model folder that does not exist or a device this machine lacks is bad input: exit 2 naming the
    candidate, before the other candidate is asked anything and before a run folder exists (was: exit 1, the run
    'failed' after the other candidates' work)."""
    from arena.cli import main

    local = {"name": "local", "backend": "transformers", "path": str(tiny_bos)}
    local.update({"path": str(tmp_path / "no-such-model")} if problem == "missing-folder" else {"device": "cuda:7"})
    with FakeOpenAI() as srv:
        cfg = {"workspace": str(tmp_path / "ws"),
               "candidates": [{"name": "served", "backend": "openai", "model": "tiny", "base_url": srv.base_url,
                               "api_key_env": "TINY_KEY"}, local],
               "bench": {"tasks": [{"name": "mc", "kind": "choice", "method": "loglikelihood",
                                    "path": str(_arc(tmp_path / "mc.jsonl")), "format": "arc"}]}}
        (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TINY_KEY", "sk-tiny")
            assert main(["bench", "-c", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 2
        assert srv.requests == []
    err = capsys.readouterr().err
    assert "candidate 'local'" in err and ("does not exist" in err if problem == "missing-folder" else "cuda:7" in err)
    assert not (tmp_path / "ws" / "runs").exists()
