"""The shipped reference and code samples (data/bench) load cleanly, their solutions pass, and cfg_bench runs them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.bench.cli import main as bench_main
from arena.bench.genopts import CodeOptions
from arena.bench.loaders import load_items
from arena.bench.passk import score_code_task
from arena.bench.sandbox import namespaces_available
from arena.bench.textmetrics import has_cjk

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "bench"
needs_ns = pytest.mark.skipif(not namespaces_available(), reason="no unprivileged user namespaces here")


def test_reference_samples_load_and_include_chinese():
    for name, chinese in (("reference_en.jsonl", False), ("reference_zh.jsonl", True)):
        fmt, data = load_items(DATA / name)
        assert fmt == "reference" and not data.rejected and len(data.items) >= 5
        assert all(has_cjk(i.answer) == chinese for i in data.items)
        assert any(i.accept for i in data.items)  # some items have several references


@needs_ns
@pytest.mark.parametrize("name, style", [("code_humaneval.jsonl", "humaneval"), ("code_mbpp.jsonl", "mbpp")])
def test_every_canonical_solution_passes_its_own_tests_and_a_wrong_one_fails(tmp_path, name, style):
    fmt, data = load_items(DATA / name)
    assert fmt == style and not data.rejected
    right = [(item, [item.answer]) for item in data.items]  # HumanEval: a body completion; MBPP: full code
    got = score_code_task(right, CodeOptions(timeout=5, workers=2), tmp_path)
    assert got.metrics == {"pass@1": 1.0}, [d["first_failure"] for d in got.details if d["c"] == 0]
    wrong = [(item, ["def nothing():\n    return None\n"]) for item in data.items]
    assert score_code_task(wrong, CodeOptions(timeout=5), tmp_path).metrics == {"pass@1": 0.0}


@needs_ns
def test_cfg_bench_runs_the_reference_and_code_samples_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    tasks = "reference_zh,code_humaneval"  # (test_bench_run runs the whole config)
    rc = bench_main(["-c", "configs/cfg_bench.yaml", "--out", str(tmp_path / "ws"), "--tasks", tasks, "--no-progress"])
    assert rc == 0
    data = json.loads((tmp_path / "ws" / "bench" / "demo-alpha.json").read_text())
    assert data["n"] == {"reference_zh": 5, "code_humaneval": 5}
    assert data["sources"]["reference_zh"]["bleu_tokenize"] == "zh"
    assert data["sources"]["code_humaneval"]["metric"] == "pass@1"
    assert set(data["metrics"]["code_humaneval"]) == {"pass@1", "pass@2"}  # n: 2, k: [1, 2] in the config
    assert data["details"]["reference_zh"][0]["extracted"].startswith("[DEMO TEXT")  # labelled placeholder text
