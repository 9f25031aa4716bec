"""Aggregates of bench results (arena.bench.aggregate): hand-worked per-subject/category, macro/micro numbers,
standard errors, unscored counts, and an MMLU folder run end to end against the local OpenAI-compatible server."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI

from arena.bench.aggregate import add_aggregates, binomial_stderr, sample_stderr
from arena.bench.configfile import load_bench_config
from arena.bench.results import merge, score_rows
from arena.bench.runner import run_bench, score_table

# subject -> item outcomes (1 right, 0 wrong); abstract_algebra and anatomy are MMLU STEM, philosophy humanities
OUTCOMES = {"abstract_algebra": [1, 1, 0, 1], "philosophy": [0, 1], "anatomy": [1, 0, 0, 0, 0, 1]}


def _details() -> tuple[list[dict], dict[str, dict]]:
    details, metas = [], {}
    for subject, marks in OUTCOMES.items():
        for i, mark in enumerate(marks):
            item_id = f"{subject}-{i}"
            details.append({"id": item_id, "correct": bool(mark), "extracted": None if i == 0 and not mark
                            else "A", "expected": "A"})
            metas[item_id] = {"subject": subject}
    return details, metas


def test_subject_category_macro_micro_and_stderr_match_hand_numbers():
    details, metas = _details()
    result = {"model": "m", "scores": {"mmlu": 0.5}, "n": {"mmlu": 12}, "details": {"mmlu": details},
              "sources": {"mmlu": {"missing": 2, "rejected": 1}}}
    add_aggregates(result, {"mmlu": metas})
    agg = result["aggregates"]["mmlu"]
    # micro: 6 right of 12 items; binomial error sqrt(.5 * .5 / 12)
    assert agg["micro"] == {"score": 0.5, "stderr": pytest.approx(0.144338, abs=1e-6), "n": 12}
    assert result["stderr"]["mmlu"] == pytest.approx(0.144338, abs=1e-6)  # filled in for the accuracy task
    subj = agg["subjects"]
    assert subj["abstract_algebra"] == {"score": 0.75, "stderr": pytest.approx(math.sqrt(.75 * .25 / 4), abs=1e-6),
                                        "n": 4, "category": "stem"}
    assert subj["philosophy"]["score"] == 0.5 and subj["philosophy"]["category"] == "humanities"
    assert subj["anatomy"]["score"] == pytest.approx(1 / 3, abs=1e-6)
    # macro: (0.75 + 0.5 + 1/3) / 3 = 0.527778; error sqrt(0.046875 + 0.125 + 0.037037) / 3 = 0.152356
    assert agg["macro"]["score"] == pytest.approx(0.527778, abs=1e-6)
    assert agg["macro"]["stderr"] == pytest.approx(0.152356, abs=1e-6) and agg["macro"]["groups"] == 3
    # stem: 5 right of 10 items (micro); its subjects' mean (0.75 + 1/3) / 2
    stem = agg["categories"]["stem"]
    assert stem["score"] == 0.5 and stem["n"] == 10 and stem["subjects"] == 2
    assert stem["macro"] == pytest.approx(0.541667, abs=1e-6)
    assert agg["categories"]["humanities"]["n"] == 2
    assert agg["macro_categories"]["score"] == pytest.approx(0.5)
    assert (agg["missing"], agg["rejected"], agg["unparsed"]) == (2, 1, 1)  # philosophy-0 had no answer letter


def test_a_task_with_its_own_stderr_keeps_its_rule_in_micro_and_subjects():
    """Log-likelihood tasks report sample SD / sqrt(n) (lm-eval's rule); their micro row covers the same items
    and must show the same error (before: sqrt(p(1-p)/n), a different number for the same items)."""
    details, metas = _details()
    accs = [1.0 if d.get("correct") else 0.0 for d in details]
    ll = [{"id": d["id"], "acc": a} for d, a in zip(details, accs)]
    n, p = len(accs), sum(accs) / len(accs)
    sample = math.sqrt(sum((a - p) ** 2 for a in accs) / (n - 1) / n)
    result = {"model": "m", "scores": {"arc": p}, "n": {"arc": n}, "details": {"arc": ll},
              "stderr": {"arc": sample}, "sources": {"arc": {"metric": "acc"}}}
    add_aggregates(result, {"arc": metas})
    agg = result["aggregates"]["arc"]
    assert agg["micro"]["stderr"] == pytest.approx(sample, abs=1e-6) == agg["stderr"]
    algebra = [a for d, a in zip(details, accs) if metas[d["id"]].get("subject") == "abstract_algebra"]
    q = sum(algebra) / len(algebra)
    want = math.sqrt(sum((a - q) ** 2 for a in algebra) / (len(algebra) - 1) / len(algebra))
    assert agg["subjects"]["abstract_algebra"]["stderr"] == pytest.approx(want, abs=1e-6)


def test_stderr_helpers_against_textbook_formulas():
    assert binomial_stderr(0.3, 50) == pytest.approx(math.sqrt(0.21 / 50))
    assert binomial_stderr(0.5, 0) is None
    values = [0.2, 0.4, 0.9, 0.5]
    import statistics
    assert sample_stderr(values) == pytest.approx(statistics.stdev(values) / 2)
    assert sample_stderr([1.0]) is None


def test_mean_metric_subjects_use_sample_error_and_corpus_metrics_get_no_breakdown():
    details = [{"id": str(i), "metrics": {"rougeL": v, "bleu_corpus": 10.0}} for i, v in enumerate([0.2, 0.4, 0.9])]
    metas = {"0": {"subject": "a", "category": "x"}, "1": {"subject": "a", "category": "x"},
             "2": {"subject": "b", "category": "y"}}
    res = {"scores": {"t": 0.5}, "details": {"t": details}, "sources": {"t": {"metric": "rougeL"}}}
    agg = add_aggregates(res, {"t": metas})["aggregates"]["t"]
    assert agg["subjects"]["a"]["score"] == pytest.approx(0.3)
    assert agg["subjects"]["a"]["stderr"] == pytest.approx(0.1)  # sd 0.141421 / sqrt 2
    assert agg["subjects"]["b"]["stderr"] is None and agg["categories"]["y"]["n"] == 1
    corpus = {"scores": {"t": 10.0}, "details": {"t": details}, "sources": {"t": {"metric": "bleu_corpus"}}}
    agg = add_aggregates(corpus, {"t": metas})["aggregates"]["t"]
    assert "subjects" not in agg and agg["stderr"] is None and "t" not in corpus.get("stderr", {})


def test_old_files_still_read_and_merge_keeps_aggregates_per_task():
    old = {"model": "m", "scores": {"mmlu": 0.6}, "n": {"mmlu": 10}}
    rows = score_rows(old)
    assert rows == [{"model": "m", "task": "mmlu", "metric": "accuracy", "higher_is_better": True, "updated": None,
                     "group": "", "value": 0.6, "stderr": None, "n": 10, "missing": None, "unparsed": None,
                     "unscored": None, "kept": None, "demo": False, "limit": None}]
    merged = merge({**old, "aggregates": {"mmlu": {"n": 10}}}, {"model": "m", "scores": {"gsm": 0.5},
                                                                 "aggregates": {"gsm": {"n": 4}}})
    assert set(merged["aggregates"]) == {"mmlu", "gsm"}


SUBJECT_ROWS = {  # subject file -> rows (question, 4 options, 0-based answer), and the letter the model replies
    "college_physics_test.csv": [("Unit of force?", ["newton", "joule", "watt", "volt"], 0, "A"),
                                 ("Unit of energy?", ["newton", "joule", "watt", "volt"], 1, "C"),
                                 ("Unit of power?", ["newton", "joule", "watt", "volt"], 2, "C")],
    "philosophy_test.csv": [("Who wrote the Republic?", ["Plato", "Kant", "Hume", "Mill"], 0, "A")],
}


def _reply(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    for rows in SUBJECT_ROWS.values():
        for q, _, _, letter in rows:
            if q in prompt:
                return f"Answer: {letter}"
    return "no idea"


def test_mmlu_folder_run_writes_aggregates_and_table(tmp_path: Path):
    folder = tmp_path / "mmlu"
    folder.mkdir()
    for name, rows in SUBJECT_ROWS.items():
        lines = ["question,choice0,choice1,choice2,choice3,answer"]
        lines += [",".join([q, *opts, str(ans)]) for q, opts, ans, _ in rows]
        (folder / name).write_text("\n".join(lines) + "\n")
    with FakeOpenAI(reply=_reply) as srv:
        cfg = {"workspace": str(tmp_path / "ws"),
               "candidates": [{"name": "m1", "backend": "openai", "model": "fake", "base_url": srv.base_url}],
               "bench": {"tasks": [{"name": "mmlu", "path": str(folder)}]}}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        out = run_bench(*load_bench_config(path), show_progress=False, log=lambda s: None)
    saved = json.loads((tmp_path / "ws" / "bench" / "m1.json").read_text())
    agg = saved["aggregates"]["mmlu"]
    assert saved["scores"]["mmlu"] == 0.75 and saved["stderr"]["mmlu"] == pytest.approx(math.sqrt(.75 * .25 / 4), abs=1e-6)
    assert agg["subjects"]["college_physics"]["score"] == pytest.approx(2 / 3, abs=1e-6)
    assert agg["macro"]["score"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-6) and agg["micro"]["score"] == 0.75
    assert set(agg["categories"]) == {"stem", "humanities"}
    table = score_table(out)
    assert "mmlu: macro (2 subjects)" in table and "mmlu: category stem" in table
    line = next(x for x in table.splitlines() if x.startswith("m1") and " mmlu " in x)
    assert "accuracy" in line and "0.7500" in line and "0.2165" in line


def test_cli_table_labels_perplexity_and_reads_old_results():
    from arena.bench.runner import BenchOutcome
    ppl = {"model": "m", "scores": {"wiki": 22.41907}, "n": {"wiki": 6}, "updated": "2026-01-05T10:00:00Z",
           "sources": {"wiki": {"metric": "word_perplexity", "higher_is_better": False, "missing": 1}}}
    old = {"model": "old", "scores": {"gsm8k": 0.5}, "n": {"gsm8k": 8}}  # a file from before aggregates
    table = score_table(BenchOutcome(run=None, tasks=[], results={"m": ppl, "old": old}))  # type: ignore[arg-type]
    lines = table.splitlines()
    assert lines[0].split() == ["model", "task", "metric", "value", "stderr", "n", "missing", "unparsed", "date",
                                "note"]
    assert lines[2].split() == ["m", "wiki", "word_perplexity", "(lower", "is", "better)", "22.4191", "-", "6", "1",
                                "-", "2026-01-05"]
    assert lines[3].split() == ["old", "gsm8k", "accuracy", "0.5000", "-", "8", "-", "-", "-"]
    assert "accuracy" not in lines[2]


def test_imported_evalscope_breakdown_shows_micro_macro_and_categories():
    from arena.bench.evalscope_import import parse_report
    report = {"model_name": "qwen", "dataset_name": "mmlu", "score": 0.6, "metrics": [{
        "name": "AverageAccuracy", "num": 10, "score": 0.6, "macro_score": 0.625, "categories": [
            {"name": ["STEM"], "num": 6, "score": 0.5, "macro_score": 0.5,
             "subsets": [{"name": "college_physics", "score": 0.5, "num": 6}]},
            {"name": ["Humanities"], "num": 4, "score": 0.75, "macro_score": 0.75,
             "subsets": [{"name": "philosophy", "score": 0.75, "num": 4}]}]}]}
    rows = {r["group"]: r for r in score_rows(parse_report(report, "r.json"))}
    assert rows[""]["value"] == 0.6 and rows[""]["metric"] == "AverageAccuracy"
    assert rows["micro"]["value"] == 0.6 and rows["micro"]["n"] == 10
    assert rows["macro (2 subjects)"]["value"] == 0.625  # (0.5 + 0.75) / 2
    assert {k: v["value"] for k, v in rows.items() if k.startswith("category")} == {
        "category STEM": 0.5, "category Humanities": 0.75}
