"""The Performance page on workspaces written by `arena perf` itself (streamlit.testing, no browser)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_server import FakeOpenAI
from streamlit.testing.v1 import AppTest

from arena.cli import main

APP = Path(__file__).resolve().parents[1] / "viz" / "app.py"


def _open(ws: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["page"] = "performance"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture(scope="module")
def perf_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with no runs and two load tests: a local server (two levels) and the demo."""
    ws = tmp_path_factory.mktemp("perfpage") / "ws"
    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        assert main(["perf", "--no-progress", "--url", srv.base_url, "--model", "fake", "--concurrency", "1,2",
                     "--requests", "4", "--warmup", "0", "--out", str(ws)]) == 0
    assert main(["perf", "--no-progress", "--demo", "--concurrency", "2", "--requests", "3", "--warmup", "0",
                 "--out", str(ws)]) == 0
    return ws


def test_curves_per_candidate_and_the_levels_table(perf_ws: Path, monkeypatch: pytest.MonkeyPatch):
    at = _open(perf_ws, monkeypatch)
    assert at.title[0].value == "Performance"
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    curves = json.loads(charts[0].proto.spec)["data"]
    assert sorted(c["name"] for c in curves)[1].startswith("fake")
    docs = {json.loads(p.read_text())["target"]["name"]: json.loads(p.read_text())
            for p in (perf_ws / "perf").glob("*.json")}
    fake_curve = next(c for c in curves if c["name"].startswith("fake"))
    assert fake_curve["x"] == pytest.approx([lv["output_throughput"] for lv in docs["fake"]["levels"]])
    assert fake_curve["y"] == pytest.approx([1000 * lv["ttft_s"]["p50"] for lv in docs["fake"]["levels"]])
    table = at.dataframe[0].value
    assert len(table) == 3 and set(table["level"]) == {"concurrency 1", "concurrency 2"}
    assert sorted(table["completed"].tolist()) == [3, 4, 4]
    assert any("DEMO" in w.value for w in at.warning)


def test_switching_the_axes_redraws(perf_ws: Path, monkeypatch: pytest.MonkeyPatch):
    at = _open(perf_ws, monkeypatch)
    at.selectbox(key="perf_x").set_value("requests/s").run()
    at.selectbox(key="perf_y").set_value("E2E latency p99 (ms)").run()
    curve = next(c for c in json.loads(at.get("plotly_chart")[0].proto.spec)["data"] if c["name"].startswith("fake"))
    doc = next(json.loads(p.read_text()) for p in (perf_ws / "perf").glob("*-fake.json"))
    assert curve["x"] == pytest.approx([lv["request_throughput"] for lv in doc["levels"]])
    assert curve["y"] == pytest.approx([1000 * lv["e2e_latency_s"]["p99"] for lv in doc["levels"]])


def test_empty_and_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "perf").mkdir()
    at = _open(tmp_path, monkeypatch)
    assert "No load tests yet" in at.info[0].value and "arena perf --demo" in at.info[0].value
    (tmp_path / "perf" / "broken.json").write_text("{not json")
    at = _open(tmp_path, monkeypatch)
    assert "could not be read: broken.json" in at.warning[0].value


def test_serving_figures_on_the_leaderboard_and_performance_pages(tmp_path, questions_file, monkeypatch):
    from conftest import write_config

    with FakeOpenAI(reply=lambda body: "x y z", delay_s=0.01) as srv:
        cands = [{"name": n, "backend": "openai", "model": "fake", "base_url": srv.base_url} for n in ("m-a", "m-b")]
        cfg = write_config(tmp_path, questions_file, cands, judge={"mode": "pairwise", "kind": "dry-run"},
                           rating={"bootstrap": 20})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    ws = tmp_path / "ws"
    (run,) = (ws / "runs").iterdir()
    serving = {m["model"]: m for m in json.loads((run / "serving.json").read_text())["models"]}
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    for page in ("leaderboard", "performance"):
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.query_params["page"] = page
        at.run()
        assert not at.exception and not at.error
        assert "Serving figures" in [s.value for s in at.subheader]
        (table,) = [d.value for d in at.dataframe if "latency p95 (s)" in d.value.columns]
        table = table.set_index("model")
        for name in ("m-a", "m-b"):
            assert table.loc[name, "latency p95 (s)"] == pytest.approx(serving[name]["latency_p95_s"])
            assert table.loc[name, "concurrency"] == 8 and table.loc[name, "error rate (%)"] == 0
        assert any("at concurrency 8" in c.value for c in at.caption)



def test_a_failed_test_is_said_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ws = tmp_path / "ws"
    probe = "Say hello."  # arena perf's probe request: answered, so the test starts; every measured one breaks
    with FakeOpenAI(reply=lambda body: "a b c") as srv:
        srv.fault_for = lambda body: None if body["messages"][-1]["content"] == probe else "error_event"
        code = main(["perf", "--no-progress", "--url", srv.base_url, "--model", "fake", "--concurrency", "1",
                     "--requests", "3", "--warmup", "0", "--out", str(ws)])
    (path,) = (ws / "perf").glob("*.json")
    doc = json.loads(path.read_text())
    assert code == 1 and doc["status"] == "failed"
    at = _open(ws, monkeypatch)
    assert "failed: " in " ".join(w.value for w in at.warning)
