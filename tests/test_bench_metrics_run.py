"""`arena bench` with reference and code tasks end to end against a real local OpenAI-compatible server."""
from __future__ import annotations

import json
import math
import statistics
import threading
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI
from rouge_score import rouge_scorer

from arena.bench.configfile import load_bench_config
from arena.bench.runner import run_bench
from arena.bench.sandbox import namespaces_available

REFS = [("Summarise: the cat sat on the mat all day.", "The cat sat on the mat.", "A cat sat on a mat all day."),
        ("Name the largest planet.", "Jupiter", "Jupiter")]
PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
GOOD, BAD = "```python\ndef add(a, b):\n    return a + b\n```", "    return a - b\n"
LEAK = "```python\nimport os\nprint(dict(os.environ))\ndef add(a, b):\n    return a * b\n```"
SECRET = "sk-e2e-secret-value-123"


class Scripted:
    """Replies by prompt; code prompts get GOOD, then BAD, then LEAK (one of each over the 3 samples)."""

    def __init__(self) -> None:
        self.lock, self.code_calls = threading.Lock(), 0

    def __call__(self, request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        for question, _, reply in REFS:
            if prompt == question:
                return reply
        with self.lock:
            self.code_calls += 1
            return [GOOD, BAD, LEAK][(self.code_calls - 1) % 3]


def _write(tmp_path: Path) -> Path:
    ref = tmp_path / "ref.jsonl"
    lines = [json.dumps({"id": f"r{i}", "prompt": q, "reference": r}) for i, (q, r, _) in enumerate(REFS)]
    lines += [json.dumps({"id": "r9", "prompt": "no reference here"})]
    ref.write_text("\n".join(lines) + "\n")
    code = tmp_path / "code.jsonl"
    code.write_text(json.dumps({"task_id": "c0", "prompt": PROMPT, "entry_point": "add",
                                "test": "def check(f):\n    assert f(2, 3) == 5\n"}) + "\n"
                    + json.dumps({"task_id": "c1", "prompt": PROMPT, "entry_point": "add"}) + "\n")
    return ref, code


@pytest.mark.skipif(not namespaces_available(), reason="no unprivileged user namespaces here")
def test_reference_and_code_tasks_score_like_the_libraries(tmp_path, monkeypatch):
    monkeypatch.setenv("E2E_KEY", SECRET)
    ref, code = _write(tmp_path)
    with FakeOpenAI(reply=Scripted()) as srv:
        cfg = {"workspace": str(tmp_path / "ws"), "generation": {"max_tokens": 200},
               "candidates": [{"name": "m", "backend": "openai", "model": "fake", "base_url": srv.base_url,
                               "api_key_env": "E2E_KEY"}],
               "bench": {"tasks": [{"name": "ref", "kind": "reference", "path": str(ref)},
                                   {"name": "code", "kind": "code", "path": str(code),
                                    "code": {"n": 3, "k": [1, 3], "temperature": 0.6, "timeout": 5}}]}}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        logs: list[str] = []
        out = run_bench(*load_bench_config(path), show_progress=False, log=logs.append)
        temps = sorted((r["messages"][-1]["content"].startswith("Complete"), r["temperature"]) for r in srv.requests)
    assert temps == [(False, 0.0)] * 2 + [(True, 0.6)] * 3  # references greedy, code samples at 0.6
    res = out.results["m"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    per_item = [scorer.score(r, p)["rougeL"].fmeasure for _, r, p in REFS]
    assert res["scores"]["ref"] == pytest.approx(sum(per_item) / 2, abs=1e-6) and res["n"]["ref"] == 2
    assert res["stderr"]["ref"] == pytest.approx(statistics.stdev(per_item) / math.sqrt(2), abs=1e-6)
    assert res["metrics"]["ref"]["em"] == pytest.approx(0.5) and res["sources"]["ref"]["metric"] == "rougeL"
    assert res["scores"]["code"] == pytest.approx(1 / 3) and res["metrics"]["code"] == {"pass@1": pytest.approx(1 / 3),
                                                                                         "pass@3": 1.0}
    detail = res["details"]["code"][0]
    assert (detail["n"], detail["c"]) == (3, 1) and sorted(detail["status"]) == ["failed", "failed", "passed"]
    written = (tmp_path / "ws").rglob("*")
    assert not any(SECRET in p.read_text(errors="replace") for p in written if p.is_file())  # not even via print
    assert not (out.run.path / "sandbox").exists()
    said = "\n".join(logs)  # the bad records are counted and named; the other items ran
    assert f"2 items, 1 rejected (first: {ref}:3: field 'reference' must be" in said
    assert f"1 items, 1 rejected (first: {code}:2: needs a text field 'test'" in said
    errors = (out.run.path / "run.json").read_text()
    assert f"{ref}:3: field 'reference' must be" in errors and f"{code}:2: needs a text field 'test'" in errors


def test_a_task_that_cannot_be_scored_fails_alone_and_the_run_is_partial(tmp_path):
    # a reference task whose metric cannot be computed here (no embedding model at that path): the error
    # names the task once, the other task of the run is still scored, and the run is partial (exit 3)
    ref, _ = _write(tmp_path)
    cfg = {"workspace": str(tmp_path / "ws"),
           "candidates": [{"name": "d1", "backend": "demo"}, {"name": "d2", "backend": "demo"}],
           "bench": {"tasks": [{"name": "ref_ok", "kind": "reference", "path": str(ref)},
                               {"name": "ref_sem", "kind": "reference", "path": str(ref),
                                "reference": {"metrics": ["semantic"], "primary": "semantic",
                                              "embedding_model": str(tmp_path / "no-model")}}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = run_bench(*load_bench_config(path), show_progress=False, log=lambda _: None)
    for model in ("d1", "d2"):
        res = out.results[model]
        assert "ref_ok" in res["scores"] and "ref_sem" not in res["scores"] and res["n"]["ref_sem"] == 0
    info = json.loads((out.run.path / "run.json").read_text())
    mine = [e for e in info["errors"] if e.get("task") == "ref_sem" and "not scored" in e["message"]]
    assert len(mine) == 1 and "no-model" in mine[0]["message"]  # once, not once per candidate
    assert info["status"] == "partial" and any("ref_sem not scored" in r for r in info["status_reasons"])
