"""Log-likelihood multiple choice (acc / acc_norm) against a local /v1/completions server with scripted
logprobs: the numbers equal hand computations; token boundaries; chat-only servers; vLLM prompt_logprobs."""
from __future__ import annotations

import asyncio
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI

from arena.backends.completions_logprobs import CompletionsLogprobs
from arena.backends.demo_logprobs import DemoLogprobs
from arena.backends.logprobs import continuation_token_indices, spans_from_offsets
from arena.bench.cli import main as bench_main
from arena.bench.configfile import load_bench_config
from arena.bench.loglik import decide, mean_stderr
from arena.bench.runner import run_bench

# Scripted word log-probabilities (a word is a whitespace-led piece); any other word scores -0.5.
WORD_LP = {" cat": -2.0, " elephant": -3.0, " blue": -1.0, " sky": -1.5, " red": -2.2, " tree": -4.0,
           " four": -1.0, " five": -1.0}
ITEMS = [  # (stem, options, gold)
    ("Which animal purrs?", ["cat", "elephant"], "A"),
    ("Which is a color?", ["blue sky", "red", "tree"], "B"),
    ("What is 2+2?", ["four", "five"], "A"),
]
# By hand: item 1 LL = [-2, -3] -> acc picks cat (right); per character [-2/3, -3/8] -> acc_norm picks
# elephant (wrong). Item 2 LL = [-2.5, -2.2, -4] -> red (right); per character [-0.3125, -0.733, -1] ->
# blue sky (wrong). Item 3 ties at -1: the first option wins both ways (right).
HAND = {"acc": 1.0, "acc_norm": 1 / 3, "acc_norm_stderr": 1 / 3, "acc_stderr": 0.0}


def scripted_completions(body: dict) -> dict:
    """Echo as vLLM does: a BOS token '<s>' first (no logprob), the prompt's words, one generated token."""
    prompt = body["prompt"]
    words = [m.group() for m in re.finditer(r"\s*\S+", prompt)]
    tokens = ["<s>", *words, " x"]
    lps = [None, *[WORD_LP.get(w, -0.5) for w in words], -0.25]
    offsets, pos = [], 0
    for t in tokens:
        offsets.append(pos)
        pos += len(t)
    return {"choices": [{"index": 0, "text": "".join(tokens), "logprobs": {
        "tokens": tokens, "token_logprobs": lps, "text_offset": offsets}}],
        "usage": {"prompt_tokens": len(words) + 1, "completion_tokens": 1}}


def _arc_file(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": {"stem": s, "choices": [
        {"label": "ABC"[j], "text": t} for j, t in enumerate(opts)]}, "answerKey": gold}) + "\n"
        for i, (s, opts, gold) in enumerate(ITEMS)))
    return path


def _config(tmp_path: Path, srv: FakeOpenAI, extra_tasks: list | None = None) -> Path:
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url}],
           "bench": {"tasks": [{"name": "mc", "kind": "choice", "method": "loglikelihood",
                                "path": str(_arc_file(tmp_path / "mc.jsonl")), "format": "arc"},
                               *(extra_tasks or [])]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_acc_and_acc_norm_equal_hand_computation(tmp_path):
    with FakeOpenAI() as srv:
        srv.completions = scripted_completions
        cfg, bench = load_bench_config(_config(tmp_path, srv))
        out = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
        sent = [r for r in srv.requests if "prompt" in r]
    res = out.results["m1"]
    metrics = res["metrics"]["mc"]
    for key, value in HAND.items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key
    assert res["scores"]["mc"] == 1.0 and res["n"]["mc"] == 3
    assert res["sources"]["mc"]["method"] == "loglikelihood" and "demo" not in res["sources"]["mc"]
    d = {x["id"]: x for x in res["details"]["mc"]}
    assert d["q0"]["loglikelihoods"] == [-2.0, -3.0]  # context words (-0.5 each) are not counted
    assert d["q1"]["loglikelihoods"] == [-2.5, -2.2, -4.0] and d["q1"]["tokens"] == [2, 1, 1]
    assert (d["q0"]["acc"], d["q0"]["acc_norm"], d["q2"]["pred"]) == (1, 0, 0)
    # lm-evaluation-harness's request: context 'Question: ...\nAnswer:' and continuation ' ' + option
    assert {r["prompt"] for r in sent} >= {"Question: Which animal purrs?\nAnswer: cat"}
    assert all(r["echo"] is True and r["logprobs"] == 1 and r["temperature"] == 0.0 for r in sent)
    saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
    assert saved["metrics"]["mc"]["acc_norm"] == pytest.approx(1 / 3, abs=1e-6)


def test_decide_and_stderr_by_hand():
    assert decide([-2.0, -3.0], ["cat", "elephant"], 0) == {"pred": 0, "pred_norm": 1, "acc": 1, "acc_norm": 0,
                                                             "acc_norm_bytes": 0}
    # Chinese options: 2 and 3 characters, 6 and 9 UTF-8 bytes. Per character -1.5 vs -1.4 (the second wins);
    # per byte -0.5 vs -0.467 (the second wins too); LL alone picks the first.
    assert decide([-3.0, -4.2], ["猫咪", "大象们"], 1) == {"pred": 0, "pred_norm": 1, "acc": 0, "acc_norm": 1,
                                                         "acc_norm_bytes": 1}
    # 'ab' (2 bytes) vs '猫' (1 character, 3 bytes): per character -1.0 vs -1.5, per byte -1.0 vs -0.5
    assert decide([-2.0, -1.5], ["ab", "猫"], 1) == {"pred": 1, "pred_norm": 0, "acc": 1, "acc_norm": 0,
                                                   "acc_norm_bytes": 1}
    assert decide([-1.0, -1.0], ["ab", "cd"], 1)["pred"] == 0  # ties: the first option, as numpy.argmax
    mean, err = mean_stderr([0.0, 0.0, 1.0])
    assert mean == pytest.approx(1 / 3) and err == pytest.approx(math.sqrt((1 / 3) / 3))


def test_boundary_uses_offsets_bos_shift_and_straddling_token():
    prompt = "Answer: Paris"
    # '<s>' shifts every offset by 3; the boundary is after 'Answer:' (7 characters)
    spans = spans_from_offsets(["<s>", "Answer", ":", " Paris"], [0, 3, 9, 10], prompt)
    assert spans == [None, (0, 6), (6, 7), (7, 13)]
    assert continuation_token_indices(spans, 7) == ([3], False)
    # a tokenizer that merged ':' with the continuation: that token counts for the continuation, flagged
    merged = spans_from_offsets(["Answer", ": Par", "is"], [0, 6, 11], prompt)
    assert continuation_token_indices(merged, 7) == ([1, 2], True)
    # no offsets given: token lengths stand in for them
    assert spans_from_offsets(["Answer:", " Paris"], None, prompt) == [(0, 7), (7, 13)]


def test_vllm_prompt_logprobs_are_read(tmp_path):
    def vllm_style(body: dict) -> dict:
        words = [m.group() for m in re.finditer(r"\s*\S+", body["prompt"])]
        entries = [None] + [{str(100 + i): {"logprob": WORD_LP.get(w, -0.5), "rank": 1, "decoded_token": w}}
                            for i, w in enumerate(words[1:])]
        return {"choices": [{"index": 0, "text": "", "logprobs": None, "prompt_logprobs": entries}]}

    with FakeOpenAI() as srv:
        srv.completions = vllm_style
        async def score():
            model = CompletionsLogprobs(name="m", model="fake", base_url=srv.base_url, api_key="EMPTY",
                                        extra_body={"prompt_logprobs": 0})
            try:
                return await model.continuation_logprob("Question: Which is a color?\nAnswer:", " blue sky")
            finally:
                await model.aclose()

        res = asyncio.run(score())
        assert srv.requests[-1]["prompt_logprobs"] == 0
    assert (res.logprob, res.tokens) == (-2.5, 2)


def test_chat_only_backend_one_clear_error_naming_task_and_method_generate(tmp_path, capsys):
    gen = tmp_path / "exact.jsonl"
    gen.write_text(json.dumps({"id": "e1", "prompt": "Say hi", "answer": "hi"}) + "\n")
    with FakeOpenAI(reply=lambda r: "hi") as srv:  # no completions route: HTTP 404, as a chat-only API
        path = _config(tmp_path, srv, [{"name": "ex", "kind": "exact", "path": str(gen), "format": "jsonl"}])
        rc = bench_main(["-c", str(path), "--no-progress"])
    printed = capsys.readouterr()
    run_json = max((tmp_path / "ws" / "runs").glob("*/run.json"))
    errors = json.loads(run_json.read_text())["errors"]
    mine = [e for e in errors if e.get("task") == "mc"]
    assert len(mine) == 1  # one error for the task, not one per item
    msg = mine[0]["message"]
    assert "bench task 'mc'" in msg and "candidate 'm1'" in msg and "method: generate" in msg
    # no traceback from Arena (the test server's own thread may print a reset connection under load)
    assert "Traceback" not in printed.out and "method: generate" in printed.out
    assert 'arena/' not in "".join(line for line in printed.err.splitlines() if line.strip().startswith("File "))
    saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
    assert saved["scores"]["ex"] == 1.0 and "mc" not in saved["scores"]  # the other task still ran
    assert rc == 3  # partial


def test_demo_placeholders_are_seeded_and_differ_by_candidate():
    a, b = DemoLogprobs(name="a"), DemoLogprobs(name="b")
    one = asyncio.run(a.continuation_logprob("Question: x\nAnswer:", " yes please"))
    assert one == asyncio.run(a.continuation_logprob("Question: x\nAnswer:", " yes please"))
    assert one.tokens == 2 and -12.0 <= one.logprob <= -1.0
    assert one != asyncio.run(b.continuation_logprob("Question: x\nAnswer:", " yes please"))


def test_arena_run_with_a_transformers_candidate_is_a_clear_error(tmp_path):
    from arena.config import load_config
    from arena.errors import ConfigError
    from arena.pipeline import run_pipeline

    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"question_id": "1", "turns": ["hi"]}) + "\n")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"workspace": str(tmp_path / "ws"), "questions": {"path": str(q)},
                                    "candidates": [{"name": "d", "backend": "demo"},
                                                   {"name": "local", "backend": "transformers", "path": "m"}],
                                    "judge": {"kind": "dry-run", "mode": "pairwise"}}))
    with pytest.raises(ConfigError) as err:
        run_pipeline(load_config(path), dry_run=True, log=lambda s: None)
    assert "local" in str(err.value) and "arena bench" in str(err.value)
    assert not (tmp_path / "ws" / "runs").exists()  # refused before any run folder


def test_rerun_reuses_cached_logprobs_and_gives_the_same_scores(tmp_path):
    with FakeOpenAI() as srv:
        srv.completions = scripted_completions
        cfg, bench = load_bench_config(_config(tmp_path, srv))
        first = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
        sent = len(srv.requests)
        second = run_bench(cfg, bench, show_progress=False, log=lambda s: None)
        assert sent == 7 and len(srv.requests) == sent  # 2 + 3 + 2 options; nothing sent again
    assert second.results["m1"]["metrics"] == first.results["m1"]["metrics"]
    stage = json.loads((second.run.path / "run.json").read_text())["stages"]["loglikelihood"]
    assert stage["models"]["m1"]["cache"] == {"reused": 7, "scored": 0}
    assert len((tmp_path / "ws" / "logprobs" / "m1.jsonl").read_text().splitlines()) == 7
