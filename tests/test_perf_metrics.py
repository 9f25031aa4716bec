"""Figures of a load level against a hand-worked example and the standard library's quantiles;
load shapes' arithmetic (Poisson arrivals, output budgets, prompts)."""
from __future__ import annotations

import random
import statistics

import pytest
from scipy import stats as sps

from arena.errors import ArenaError
from arena.perf.client import HTTP_429, RequestResult
from arena.perf.load import LevelRun, LoadLevel, poisson_offsets
from arena.perf.metrics import distribution, flat_row, summarize
from arena.perf.prompts import OutputBudget, RequestPlan, synthetic_prompts


def _hand_level() -> LevelRun:
    run = LevelRun(LoadLevel(concurrency=2), started=0.0, finished=2.0, sent=3)
    run.results = [
        RequestResult(start=0.0, end=1.0, ok=True, ttft=0.2, itl=[0.1, 0.2], chunks=3, prompt_tokens=10,
                      output_tokens=5, finish_reason="stop"),
        RequestResult(start=0.5, end=2.0, ok=True, ttft=0.5, itl=[0.3], chunks=2, prompt_tokens=20,
                      output_tokens=3, finish_reason="stop"),
        RequestResult(start=0.6, end=0.7, ok=False, error=HTTP_429, detail="HTTP 429: slow down"),
    ]
    return run


def test_level_figures_match_a_hand_worked_example():
    s = summarize(_hand_level())
    assert (s["sent"], s["completed"], s["failed"]) == (3, 2, 1)
    assert s["errors"] == {"http_429": 1} and s["error_examples"]["http_429"] == "HTTP 429: slow down"
    assert s["duration_s"] == 2.0
    assert s["request_throughput"] == pytest.approx(1.0)  # 2 completed in 2 s
    assert s["output_throughput"] == pytest.approx(4.0)  # (5 + 3) / 2
    assert s["total_token_throughput"] == pytest.approx(19.0)  # (10 + 20 + 5 + 3) / 2
    # TPOT = (e2e - ttft) / (out - 1): (1.0 - 0.2) / 4 = 0.2 and (1.5 - 0.5) / 2 = 0.5
    assert s["tpot_s"]["mean"] == pytest.approx(0.35)
    assert s["ttft_s"]["mean"] == pytest.approx(0.35) and s["e2e_latency_s"]["mean"] == pytest.approx(1.25)
    assert s["itl_s"]["p50"] == pytest.approx(0.2) and s["itl_s"]["n"] == 3
    assert s["tokens_source"] == "usage"


def test_percentiles_agree_with_statistics_quantiles():
    rng = random.Random(3)
    values = [rng.lognormvariate(0, 1) for _ in range(501)]
    d = distribution(values)
    ref = statistics.quantiles(values, n=100, method="inclusive")  # linear interpolation, like numpy
    assert d["p50"] == pytest.approx(ref[49]) and d["p90"] == pytest.approx(ref[89])
    assert d["p99"] == pytest.approx(ref[98]) and d["mean"] == pytest.approx(statistics.fmean(values))
    assert distribution([])["p50"] is None


def test_without_usage_tokens_are_estimated_and_said_so():
    run = _hand_level()
    run.results[1].prompt_tokens = run.results[1].output_tokens = None
    run.results[1].prompt_chars = 80
    s = summarize(run)
    assert s["tokens_source"] == "mixed: 1 of 2 estimated"
    assert s["output_tokens"]["mean"] == pytest.approx((5 + 2) / 2)  # the chunks stand in for tokens
    assert s["input_tokens"]["mean"] == pytest.approx((10 + 20) / 2)  # 80 characters / 4
    row = flat_row(s)
    assert row["errors_http_429"] == 1 and row["ttft_s_p99"] == pytest.approx(s["ttft_s"]["p99"])


def test_poisson_arrivals_are_seeded_and_exponential():
    first = [t for _, t in zip(range(3000), poisson_offsets(20.0, seed=5))]
    again = [t for _, t in zip(range(3000), poisson_offsets(20.0, seed=5))]
    assert first == again
    gaps = [b - a for a, b in zip([0.0, *first], first)]
    assert statistics.fmean(gaps) == pytest.approx(1 / 20, rel=0.06)
    assert sps.kstest(gaps, "expon", args=(0, 1 / 20)).pvalue > 0.01


def test_output_budget_fixed_and_sampled():
    assert OutputBudget.parse("128") == OutputBudget(128, 128)
    plan = RequestPlan(["a", "b", "c"], OutputBudget.parse("10:20"), seed=1)
    drawn = [plan.request(i).max_tokens for i in range(400)]
    assert min(drawn) >= 10 and max(drawn) <= 20 and len(set(drawn)) == 11
    assert drawn == [plan.request(i).max_tokens for i in range(400)]  # the same number, the same request
    for bad in ("0", "20:10", "x", "1:2:3"):
        with pytest.raises(ArenaError, match="--max-tokens"):
            OutputBudget.parse(bad)


def test_synthetic_prompts_have_the_asked_length_and_differ():
    prompts = synthetic_prompts(50, 64, seed=0)
    assert all(len(p.split()) == 63 for p in prompts)  # a numbered opening plus 62 one-token words
    assert len(set(prompts)) == 50 and prompts == synthetic_prompts(50, 64, seed=0)
    assert len({p.split()[1] for p in prompts}) > 1  # the words are drawn, not repeated
