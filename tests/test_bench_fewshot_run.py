"""Few-shot and CoT bench runs end to end against the local OpenAI-compatible server (tests/openai_server.py)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from openai_server import FakeOpenAI
from test_bench_fewshot import GSM, _gsm

from arena.bench.configfile import load_bench_config
from arena.bench.runner import run_bench

EXPECTED_G1 = (  # item g1 with its two examples (the other items, file order), as sent to the model
    'Solve the following problem. Reason step by step if it helps, then give the final answer on the last '
    'line in the form "Answer: <number>" (digits only, no units).\n\n'
    "Question: Ann has 3 bags of 4 apples. How many apples?\n3 bags * 4 = 12 apples.\nAnswer: 12\n\n"
    "Question: A box holds 6 eggs. How many eggs in 5 boxes?\n6 * 5 = 30 eggs.\nAnswer: 30\n\n"
    "Question: Bo had 10 pens and gave away 4. How many are left?")


def _reply(request: dict) -> str:
    last = request["messages"][-1]["content"].rsplit("Question:", 1)[-1]
    for q, worked in GSM:
        if q in last:  # reasons, mentions a wrong number last, but ends with the right answer line
            gold = worked.rsplit("#### ", 1)[1]
            return f"Let me think. It is {gold}.\nAnswer: {gold}\nCheck: not 99"
    return "unexpected prompt"


def _config(tmp_path: Path, srv: FakeOpenAI, **task) -> Path:
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url}],
           "bench": {"tasks": [{"name": "math", "path": str(_gsm(tmp_path / "m.jsonl")), **task}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_fewshot_cot_prompt_reaches_the_server_and_k_changes_re_ask(tmp_path):
    with FakeOpenAI(reply=_reply) as srv:
        out = run_bench(*load_bench_config(_config(tmp_path, srv, num_fewshot=2, cot=False)),
                        show_progress=False, log=lambda s: None)
        sent = {r["messages"][-1]["content"] for r in srv.requests}
        assert len(srv.requests) == 3 and EXPECTED_G1 in sent
        res = out.results["m1"]
        assert res["scores"]["math"] == 1.0
        hash2 = res["sources"]["math"]["prompt_hash"]

        out = run_bench(*load_bench_config(_config(tmp_path, srv, num_fewshot=2, cot=True)),
                        show_progress=False, log=lambda s: None)
        assert len(srv.requests) == 6  # the CoT prompt is a new prompt: asked again
        assert out.results["m1"]["scores"]["math"] == 1.0  # the final answer line is read, not 99
        assert "Think step by step" in srv.requests[-1]["messages"][-1]["content"]
        hash_cot = out.results["m1"]["sources"]["math"]["prompt_hash"]
        src = out.results["m1"]["sources"]["math"]
        assert (src["num_fewshot"], src["cot"], src["prompting"], src["fewshot_seed"]) == (2, True, "chat", 1234)

        out = run_bench(*load_bench_config(_config(tmp_path, srv, num_fewshot=1, cot=True)),
                        show_progress=False, log=lambda s: None)
        assert len(srv.requests) == 9  # changing K re-asks
        assert len({hash2, hash_cot, out.results["m1"]["sources"]["math"]["prompt_hash"]}) == 3
        shown = [r["messages"][-1]["content"].count("Question:") for r in srv.requests[-3:]]
        assert shown == [2, 2, 2]  # one example + the item

        again = run_bench(*load_bench_config(_config(tmp_path, srv, num_fewshot=1, cot=True)),
                          show_progress=False, log=lambda s: None)
        assert len(srv.requests) == 9 and again.results["m1"]["scores"]["math"] == 1.0  # same K: cached
        saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
        assert saved["scores"]["math"] == 1.0


def _plain_reply(body: dict) -> dict:
    last = body["prompt"].rsplit("Question:", 1)[-1]
    gold = next((w.rsplit("#### ", 1)[1] for q, w in GSM if q in last), "0")
    return {"id": "c1", "object": "text_completion", "model": body["model"],
            "choices": [{"index": 0, "text": f" {gold}\n\nQuestion: invented?\nAnswer: 99", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}}


def test_completion_prompting_sends_one_plain_text_to_v1_completions(tmp_path):
    with FakeOpenAI(reply=_reply) as srv:
        srv.completions = _plain_reply
        cfg_path = _config(tmp_path, srv, num_fewshot=2, prompting="completion")
        out = run_bench(*load_bench_config(cfg_path), show_progress=False, log=lambda s: None)
        assert len(srv.requests) == 3 and all("prompt" in r and "messages" not in r for r in srv.requests)
        sent = {r["prompt"] for r in srv.requests}
        assert EXPECTED_G1 + "\nAnswer:" in sent  # the chat layout plus the open answer line, no chat template
        assert {tuple(r["stop"]) for r in srv.requests} == {("\nQuestion:", "\n题目：", "\nQ:")}
        assert {r["temperature"] for r in srv.requests} == {0.0}
        assert out.results["m1"]["scores"]["math"] == 1.0  # the invented next example (99) is cut off

        chat = run_bench(*load_bench_config(_config(tmp_path, srv, num_fewshot=2)), show_progress=False,
                         log=lambda s: None)
        assert len(srv.requests) == 6 and all("messages" in r for r in srv.requests[3:])  # not the cached ones
        assert chat.results["m1"]["scores"]["math"] == 1.0


def test_a_chat_only_server_gets_one_clear_error_per_task_naming_the_fix(tmp_path):
    with FakeOpenAI(reply=_reply) as srv:  # no /v1/completions route: HTTP 404
        out = run_bench(*load_bench_config(_config(tmp_path, srv, prompting="completion")), show_progress=False,
                        log=lambda s: None)
        assert out.results["m1"]["n"]["math"] == 0 and out.results["m1"]["sources"]["math"]["missing"] == 3
        errors = json.loads((out.run.path / "run.json").read_text())["errors"]
        assert len(errors) == 1 and "HTTP 404" in errors[0]["message"]
        assert "use prompting: chat" in errors[0]["message"]
        assert errors[0]["task"] == "math" and errors[0]["items"] == 3
