"""Perplexity and bits per byte: rolling windows (lm-evaluation-harness's example), hand-computed metrics
through a scripted /v1/completions + /tokenize server, malformed text files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI

from arena.bench.configfile import load_bench_config
from arena.bench.perplexity import DocLL, aggregate, count_words, rolling_windows
from arena.bench.runner import run_bench


def test_windows_match_lm_eval_harness_example():
    # lm-evaluation-harness's own example: 34 tokens, max_seq_len 10, prefix -100; its (input, prediction)
    # pairs made disjoint: the context is the input minus the predicted tokens it contains.
    got = rolling_windows(list(range(34)), -100, 10)
    assert got == [([-100], list(range(10))), ([9], list(range(10, 20))), ([19], list(range(20, 30))),
                   (list(range(23, 30)), [30, 31, 32, 33])]


def test_windows_without_prefix_skip_only_the_first_token():
    assert rolling_windows(list(range(7)), None, 3) == [([0], [1, 2]), ([2], [3, 4, 5]), ([3, 4, 5], [6])]
    for n in range(1, 40):
        for length in (2, 3, 5, 8):
            for prefix in (None, 99):
                wins = rolling_windows(list(range(n)), prefix, length)
                predicted = [t for _, cont in wins for t in cont]
                assert predicted == list(range(0 if prefix is not None else 1, n))  # each token once, in order
                assert all(len(ctx) + len(cont) - 1 <= length for ctx, cont in wins)  # fits the model


def test_aggregate_is_exp_mean_nll_by_hand():
    docs = [DocLL(-6.0, 4, 3, 10, 1), DocLL(-3.0, 2, 2, 6, 1)]
    m = aggregate(docs)
    assert m["token_perplexity"] == pytest.approx(math.exp(9.0 / 6))  # exp(mean NLL per token)
    assert m["word_perplexity"] == pytest.approx(math.exp(9.0 / 5))
    assert m["byte_perplexity"] == pytest.approx(math.exp(9.0 / 16))
    assert m["bits_per_byte"] == pytest.approx(9.0 / 16 / math.log(2))
    assert count_words("one two  three\nfour") == 4 and count_words("a b ") == 3  # re.split(r"\s+") as lm-eval


VOCAB = {w: 10 + i for i, w in enumerate("abcdefg")}


def _tokenize(body: dict) -> dict:
    ids = [VOCAB[w] for w in body["prompt"].split()]
    return {"tokens": ([1] if body.get("add_special_tokens") else []) + ids, "max_model_len": 6}


def _completions(body: dict) -> dict:
    ids = body["prompt"]
    assert isinstance(ids, list), "windows are sent as token ids"
    lps = [None] + [-1.0 - 0.1 * pos for pos in range(1, len(ids))]  # depends on the position in the request
    return {"choices": [{"index": 0, "logprobs": {"tokens": [str(i) for i in ids] + ["x"],
                                                   "token_logprobs": lps + [-0.3], "text_offset": None}}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": 1}}


def _config(tmp_path: Path, srv: FakeOpenAI, text_file: Path, **task) -> Path:
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url}],
           "bench": {"tasks": [{"name": "ppl", "kind": "perplexity", "path": str(text_file), **task}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_served_perplexity_equals_hand_computation(tmp_path):
    text = tmp_path / "doc.txt"
    text.write_text("a b c d e f g")
    with FakeOpenAI() as srv:
        srv.completions, srv.tokenize = _completions, _tokenize
        cfg, bench = load_bench_config(_config(tmp_path, srv, text))
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
        prompts = [r["prompt"] for r in srv.requests if isinstance(r.get("prompt"), list)]
    # BOS=1, max_model_len 6: windows of 4 (a window goes out with its last predicted token and one token is
    # generated: 4 + 1 + 1 = 6). Window 1 sends [1,10,11,12,13] and scores positions 1-4; window 2 sends
    # [12,13,14,15,16] (an input of 4 ending before its last prediction) and scores its last 3 positions.
    assert sorted(prompts) == [[1, 10, 11, 12, 13], [12, 13, 14, 15, 16]]  # sent concurrently: any order
    ll = -(1.1 + 1.2 + 1.3 + 1.4) - (1.2 + 1.3 + 1.4)
    m = out.results["m1"]["metrics"]["ppl"]
    assert m["loglikelihood"] == pytest.approx(ll)
    assert (m["tokens"], m["words"], m["bytes"], m["windows"]) == (7, 7, 13, 2)
    assert m["token_perplexity"] == pytest.approx(math.exp(-ll / 7))
    assert m["word_perplexity"] == pytest.approx(math.exp(-ll / 7))
    assert m["byte_perplexity"] == pytest.approx(math.exp(-ll / 13))
    assert m["bits_per_byte"] == pytest.approx(-ll / 13 / math.log(2))
    res = out.results["m1"]
    assert res["scores"]["ppl"] == pytest.approx(m["word_perplexity"])
    assert res["sources"]["ppl"]["metric"] == "word_perplexity" and res["sources"]["ppl"]["higher_is_better"] is False


def test_max_length_option_overrides_the_server_context(tmp_path):
    text = tmp_path / "doc.txt"
    text.write_text("a b c d e f g")
    with FakeOpenAI() as srv:
        srv.completions, srv.tokenize = _completions, _tokenize
        cfg, bench = load_bench_config(_config(tmp_path, srv, text, max_length=2))
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
    assert out.results["m1"]["metrics"]["ppl"]["windows"] == 4  # 7 predictions, 2 a window


def test_malformed_lines_are_counted_and_reported_others_scored(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "d1", "text": "a b c"}\n{"id": "d2", "text": \n{"id": "d3", "body": "no text"}\n'
                    '{"id": "d4", "text": "d e f g"}\n')
    cfg = {"workspace": str(tmp_path / "ws"), "candidates": [{"name": "demo", "backend": "demo"}],
           "bench": {"tasks": [{"name": "ppl", "kind": "perplexity", "path": str(docs)}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    lines: list[str] = []
    c, bench = load_bench_config(path)
    out = run_bench(c, bench, show_progress=False, log=lines.append)
    res = out.results["demo"]
    assert res["n"]["ppl"] == 2 and res["sources"]["ppl"]["rejected"] == 2
    assert res["sources"]["ppl"]["demo"]  # placeholder numbers are labelled as such
    assert any("2 rejected" in line and "docs.jsonl:2: not valid JSON" in line for line in lines)
    errors = json.loads((out.run.path / "run.json").read_text())["errors"]
    assert [e["message"] for e in errors] == [f"rejected: {docs}:2: not valid JSON (Expecting value)",
                                              f"rejected: {docs}:3: needs a non-empty text field 'text'"]


def test_perplexity_through_a_chat_only_server_is_one_clear_error(tmp_path):
    text = tmp_path / "doc.txt"
    text.write_text("a b c")
    with FakeOpenAI() as srv:
        cfg, bench = load_bench_config(_config(tmp_path, srv, text))
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
    errors = json.loads((out.run.path / "run.json").read_text())["errors"]
    assert len(errors) == 1 and "bench task 'ppl'" in errors[0]["message"]
    assert "/tokenize" in errors[0]["message"] and "backend: transformers" in errors[0]["message"]
    assert json.loads((out.run.path / "run.json").read_text())["status"] == "failed"  # nothing was scored


def test_failed_documents_are_counted_and_make_the_run_partial(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "ok", "text": "a b c"}) + "\n" + json.dumps({"id": "bad", "text": "a z"}) + "\n")
    with FakeOpenAI() as srv:
        def tokenize(body: dict) -> dict:
            if "z" in body["prompt"]:
                raise KeyError("z")  # the server breaks on this document (HTTP handler error -> no reply)
            return _tokenize(body)

        srv.completions, srv.tokenize = _completions, tokenize
        cfg, bench = load_bench_config(_config(tmp_path, srv, docs))
        cfg.generation.max_retries = 0
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
    res = out.results["m1"]
    assert res["n"]["ppl"] == 1 and res["sources"]["ppl"]["missing"] == 1
    info = json.loads((out.run.path / "run.json").read_text())
    assert info["status"] == "partial"
    assert any("ppl/bad" in e["message"] for e in info["errors"])


def test_a_server_restarted_with_a_shorter_context_gets_windows_that_fit(tmp_path):
    """The window size is asked of the live server every run (only an offline, fully cached run reads it from
    the cache): after a restart with a smaller max_model_len, windows are cut to the new size, none refused."""
    text = tmp_path / "doc.txt"
    text.write_text("a b c d e f g")
    with FakeOpenAI() as srv:
        srv.completions, srv.tokenize = _completions, _tokenize
        cfg, bench = load_bench_config(_config(tmp_path, srv, text))
        assert run_bench(cfg, bench, show_progress=False, log=lambda s: None).results["m1"]["metrics"]["ppl"][
            "windows"] == 2

    def smaller(body: dict) -> dict:  # the same tokenizer, max_model_len 4: windows of 2
        return {**_tokenize(body), "max_model_len": 4}

    def refuse_long(body: dict) -> dict:
        assert len(body["prompt"]) <= 3, "longer than the restarted server takes"
        return _completions(body)

    text.write_text("a b c d e f g a b c")  # the document changed: its windows are not all cached
    with FakeOpenAI() as srv:
        srv.completions, srv.tokenize = refuse_long, smaller
        cfg, bench = load_bench_config(_config(tmp_path, srv, text))
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
    m = out.results["m1"]["metrics"]["ppl"]
    assert m["windows"] == 5 and m["tokens"] == 10  # the longer text (one document), in windows of 2
