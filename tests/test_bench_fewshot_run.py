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
    "Question: Bo had 10 pens and gave away 4. How many are left?\nAnswer:")


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
