"""pass@k: the unbiased estimator against brute-force subset enumeration; code extraction; scoring in the sandbox."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.bench.config import BenchTask
from arena.bench.genopts import CodeOptions
from arena.bench.loaders import BenchItem
from arena.bench.passk import build_program, extract_code, pass_at_k, score_code_task
from arena.bench.sandbox import namespaces_available
from arena.bench.tasks import load_task
from arena.errors import ConfigError


def _brute_force(n: int, c: int, k: int) -> float:
    """The fraction of all k-subsets of n samples (c of them correct) that hold at least one correct sample."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_estimator_equals_subset_enumeration(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(_brute_force(n, c, k), abs=1e-12)


def test_estimator_hand_cases():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)           # pass@1 is c/n
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)     # 1 - C(3,2)/C(5,2)
    assert pass_at_k(200, 13, 10) == pytest.approx(1 - math.comb(187, 10) / math.comb(200, 10))
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 1, 4) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


HE = BenchItem("HE/0", 'import math\n\n\ndef hyp(a, b):\n    """Hypotenuse of a right triangle."""\n', "",
               meta={"style": "humaneval", "entry_point": "hyp",
                     "test": "def check(candidate):\n    assert candidate(3, 4) == 5\n    assert candidate(5, 12) == 13\n"})
MBPP = BenchItem("M/1", "Write a function twice(x) that doubles x.", "",
                 meta={"style": "mbpp", "test_list": ["assert twice(2) == 4", "assert twice(-1) == -2"],
                       "test_setup_code": ""})


def test_extract_code_prefers_the_block_defining_the_entry_point():
    reply = "Here:\n```text\nnot code\n```\nand\n```python\ndef hyp(a, b):\n    return 1\n```\n"
    assert extract_code(reply, "hyp").startswith("def hyp")
    assert extract_code("    return 7\n", "hyp") == "    return 7\n"  # a bare completion stays as it is


def test_build_program_completion_full_function_and_mbpp():
    body = build_program(HE, "    return math.sqrt(a * a + b * b)\n")
    assert body.startswith(HE.question) and body.rstrip().endswith("check(hyp)")
    full = build_program(HE, "```python\ndef hyp(a, b):\n    return math.hypot(a, b)\n```")
    assert full.startswith("import math") and "check(hyp)" in full  # the prompt's imports are kept
    assert build_program(MBPP, "def twice(x):\n    return 2 * x").rstrip().endswith("assert twice(-1) == -2")


@pytest.mark.skipif(not namespaces_available(), reason="no unprivileged user namespaces here")
def test_score_code_task_counts_passing_samples(tmp_path):
    replies_he = ["```python\ndef hyp(a, b):\n    return math.hypot(a, b)\n```",   # passes
                  "    return a + b\n",                                             # fails the tests
                  "    while True:\n        pass\n",                              # times out
                  "    return math.sqrt(a * a + b * b)\n"]                        # passes
    replies_mbpp = ["def twice(x):\n    return x + x", "def twice(x):\n    return x", "oops(", "def twice(x):\n  return 2*x"]
    opts = CodeOptions(n=4, k=[1, 2, 4], timeout=1.0, workers=2)
    got = score_code_task([(HE, replies_he), (MBPP, replies_mbpp)], opts, tmp_path / "sandbox")
    he, mb = got.details
    assert (he["n"], he["c"]) == (4, 2) and he["status"] == ["passed", "failed", "timeout", "passed"]
    assert (mb["n"], mb["c"]) == (4, 2)
    for k in (1, 2, 4):
        assert got.metrics[f"pass@{k}"] == pytest.approx(round(_brute_force(4, 2, k), 6))
    assert got.primary == "pass@1" and got.score == pytest.approx(0.5)
    assert got.info["isolation"] == "namespaces"


def test_k_larger_than_n_is_a_config_error():
    with pytest.raises(ValueError, match="between 1 and n"):
        CodeOptions(n=2, k=[1, 5])


def test_code_options_on_another_kind_are_one_clear_error(tmp_path):
    path = tmp_path / "ref.jsonl"
    path.write_text('{"id": "a", "prompt": "p", "reference": "r"}\n')
    task = BenchTask(name="t", path=path, code={"n": 2})
    with pytest.raises(ConfigError, match="'code:' options apply to kind code, not 'reference'"):
        load_task(task)
