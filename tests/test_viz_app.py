"""The Streamlit app on a fixture workspace, page by page, through streamlit.testing (no browser)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from viz_fixture import (
    BENCH,
    HTML_MODEL,
    HTML_QUESTION,
    JUDGES,
    RATING_ORDER,
    RUN1,
    RUN2,
    RUN_PARTIAL,
    RUN_SINGLE,
    build_workspace,
)

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "viz" / "app.py"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture workspace, built once for this module."""
    return build_workspace(tmp_path_factory.mktemp("viz") / "ws")


def open_app(ws: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None, **params: str) -> AppTest:
    """Run the app on a workspace (optionally on a page, with URL query parameters)."""
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if page:
        at.query_params["page"] = page
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def board(ws: Path, run: str = RUN2) -> dict:
    """A run's leaderboard.json."""
    return json.loads((ws / "runs" / run / "leaderboard.json").read_text())


def texts(at: AppTest) -> str:
    """All markdown, caption and info text of the page, joined."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(parts)


def test_leaderboard_models_ratings_bench_and_download(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(workspace, monkeypatch)
    table = at.dataframe[0].value
    assert table["model"].tolist() == RATING_ORDER
    expected = {r["model"]: r for r in board(workspace)["overall"]["table"]}
    for _, row in table.iterrows():
        assert row["rating"] == pytest.approx(expected[row["model"]]["rating"])
        assert row["CI low"] == pytest.approx(expected[row["model"]]["ci_low"])
        assert row["battles"] == expected[row["model"]]["battles"] == 30
    assert table.set_index("model").loc["model-gamma", "bench: gsm8k"] == BENCH["model-gamma"]["gsm8k"]
    assert "mean length (tokens)" in table
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Battles"] == "60" and metrics["Top model"] == "model-gamma"
    assert at.get("download_button") and at.get("plotly_chart")
    assert at.selectbox(key="run").value == RUN2


def test_leaderboard_category_and_judge_filters(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch)
    at.selectbox(key="lb_category").set_value("math").run()
    math = {r["model"]: r["rating"] for r in board(workspace)["categories"]["math"]["table"]}
    shown = at.dataframe[0].value.set_index("model")["rating"].to_dict()
    assert shown == pytest.approx(math)
    at.selectbox(key="lb_category").set_value("All categories")
    at.selectbox(key="lb_judge").set_value(JUDGES[1]).run()
    assert not at.error and not at.exception
    assert {m.label: m.value for m in at.metric}["Battles"] == "30"
    assert at.dataframe[0].value["model"].tolist()[0] == "model-gamma"
    assert "Refitted here" in texts(at)
    at.checkbox(key="lb_style").check().run()
    assert "style-controlled rating" in at.dataframe[0].value


def test_head_to_head_matrices(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "head-to-head")
    charts = at.get("plotly_chart")
    assert len(charts) == 3
    specs = [json.loads(c.proto.spec) for c in charts]
    share = specs[0]["data"][0]
    gamma, beta = share["y"].index("model-gamma"), share["x"].index("model-beta")
    battles = [json.loads(x) for x in (workspace / "runs" / RUN2 / "battles.jsonl").read_text().splitlines()]
    pair = [b for b in battles if {b["model_a"], b["model_b"]} == {"model-gamma", "model-beta"}]
    points = sum(
        1.0
        if b["winner"] == ("model_a" if b["model_a"] == "model-gamma" else "model_b")
        else 0.5
        if b["winner"].startswith("tie")
        else 0.0
        for b in pair
    )
    assert share["z"][gamma][beta] == pytest.approx(points / len(pair))
    assert specs[1]["data"][0]["z"][gamma][beta] == len(pair) == 10
    predicted = at.dataframe[0].value
    matrix = board(workspace)["overall"]["winrate_matrix"]
    i, j = matrix["models"].index("model-alpha"), matrix["models"].index("model-delta")
    assert predicted.loc["model-alpha", "model-delta"] == pytest.approx(matrix["matrix"][i][j], abs=1e-3)


def test_categories_table_and_radar(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "categories")
    table = at.dataframe[0].value
    assert list(table.columns) == ["overall", "coding", "math", "stem", "writing"]
    assert list(table.index) == RATING_ORDER
    assert at.get("plotly_chart")


def test_history_entered_and_changes(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "history")
    text = texts(at)
    assert "**Entered:** model-delta" in text and "**Left:** none" in text
    changes = at.dataframe[0].value.set_index("model")
    old = {r["model"]: r["rating"] for r in board(workspace, RUN1)["overall"]["table"]}
    assert changes.loc["model-alpha", "previous rating"] == pytest.approx(old["model-alpha"])
    assert RUN1 in at.dataframe[1].value.columns


def test_battle_browser_shows_html_as_text_and_steps(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(workspace, monkeypatch, "battles", model=HTML_MODEL, question=HTML_QUESTION)
    text = texts(at)
    assert "&lt;script>alert(1)&lt;/script>" in text and "&lt;img src=x onerror=alert(1)>" in text
    assert "<script>" not in text and "<img" not in text
    assert "\\$5" in text  # dollar signs are not LaTeX
    assert "**Order AB**" in text and "**Order BA**" in text and "Final verdict: [[" in text
    assert "Show a minimal HTML page" in text
    first = at.number_input(key="bt_pos").value
    at.button(key="bt_next").click().run()
    assert at.number_input(key="bt_pos").value == first + 1
    at.toggle(key="bt_raw").set_value(True).run()
    assert any("<script>alert(1)</script>" in c.value for c in at.code)


def test_battle_browser_reference_and_verdict_filter(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(workspace, monkeypatch, "battles", question="q2")
    assert "Reference answer" in [e.label for e in at.expander]
    at.selectbox(key="bt_verdict").set_value("tie").run()
    assert "verdict: **tie**" in texts(at)


def test_judges_page(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "judges")
    table = at.dataframe[0].value.set_index("judge")
    assert table.loc[JUDGES[0], "position_consistency"] == pytest.approx(90.0)
    assert table.loc[JUDGES[1], "position_consistency"] == pytest.approx(75.0)
    assert {m.label: m.value for m in at.metric}["Cost"] == "$2.50"


def test_single_scores_run(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "single-scores", run=RUN_SINGLE)
    summary = at.dataframe[0].value
    assert list(summary.index) == RATING_ORDER
    assert summary.loc["model-gamma", "mean"] == pytest.approx(10.0)
    assert "turn 2" in at.dataframe[1].value.columns
    assert "coding" in at.dataframe[2].value.columns
    lb = open_app(workspace, monkeypatch, run=RUN_SINGLE)
    assert "single-mode run" in texts(lb)


def test_partial_run_and_pages_without_results(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for page in (
        "leaderboard",
        "head-to-head",
        "categories",
        "battles",
        "judges",
        "single-scores",
        "history",
    ):
        at = open_app(workspace, monkeypatch, page, run=RUN_PARTIAL)
        assert at.info or at.dataframe, page
    at = open_app(workspace, monkeypatch, "leaderboard", run=RUN_PARTIAL)
    assert "has answers from 2 model(s) but no judgments yet" in texts(at)


def test_empty_and_missing_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(tmp_path, monkeypatch)
    assert "No runs yet" in texts(at) and "arena run -c configs/cfg_pairwise.yaml --dry-run" in texts(at)
    at = open_app(tmp_path / "nope", monkeypatch, "battles")
    assert "does not exist" in texts(at)


def test_viz_imports_only_files_and_rating_math() -> None:
    allowed = ("arena.errors", "arena.records", "arena.store", "arena.rating", "viz")
    for path in (ROOT / "viz").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            for name in names:
                if name.split(".")[0] in ("arena", "judges", "viz"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"


def test_launch_command_and_no_streamlit_import() -> None:
    code = (
        "import argparse, sys; from viz.launch import register, streamlit_command; "
        "p = argparse.ArgumentParser(); register(p.add_subparsers()); "
        "a = p.parse_args(['viz', 'WS', '--port', '9']); "
        "cmd = streamlit_command(a.workspace, a.port, '127.0.0.1'); "
        "print('streamlit' in sys.modules, a.workspace, a.port, cmd[-6:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.startswith("False WS 9 ")
    assert "'--server.address', '127.0.0.1', '--', '--workspace', 'WS'" in out


def test_escape_keeps_code_and_neutralises_html_and_latex() -> None:
    from viz.render import escape_markdown_html

    text = "```html\n<b>x</b> $1\n```\n<i>y</i> `<c>` costs $5 :red[hi]"
    out = escape_markdown_html(text)
    assert out.startswith("```html\n<b>x</b> $1\n```\n")  # code is shown verbatim by markdown anyway
    assert "&lt;i>y&lt;/i>" in out and "`<c>`" in out and "\\$5" in out and ":red[" not in out
