"""Malformed lm-eval and evalscope result files are one-line errors naming the file and the field (exit 2),
never another exception; lm-eval metric names lose the default ',none' filter in column names."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bench_evalscope_import import _report
from test_bench_import import RESULTS

from arena.bench.cli import main as bench_main
from arena.bench.evalscope_import import parse_report
from arena.bench.lmeval import parse_results
from arena.errors import ArenaError


@pytest.mark.parametrize("data, field", [
    ({"results": 5}, "results"),
    ({"results": {"arc": {"acc,none": 0.5}}, "n-shot": [1]}, "n-shot"),
    ({"results": {"arc": {"acc,none": 0.5}}, "groups": [1]}, "groups"),
    ({"results": {"arc": {"acc,none": 0.5}}, "n-samples": {"arc": 3}, "model_name": "q"}, None),
    ({"results": {"arc": {"acc,none": 0.5}}, "n-samples": [1]}, "n-samples"),
    ({"results": {"arc": {"acc,none": 0.5}}, "group_subtasks": 7}, "group_subtasks"),
    ({"results": {"arc": {"acc,none": 0.5}}, "config": [1]}, "config"),
])
def test_malformed_lm_eval_files_exit_2_naming_file_and_field(tmp_path, capsys, data, field):
    f = tmp_path / "bad_lm.json"
    f.write_text(json.dumps(data))
    args = ["import", "lm-eval", str(f), "--out", str(tmp_path / "ws")]
    rc = bench_main(args if field in (None, "config") else [*args, "--model", "mm"])
    err = capsys.readouterr().err
    if field is None:
        assert rc == 0, err  # a count that is not an object is only left out
        return
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and str(f) in lines[0] and f"'{field}'" in lines[0], err
    assert "unexpected" not in err and "Traceback" not in err


@pytest.mark.parametrize("metric, field", [
    ({"name": "acc", "score": 0.5, "num": 3, "categories": 5}, "metrics[0].categories"),
    ({"name": "acc", "score": 0.5, "num": 3, "categories": [{"name": "c", "subsets": 5}]},
     "metrics[0].categories[0].subsets"),
    ({"name": "acc", "score": 0.5, "num": 3, "categories": [5]}, "metrics[0].categories[0]"),
])
def test_malformed_evalscope_reports_exit_2_naming_file_and_field(tmp_path, capsys, metric, field):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"model_name": "q", "dataset_name": "d", "metrics": [metric]}))
    assert bench_main(["import", "evalscope", str(f), "--out", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and str(f) in lines[0] and field in lines[0], err


LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
JSON = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)
KEYS = st.sampled_from(["results", "groups", "group_subtasks", "n-samples", "n-shot", "config", "model_name",
                        "lm_eval_version"])
METRIC_KEYS = st.sampled_from(["acc,none", "acc_stderr,none", "exact_match,strict-match", "alias", "acc"])
TASK = st.dictionaries(METRIC_KEYS, JSON | st.floats(0, 1), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.dictionaries(KEYS, JSON, max_size=6), results=st.one_of(JSON, st.dictionaries(
    st.sampled_from(["arc", "mmlu", "mmlu_x"]), JSON | TASK, max_size=3)), tasks=st.none() | st.just(["arc"]))
def test_any_json_shape_is_parsed_or_a_clear_error_lm_eval(base, results, tasks):
    data = {**base, "results": results}
    try:
        out = parse_results(data, "f.json", tasks=tasks, all_subtasks=False)
    except ArenaError as exc:
        assert "f.json" in str(exc)
        return
    assert out["scores"] and all(isinstance(v, float) for v in out["scores"].values())
    json.dumps(out, allow_nan=False)  # what write_bench stores is plain JSON


SCORE = st.floats(0, 1) | JSON  # mostly usable numbers, so the parser gets past its first checks
SUB = st.fixed_dictionaries({"score": SCORE, "num": st.integers(0, 9) | JSON}, optional={"name": JSON,
                                                                                        "is_aggregate": JSON})
CAT = st.fixed_dictionaries({"subsets": st.lists(SUB, max_size=3) | JSON}, optional={"name": JSON})
METRIC = st.fixed_dictionaries({"score": SCORE, "categories": st.lists(CAT | JSON, max_size=3) | JSON},
                               optional={"name": JSON, "num": JSON, "macro_score": SCORE})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metrics=st.lists(METRIC | JSON, max_size=3) | JSON, name=st.just("q") | JSON,
       dataset=st.just("d") | JSON, pretty=JSON, all_subtasks=st.booleans(), given_model=st.booleans())
def test_any_json_shape_is_parsed_or_a_clear_error_evalscope(metrics, name, dataset, pretty, all_subtasks,
                                                              given_model):
    data = {"model_name": name, "dataset_name": dataset, "dataset_pretty_name": pretty, "metrics": metrics}
    try:
        out = parse_report(data, "r.json", model="m" if given_model else None, all_subtasks=all_subtasks)
    except ArenaError as exc:
        assert "r.json" in str(exc)
        return
    assert all(isinstance(v, float) for v in out["scores"].values())
    json.dumps(out, allow_nan=False)


def test_good_files_still_import_unchanged(tmp_path):
    """The shapes the importers were written for still read (guards the new checks against over-reach)."""
    out = parse_results(RESULTS, "r.json")
    assert out["scores"] == {"arc_challenge": 0.52, "gsm8k": 0.71, "mmlu": 0.68}
    rep = parse_report(_report("q", "mmlu", [(["STEM"], "a", 0.5, 10)]), "e.json")
    assert rep["scores"] == {"mmlu": 0.5}


def test_lm_eval_columns_drop_the_default_filter_and_keep_others_without_a_comma(tmp_path):
    from arena.board_columns import objective_section

    f = tmp_path / "results_2026-11-20.json"
    f.write_text(json.dumps(RESULTS))
    ws = tmp_path / "ws"
    assert bench_main(["import", "lm-eval", str(f), "--out", str(ws)]) == 0
    model = "Qwen/Qwen2.5-7B-Instruct"
    saved = json.loads((ws / "bench" / "Qwen__Qwen2.5-7B-Instruct.json").read_text())
    assert saved["sources"]["arc_challenge"]["metric"] == "acc"
    assert saved["sources"]["arc_challenge"]["lm_eval_key"] == "acc,none"
    assert saved["sources"]["gsm8k"]["metric"] == "exact_match@strict-match"
    cols = objective_section(ws, [model])["columns"]
    assert "bench:arc_challenge:acc" in cols and "bench:gsm8k:exact_match@strict-match" in cols
    assert not any("," in c for c in cols)
    # a file imported before this change (metric stored as 'acc,none') gets the same column
    mmlu = {**saved["sources"]["mmlu"], "metric": "acc,none"}
    old = {**saved, "sources": {**saved["sources"], "mmlu": mmlu}}
    (ws / "bench" / "Qwen__Qwen2.5-7B-Instruct.json").write_text(json.dumps(old))
    cols = objective_section(ws, [model])["columns"]
    assert "bench:mmlu:acc" in cols and not any("," in c for c in cols)
