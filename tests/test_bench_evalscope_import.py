"""`arena bench import evalscope`: evalscope report JSON (outputs/<time>/reports/<model>/<dataset>.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.bench.cli import main as bench_main
from arena.bench.evalscope_import import read_evalscope
from arena.errors import DataError

# (category levels, subset, score, num): hand-made numbers; evalscope's metric score is the item-weighted mean
SUBSETS = [(["STEM"], "college_physics", 0.5, 10), (["STEM"], "anatomy", 0.8, 30),
           (["Humanities"], "philosophy", 0.6, 20), (["Summary"], "OVERALL", 0.99, 60, True)]
MICRO = (0.5 * 10 + 0.8 * 30 + 0.6 * 20) / 60           # 0.6833...
MACRO_BY_CATEGORY = ((0.5 * 10 + 0.8 * 30) / 40 + 0.6) / 2  # evalscope's metric macro_score: mean of categories


def _report(model: str, dataset: str, subsets: list, metric: str = "AverageAccuracy") -> dict:
    cats: dict[str, dict] = {}
    for row in subsets:
        levels, name, score, num, *agg = row
        cat = cats.setdefault(levels[0], {"name": levels, "num": 0, "score": 0.0, "macro_score": 0.0, "subsets": []})
        cat["subsets"].append({"name": name, "score": score, "num": num, "is_aggregate": bool(agg)})
    real = [r for r in subsets if len(r) == 4]
    micro = round(sum(r[2] * r[3] for r in real) / sum(r[3] for r in real), 4)
    m = {"name": metric, "num": sum(r[3] for r in real), "score": micro, "macro_score": round(MACRO_BY_CATEGORY, 4),
         "categories": list(cats.values())}
    return {"name": f"{model}@{dataset}", "dataset_name": dataset, "dataset_pretty_name": dataset.upper(),
            "dataset_description": "", "model_name": model, "score": micro, "metrics": [m], "analysis": "N/A",
            "num": m["num"]}


def _outputs(tmp_path: Path) -> Path:
    reports = tmp_path / "outputs" / "20261120_100000" / "reports" / "qwen2.5-7b"
    reports.mkdir(parents=True)
    (reports / "mmlu.json").write_text(json.dumps(_report("qwen2.5-7b", "mmlu", SUBSETS)))
    (reports / "gsm8k.json").write_text(json.dumps(_report("qwen2.5-7b", "gsm8k", [(["default"], "main", 0.75, 8)])))
    (tmp_path / "outputs" / "20261120_100000" / "configs").mkdir()
    (tmp_path / "outputs" / "20261120_100000" / "configs" / "task.json").write_text(json.dumps({"model": "x"}))
    return tmp_path / "outputs"


def test_folder_import_maps_datasets_to_tasks_with_micro_score_and_subsets(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert bench_main(["import", "evalscope", str(_outputs(tmp_path)), "--out", str(ws)]) == 0
    data = json.loads((ws / "bench" / "qwen2.5-7b.json").read_text())
    assert data["scores"] == {"mmlu": pytest.approx(MICRO, abs=1e-4), "gsm8k": 0.75}
    assert data["n"] == {"mmlu": 60, "gsm8k": 8}  # the OVERALL summary row is not counted
    src = data["sources"]["mmlu"]
    assert src["source"] == "evalscope" and src["metric"] == "AverageAccuracy"
    assert src["macro_score"] == pytest.approx(MACRO_BY_CATEGORY, abs=1e-4)
    assert src["categories"]["STEM"] == {"score": pytest.approx(29 / 40), "n": 40}
    assert src["subsets"]["anatomy"] == {"score": 0.8, "n": 30, "category": "STEM"} and "OVERALL" not in src["subsets"]
    assert "qwen2.5-7b: 2 task(s)" in capsys.readouterr().out


def test_options_subtasks_tasks_metric_and_model(tmp_path):
    out = _outputs(tmp_path)
    (res,) = read_evalscope([out], all_subtasks=True, tasks=["mmlu_anatomy", "gsm8k"], model="renamed")
    assert res["model"] == "renamed" and res["scores"] == {"mmlu_anatomy": 0.8, "gsm8k": 0.75}
    assert res["n"]["mmlu_anatomy"] == 30
    with pytest.raises(DataError, match="usable metric 'Pass@1'"):
        read_evalscope([out], metric="Pass@1")
    (res,) = read_evalscope([out], metric="averageaccuracy", tasks=["gsm8k"])
    assert res["scores"] == {"gsm8k": 0.75}


def test_bad_files_are_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"results": {}}))
    assert bench_main(["import", "evalscope", str(bad), "--out", str(tmp_path / "ws")]) == 2
    assert "no 'dataset_name' and 'metrics' list" in capsys.readouterr().err
    broken = _report("m", "arc", [(["c"], "s", 0.5, 4)])
    broken["metrics"][0]["categories"][0]["subsets"][0]["num"] = "four"
    bad.write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"r\.json: subset .* integer 'num'"):
        read_evalscope([bad])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no matching \*.json under this folder .evalscope reports"):
        read_evalscope([empty])
