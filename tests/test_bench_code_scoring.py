"""Code-task scoring honesty: items short of samples are reported, the prompt's imports always reach the
program, duplicate k and a text `test_list` are rejected, and a missing sandbox stops `arena bench` before
any request."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI

from arena.bench import sandbox
from arena.bench.cli import main as bench_main
from arena.bench.genopts import CodeOptions
from arena.bench.loaders import load_items
from arena.bench.passk import build_program, score_code_task
from arena.bench.sandbox import namespaces_available, run_python

needs_ns = pytest.mark.skipif(not namespaces_available(), reason="no unprivileged user namespaces here")
ROOT = Path(__file__).resolve().parent.parent
# the shipped item shape: its prompt starts with `from typing import List`
SHIPPED = json.loads((ROOT / "data" / "bench" / "code_humaneval.jsonl").read_text().splitlines()[0])
RLIMITS = sandbox.SandboxLimits(timeout=5)


def _he_item(tmp_path, rec: dict):
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    _, data = load_items(path)
    assert not data.rejected, data.rejected
    return data.items[0]


def _comb_pass(n: int, c: int, k: int) -> float:
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def test_items_short_of_samples_are_counted_and_each_k_uses_only_complete_items(tmp_path):
    rec = {"task_id": "a", "prompt": "def f(x):\n    '''x + 1'''\n", "entry_point": "f",
           "test": "def check(c):\n    assert c(1) == 2\n"}
    item_a = _he_item(tmp_path, rec)
    item_b = _he_item(tmp_path, {**rec, "task_id": "b"})
    item_c = _he_item(tmp_path, {**rec, "task_id": "c"})
    good, bad = "    return x + 1\n", "    return x\n"
    pairs = [(item_a, [good, bad, bad, good, bad]),   # all 5 samples: c = 2
             (item_b, [good, bad, bad]),              # 2 samples lost (e.g. HTTP 500): n = 3, c = 1
             (item_c, [bad])]                         # 1 sample: below min(k) = 2, not scored at all
    opts = CodeOptions(n=5, k=[2, 3, 5], timeout=5, workers=2, isolation="rlimits")
    got = score_code_task(pairs, opts, tmp_path / "sandbox")
    # by hand: every reported k is a mean over the same items (a and b); pass@5 needs 5 samples of each
    assert [d["id"] for d in got.details] == ["a", "b"]
    assert got.metrics["pass@2"] == pytest.approx(round((_comb_pass(5, 2, 2) + _comb_pass(3, 1, 2)) / 2, 6))
    assert got.metrics["pass@3"] == pytest.approx(round((_comb_pass(5, 2, 3) + 1.0) / 2, 6))
    assert "pass@5" not in got.metrics and got.score == got.metrics["pass@2"]
    assert got.info["short_items"] == 1 and got.info["unscored_items"] == ["c"]
    assert got.info["dropped_k"] == [5] and got.details[1]["metrics"] == {"pass@2": pytest.approx(2 / 3),
                                                                          "pass@3": 1.0}


def test_a_full_function_with_its_own_import_still_gets_the_prompt_imports(tmp_path):
    item = _he_item(tmp_path, SHIPPED)
    assert item.question.startswith("from typing import List")
    reply = ("```python\nimport itertools\n\n\ndef running_max(values: List[int]) -> List[int]:\n"
             "    return list(itertools.accumulate(values, max))\n```")
    res = run_python(build_program(item, reply), tmp_path, RLIMITS, isolation="rlimits")
    assert res.passed, res.output
    future = "```python\nfrom __future__ import annotations\nimport itertools\n\n\n" + reply.split("\n", 2)[2]
    res = run_python(build_program(item, future), tmp_path, RLIMITS, isolation="rlimits")
    assert res.passed, res.output  # a __future__ import stays first


def test_duplicate_k_is_a_config_error():
    with pytest.raises(ValueError, match="repeated"):
        CodeOptions(n=5, k=[1, 1])


def test_duplicate_k_in_a_config_file_exits_2(tmp_path, capsys):
    code = tmp_path / "code.jsonl"
    code.write_text(json.dumps(SHIPPED) + "\n")
    cfg = {"workspace": str(tmp_path / "ws"), "candidates": [{"name": "d", "backend": "demo"}],
           "bench": {"tasks": [{"name": "c", "kind": "code", "path": str(code),
                                "code": {"n": 2, "k": [1, 1]}}]}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert bench_main(["-c", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 2
    assert "repeated" in capsys.readouterr().err


def test_an_mbpp_test_list_given_as_text_is_a_bad_record(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    good = {"task_id": "ok", "text": "Write f(x) returning x.", "test_list": ["assert f(1) == 1"]}
    text = {"task_id": "m1", "text": "Write f(x).", "test_list": "assert f(1) == 1"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(text) + "\n")
    fmt, data = load_items(path)
    assert fmt == "mbpp" and [i.id for i in data.items] == ["ok"]
    assert len(data.rejected) == 1
    assert data.rejected[0].startswith(f"{path}:2: field 'test_list' must be a list")


def test_no_namespaces_stops_arena_bench_before_any_request(tmp_path, monkeypatch, capsys):
    code = tmp_path / "code.jsonl"
    code.write_text(json.dumps(SHIPPED) + "\n")
    with FakeOpenAI(reply=lambda _: "```python\ndef running_max(v):\n    return v\n```") as srv:
        cfg = {"workspace": str(tmp_path / "ws"),
               "candidates": [{"name": "m", "backend": "openai", "model": "fake", "base_url": srv.base_url,
                               "api_key_env": "PREFLIGHT_KEY"}],
               "bench": {"tasks": [{"name": "c", "kind": "code", "path": str(code),
                                    "code": {"n": 2, "k": [1]}}]}}
        (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        monkeypatch.setenv("PREFLIGHT_KEY", "sk-preflight")
        monkeypatch.setenv("PATH", "/nonexistent")  # no `unshare`: as on a machine without it
        sandbox.namespaces_available.cache_clear()
        try:
            rc = bench_main(["-c", str(tmp_path / "cfg.yaml"), "--no-progress"])
        finally:
            sandbox.namespaces_available.cache_clear()
        assert rc == 2 and srv.requests == []
    err = capsys.readouterr().err
    assert "code.isolation: rlimits" in err and "task 'c'" in err


def test_an_item_with_too_few_samples_counts_as_missing_in_the_bench_file(tmp_path, capsys):
    """Two of an item's three samples fail (HTTP 400, not retried): with k = 2 it cannot be scored, so the
    bench file says n 0 and missing 1 (before: n 1 ... or nothing said)."""
    code = tmp_path / "code.jsonl"
    code.write_text(json.dumps(SHIPPED) + "\n")
    with FakeOpenAI(reply=lambda _: "```python\ndef running_max(v):\n    return v\n```") as srv:
        srv.fail_next(400, times=2)
        cfg = {"workspace": str(tmp_path / "ws"),
               "candidates": [{"name": "m", "backend": "openai", "model": "fake", "base_url": srv.base_url,
                               "api_key_env": "PREFLIGHT_KEY"}],
               "generation": {"concurrency": 1, "max_retries": 0},
               "bench": {"tasks": [{"name": "c", "kind": "code", "path": str(code),
                                    "code": {"n": 3, "k": [2], "isolation": "rlimits"}}]}}
        (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PREFLIGHT_KEY", "sk-x")
            assert bench_main(["-c", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 1  # nothing scored
        assert len(srv.requests) == 3
    doc = json.loads((tmp_path / "ws" / "bench" / "m.json").read_text())
    source = doc["sources"]["c"]
    assert source["unscored_items"] == [SHIPPED["task_id"]] and source["missing"] == 1
    assert doc["n"]["c"] == 0 and "c" not in doc.get("scores", {})
    err = capsys.readouterr().err  # an answered item, but too few samples: not "no candidate answered"
    assert "items unanswered or too few samples to score" in err


PAIR_TEST = "def check(candidate):\n    assert candidate([1, 2, 3]) == (2, 4)\n"
PAIR_DEF = ("def pair_sum(xs: List[int]) -> Tuple[int, int]:\n"
            "    return (sum(x for x in xs if x % 2 == 0), sum(x for x in xs if x % 2))\n")


@pytest.mark.parametrize("imports", [
    "from typing import (\n    List,\n    Tuple,\n)\n",  # parenthesised, one name a line (black's style)
    "from typing import (List,  # the list\n                    Tuple)\n",  # a comment inside the brackets
    "from typing import List, \\\n    Tuple\n",  # a backslash continuation
    "import os\nfrom typing import \\\n    List, \\\n    Tuple\n",  # two continuations after another import
])
@pytest.mark.parametrize("own_imports", [True, False])
def test_a_multi_line_prompt_import_reaches_the_program_whole(tmp_path, imports, own_imports):
    prompt = imports + '\n\ndef pair_sum(xs: List[int]) -> Tuple[int, int]:\n    """Sum of evens and odds."""\n'
    item = _he_item(tmp_path, {"task_id": "t1", "entry_point": "pair_sum", "prompt": prompt, "test": PAIR_TEST})
    head = "from typing import List, Tuple\n\n" if own_imports else ""  # without: the prompt's names are needed
    reply = f"```python\n{head}{PAIR_DEF}```"
    program = build_program(item, reply)
    assert program.startswith(imports)  # the prompt's import statements, whole and first
    res = run_python(program, tmp_path / "sandbox", RLIMITS, isolation="rlimits")
    assert res.passed, (program, res.output)
    wrong = f"```python\n{head}{PAIR_DEF.replace('x % 2 == 0', 'x % 2 == 1')}```"
    res = run_python(build_program(item, wrong), tmp_path / "sandbox", RLIMITS, isolation="rlimits")
    assert not res.passed and "AssertionError" in res.output


def test_a_multi_line_future_import_stays_first(tmp_path):
    prompt = ('from __future__ import (\n    annotations,\n)\nfrom typing import (\n    List,\n    Tuple,\n)\n\n\n'
              'def pair_sum(xs: List[int]) -> Tuple[int, int]:\n    """Sum of evens and odds."""\n')
    item = _he_item(tmp_path, {"task_id": "t1", "entry_point": "pair_sum", "prompt": prompt, "test": PAIR_TEST})
    reply = f"```python\nfrom __future__ import (\n    generator_stop,\n)\nimport math\n\n{PAIR_DEF}```"
    program = build_program(item, reply)
    assert program.startswith("from __future__ import (\n    annotations,\n)\nfrom __future__ import (\n"
                              "    generator_stop,\n)\nfrom typing import (\n")
    res = run_python(program, tmp_path / "sandbox", RLIMITS, isolation="rlimits")
    assert res.passed, (program, res.output)


def test_an_import_line_inside_the_prompts_docstring_is_not_copied(tmp_path):
    """A module docstring whose prose has a line starting with 'import ' is text, not an import: copying it
    made a correct reply fail with ModuleNotFoundError (found by a review)."""
    prompt = ('"""Helpers for the exercises.\n\nUsage:\nimport helpers_of_the_course\n"""\nimport math\n\n\n'
              'def area(r: float) -> float:\n    """Area of a circle of radius r."""\n')
    item = _he_item(tmp_path, {"task_id": "doc", "prompt": prompt, "entry_point": "area",
                               "test": "def check(f):\n    assert abs(f(1) - 3.14159) < 1e-3\n"})
    reply = "```python\ndef area(r: float) -> float:\n    return math.pi * r * r\n```"
    program = build_program(item, reply)
    assert "import math" in program and "helpers_of_the_course" not in program
    assert run_python(program, tmp_path, RLIMITS, isolation="rlimits").passed
