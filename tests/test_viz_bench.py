"""Objective scores in the app (streamlit.testing): metric names, standard errors, n and dates per task,
perplexity labelled lower-is-better, subject averages, and a model's scores across two real bench runs on the
History page (each run's runs/<id>/bench/<model>.json, written by `arena bench` against the local server)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from openai_server import FakeOpenAI
from streamlit.testing.v1 import AppTest

from arena.bench.configfile import load_bench_config
from arena.bench.runner import run_bench

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"
QUESTIONS = {  # file -> (question, gold 0-based index)
    "college_physics_test.csv": [("Unit of force?", 0), ("Unit of energy?", 1), ("Unit of power?", 2)],
    "philosophy_test.csv": [("Who wrote the Republic?", 0)],
}
WEEK_WRONG = {1: set(), 2: {"Unit of power?"}}  # week 2: one physics item answered wrong
PPL = {"model": "m1", "scores": {"wiki": 12.5}, "n": {"wiki": 6}, "updated": "2025-03-01T00:00:00Z",
       "sources": {"wiki": {"metric": "word_perplexity", "higher_is_better": False, "missing": 0}}}


def _bench(tmp_path: Path, week: int) -> None:
    folder = tmp_path / "mmlu"
    folder.mkdir(exist_ok=True)
    for name, rows in QUESTIONS.items():
        lines = ["question,choice0,choice1,choice2,choice3,answer"]
        lines += [f"{q},a,b,c,d,{gold}" for q, gold in rows]
        (folder / name).write_text("\n".join(lines) + "\n")
    gold = {q: "ABCD"[g] for rows in QUESTIONS.values() for q, g in rows}

    def reply(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        q = next(q for q in gold if q in prompt)
        return "Answer: " + ("D" if q in WEEK_WRONG[week] else gold[q])

    with FakeOpenAI(reply=reply) as srv:
        cfg = {"workspace": str(tmp_path / "ws"), "run_name": f"week{week}",
               "candidates": [{"name": "m1", "backend": "openai", "model": f"fake-w{week}",
                               "base_url": srv.base_url}],
               "bench": {"tasks": [{"name": "mmlu", "path": str(folder)}]}}
        path = tmp_path / f"cfg{week}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        run_bench(*load_bench_config(path), show_progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two weekly bench runs of m1 on a two-subject MMLU folder, plus a perplexity score in m1's file."""
    tmp = tmp_path_factory.mktemp("vizbench")
    _bench(tmp, 1)
    _bench(tmp, 2)
    ws = tmp / "ws"
    merged = json.loads((ws / "bench" / "m1.json").read_text())
    for key in ("scores", "n", "sources"):
        merged[key].update(PPL[key])
    (ws / "bench" / "m1.json").write_text(json.dumps(merged))
    return ws


def _open(ws: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if page:
        at.query_params["page"] = page
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bench_table_names_metrics_stderr_n_and_date(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(workspace, monkeypatch)
    table = at.dataframe[-1].value.set_index("model")
    # week 2: 3 of 4 right; binomial standard error sqrt(.75 * .25 / 4)
    assert table.loc["m1", "mmlu"] == 0.75 and table.loc["m1", "mmlu n"] == 4
    assert table.loc["m1", "mmlu ±"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4), abs=1e-6)
    assert table.loc["m1", "wiki [word_perplexity (lower is better)]"] == 12.5
    assert "wiki" not in table.columns  # perplexity never shown as a bare (accuracy-like) task column
    at.toggle(key="bench_details").set_value(True).run()
    detail = at.dataframe[-1].value
    rows = {(r["task"], r["average / group"]): r for _, r in detail.iterrows()}
    assert rows[("mmlu", "")]["metric"] == "accuracy" and rows[("mmlu", "")]["date"] is not None
    assert rows[("wiki", "")]["metric"] == "word_perplexity (lower is better)"
    macro = rows[("mmlu", "macro (2 subjects)")]
    assert macro["value"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-6)  # mean of the two subjects
    # macro error: sqrt(se_physics^2 + se_philosophy^2) / 2, philosophy 1/1 has error 0
    assert macro["stderr"] == pytest.approx(math.sqrt((2 / 3) * (1 / 3) / 3) / 2, abs=1e-6)
    assert rows[("mmlu", "micro")]["value"] == 0.75
    assert rows[("mmlu", "category stem")]["n"] == 3 and rows[("mmlu", "category humanities")]["value"] == 1.0
    assert rows[("mmlu", "subject college_physics")]["value"] == pytest.approx(2 / 3, abs=1e-6)


def test_history_page_shows_scores_across_bench_runs(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(workspace, monkeypatch, "history")
    table = at.dataframe[-1].value
    mine = table[(table["model"] == "m1") & (table["task"] == "mmlu")]
    assert mine["value"].tolist() == [1.0, 0.75]  # week 1 then week 2, oldest first
    assert mine["stderr"].tolist()[0] == 0.0 and mine["n"].tolist() == [4, 4]
    assert mine["run_id"].str.endswith("-week1").tolist() == [True, False]
    assert "wiki" not in set(table["task"])  # only what the runs themselves scored
    assert at.get("plotly_chart") and at.selectbox(key="bench_hist_task").value == "mmlu"
