"""The Streamlit app on a fixture workspace, page by page, through streamlit.testing (no browser)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from viz_fixture import (
    BENCH,
    CODE_MODEL,
    CUT_TURNS,
    CODE_QUESTION,
    ERROR_TEXT,
    HTML_MODEL,
    HTML_QUESTION,
    JUDGES,
    NEWCOMER,
    PANEL,
    RATING_ORDER,
    RUN1,
    RUN2,
    RUN_DRY,
    RUN_MANY,
    RUN_PANEL,
    RUN_PARTIAL,
    RUN_SINGLE,
    RUN_TIED,
    build_bench_workspace,
    build_many_models_workspace,
    build_tied_workspace,
    build_workspace,
)

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "viz" / "app.py"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture workspace, built once for this module."""
    return build_workspace(tmp_path_factory.mktemp("viz") / "ws")


def open_app(
    ws: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None, errors_ok: bool = False, **params: str
) -> AppTest:
    """Run the app on a workspace (optionally on a page, with URL query parameters)."""
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if page:
        at.query_params["page"] = page
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert errors_ok or not at.error, [e.value for e in at.error]
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
    first = [r["model"] for r in board(workspace)["overall"]["table"] if r["rank"] == 1]
    assert metrics["Battles"] == "60" and sorted(first) == ["model-alpha", "model-gamma"]
    assert metrics["Top model"] == "2-way tie"  # their intervals overlap: no single winner
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


def test_head_to_head_with_many_models_shows_the_best_thirty_or_the_models_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """45 models: the matrices show the best 30 by default (a 1000-model page drew three million-cell heatmaps,
    15 s per load), more on request, or a chosen set; the predicted matrix comes from the ratings."""
    from arena.rating.bt import win_probability

    ws, _ = build_many_models_workspace(tmp_path / "ws")
    table = board(ws, RUN_MANY)["overall"]["table"]
    best_first = [r["model"] for r in table]
    at = open_app(ws, monkeypatch, "head-to-head", run=RUN_MANY)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 3 and all(s["data"][0]["x"] == best_first[:30] for s in specs)
    assert "The matrices show the best 30 of 45 models" in texts(at)
    at.number_input(key="h2h_top").set_value(40).run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert all(s["data"][0]["y"] == best_first[:40] for s in specs)
    at.multiselect(key="h2h_pick").set_value(["m044", "m000", "m020"]).run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    picked = [m for m in best_first if m in {"m044", "m000", "m020"}]
    assert all(s["data"][0]["x"] == picked for s in specs)
    predicted = at.dataframe[0].value
    rating = {r["model"]: r["rating"] for r in table}
    assert predicted.loc["m000", "m044"] == pytest.approx(
        float(win_probability(rating["m000"], rating["m044"])), abs=1e-3)
    assert predicted.loc["m000", "m044"] > 0.5  # m000 beat its neighbours, m044 lost to m000 and m001
    (ws / "runs" / RUN_MANY / "leaderboard.json").unlink()  # no ranking: the first 30 by name, and it says so
    at = open_app(ws, monkeypatch, "head-to-head", run=RUN_MANY)
    assert "The matrices show the first 30 (alphabetically; no leaderboard to rank them) of 45" in texts(at)
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"] == sorted(best_first)[:30]


def test_categories_table_and_radar(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "categories")
    table = at.dataframe[0].value
    assert list(table.columns) == ["overall", "coding", "math", "stem", "writing"]
    assert list(table.index) == RATING_ORDER
    assert at.get("plotly_chart")
    at.toggle(key="cat_detail").set_value(True).run()
    cells = at.dataframe[0].value
    assert list(cells.columns) == list(table.columns) and list(cells.index) == RATING_ORDER
    math = {r["model"]: r for r in board(workspace)["categories"]["math"]["table"]}
    for model, row in math.items():  # each cell: the rating, its interval and its battles, from the file
        interval = f" [{row['ci_low']:.0f}, {row['ci_high']:.0f}]" if row.get("ci_low") is not None else ""
        assert cells.loc[model, "math"] == f"{row['rating']:.1f}{interval} n={row['battles']}"
    assert any("[" in c for c in cells["math"])  # the fixture's math cells have intervals


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


def test_battle_verdict_filter_speaks_of_the_chosen_model(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a model chosen, "wins" / "loses" mean that model's result on either side (before: only "model A
    wins", the side in the file, which mixes the model's wins with its losses)."""
    rows = [json.loads(line) for line in (workspace / "runs" / RUN2 / "battles.jsonl").read_text().splitlines()]
    model = "model-alpha"
    mine = [r for r in rows if model in (r["model_a"], r["model_b"])]
    won = [r for r in mine if r["winner"] in ("model_a", "model_b") and r[r["winner"]] == model]
    lost = [r for r in mine if r["winner"] in ("model_a", "model_b") and r[r["winner"]] != model]
    assert won and lost and any(r["model_b"] == model for r in won)  # the fixture has both, on both sides
    at = open_app(workspace, monkeypatch, "battles", run=RUN2, model=model)
    box = at.selectbox(key="bt_verdict")
    assert box.options[1:3] == [f"{model} wins", f"{model} loses"]
    for choice, want in (("won", won), ("lost", lost)):
        at.selectbox(key="bt_verdict").set_value(choice).run()
        assert at.number_input(key="bt_pos").label == f"Battle (of {len(want):,})"
        assert f"verdict: **{model}**" in texts(at) if choice == "won" else f"verdict: **{model}**" not in texts(at)
    at.selectbox(key="bt_model_a").set_value("(any)").run()  # back to sides: the model's choice is cleared
    assert at.selectbox(key="bt_verdict").value == "(any)" and "model A wins" in at.selectbox(key="bt_verdict").options


def test_battle_filters_are_kept_in_the_address(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The address says what the browser shows, so a copied link opens the same battle; other pages drop it."""
    at = open_app(workspace, monkeypatch, "battles", run=RUN2)
    at.selectbox(key="bt_model_a").set_value("model-alpha").run()
    at.selectbox(key="bt_verdict").set_value("lost").run()
    at.button(key="bt_next").click().run()
    params = {k: at.query_params[k] for k in at.query_params}
    assert {k: params.get(k) for k in ("model", "verdict", "battle")} == {
        "model": "model-alpha", "verdict": "lost", "battle": "2"}
    shown = texts(at)
    link = open_app(workspace, monkeypatch, "battles", run=RUN2,
                    **{k: v for k, v in params.items() if k not in ("page", "run")})
    assert link.number_input(key="bt_pos").value == 2 and link.selectbox(key="bt_verdict").value == "lost"
    assert texts(link) == shown  # the same battle, filters and all
    at.sidebar.radio(key="page").set_value("Leaderboard").run()
    assert "model" not in at.query_params and "battle" not in at.query_params


def test_judges_page(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "judges")
    table = at.dataframe[0].value.set_index("judge")
    assert table.loc[JUDGES[0], "position_consistency"] == pytest.approx(90.0)
    assert table.loc[JUDGES[1], "position_consistency"] == pytest.approx(75.0)
    tiles = {m.label.split(",")[0]: m.value for m in at.metric}
    assert tiles["Cost"] == "$2.5000"  # "Cost, all N judgments used": both judges' cost_usd
    assert tiles["Cost of this run's calls"] == "n/a"  # this run.json records no judge stage


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
    allowed = ("arena.errors", "arena.records", "arena.store", "arena.run_status", "arena.rating", "arena.human",
               "arena.bench.results", "arena.compare", "arena.reasoning", "viz")  # bench.results: the
    # bench/<model>.json file format (layer 1); arena.compare: comparison math and report writers on run files (no
    # model, no backend); arena.reasoning: an answer as judges read it (text only)
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
        "cmd = streamlit_command(a.workspace, a.port, a.host); "
        "print('streamlit' in sys.modules, a.workspace, a.port, cmd[-8:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.startswith("False WS 9 ")
    # local only by default; browser.serverAddress keeps Streamlit from looking up an external address
    assert ("'--server.address', '127.0.0.1', '--browser.serverAddress', '127.0.0.1', '--', '--workspace', 'WS'"
            in out)
    helptext = subprocess.run(
        [sys.executable, "-m", "arena.cli", "viz", "--help"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert "--host 0.0.0.0 shares" in " ".join(helptext.split())


def test_escape_keeps_code_and_neutralises_html_and_latex() -> None:
    from viz.render import escape_markdown_html

    text = "```html\n<b>x</b> $1\n```\n<i>y</i> `<c>` costs $5 :red[hi]"
    out = escape_markdown_html(text)
    assert out.startswith("```html\n<b>x</b> $1\n```\n")  # code is shown verbatim by markdown anyway
    assert "&lt;i>y&lt;/i>" in out and "`<c>`" in out and "\\$5" in out and ":red[" not in out


def unescaped_dollars(text: str) -> list[int]:
    """Positions of `$` preceded by an even number of backslashes (LaTeX for Streamlit)."""
    out = []
    for i, char in enumerate(text):
        if char == "$":
            j = i
            while j > 0 and text[j - 1] == "\\":
                j -= 1
            if (i - j) % 2 == 0:
                out.append(i)
    return out


def test_escape_leaves_nested_code_verbatim() -> None:
    from viz.render import escape_markdown_html
    from viz_fixture import CODE_ANSWER

    out = escape_markdown_html(CODE_ANSWER)
    for code in (
        "  if a < b and cost == '$x':",  # fence in a list item
        ">     while i < n: total += '$y'",  # indented code in a blockquote
        "    if (x < 10) { echo '$z'; }",  # indented code block
        "`a < b`",
        "`'$w'`",
    ):
        assert code in out.split("\n") or code in out, code
    assert "&lt;" not in out.replace("&lt;ok", "")  # nothing outside code had a `<`
    prose = out.split("\n")[-1]
    assert "!\\[pixel]" in prose and "![" not in prose
    assert unescaped_dollars(prose.replace("`'$w'`", "")) == []


def test_escape_backslash_dollar_images_and_fallback() -> None:
    from viz.render import escape_markdown_html

    out = escape_markdown_html("a \\$x$ b \\\\$y$ ![t](http://h/p.png) ![r][ref]\n\n[ref]: http://h/q.png")
    assert unescaped_dollars(out) == [] and "![" not in out
    tricky = escape_markdown_html("<!-- ` -->\n`<script>`")  # escaping `<` changes where code starts
    assert "<" not in tricky
    html_block = escape_markdown_html("<div>\n<script>alert(1)</script>\n</div>")
    assert "<" not in html_block


def test_battle_page_shows_code_answer_verbatim(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "battles", model=CODE_MODEL, question=CODE_QUESTION)
    answer = next(m.value for m in at.markdown if "Here is the check" in m.value)
    assert "  if a < b and cost == '$x':" in answer and "    if (x < 10) { echo '$z'; }" in answer
    assert "&lt;" not in answer and "\\$x" not in answer


def test_panel_battle_groups_judges_and_escapes_errors(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(workspace, monkeypatch, "battles", errors_ok=True, run=RUN_PANEL, question="q4")
    text = texts(at)
    assert f"#### Judge {JUDGES[0]}" in text and f"#### Judge {JUDGES[1]}" in text
    assert text.count("**Order AB**") == 2 and text.count("**Order BA**") == 2
    assert [e.value for e in at.error] == [
        "Judge call failed: timeout &lt;img src=x onerror=alert(2)> after \\$3\\$ tries"
    ]
    assert any(e.label.startswith("Show all (25,600 characters") for e in at.expander)
    assert "Cut at 20,000 of 25,600 characters" in text
    header = at.warning[0].value
    assert header.startswith("2 error(s) recorded") and "&lt;img" in header and ERROR_TEXT not in header


def test_panel_judge_filter_refits_from_member_battles(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(workspace, monkeypatch, run=RUN_PANEL)
    at.selectbox(key="lb_judge").set_value(JUDGES[1]).run()
    assert not [w.value for w in at.warning if "No leaderboard" in w.value]
    member = workspace / "runs" / RUN_PANEL / "judges" / JUDGES[1] / "battles.jsonl"
    assert {m.label: m.value for m in at.metric}["Battles"] == str(len(member.read_text().splitlines()))
    assert set(at.dataframe[0].value["model"]) == {"model-alpha", "model-beta", "model-gamma"}
    assert PANEL not in at.selectbox(key="lb_judge").options


def test_history_series_and_dry_runs(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(workspace, monkeypatch, "history")
    assert at.selectbox(key="hist_series").value == "weekly · pairwise · gpt-4o-judge"
    assert list(at.dataframe[1].value.columns) == [RUN1, RUN2]
    assert not at.warning
    at.checkbox(key="hist_dry").check().run()
    assert list(at.dataframe[1].value.columns) == [RUN1, RUN_DRY, RUN2]
    assert f"Dry runs (random verdicts): {RUN_DRY}" in texts(at)
    at.selectbox(key="hist_series").set_value("panel · pairwise · " + PANEL).run()
    assert list(at.dataframe[1].value.columns) == [RUN_PANEL]
    assert "first run of this series" in texts(at)
    # the sidebar run changes: the page follows its series and names it as 'now'
    at.selectbox(key="run").set_value(RUN1).run()
    assert at.selectbox(key="hist_series").value == "weekly · pairwise · gpt-4o-judge"
    assert [h.value for h in at.subheader] == [f"Changes in `{RUN1}`"]
    at.selectbox(key="run").set_value(RUN_PANEL).run()
    assert at.selectbox(key="hist_series").value == "panel · pairwise · " + PANEL
    assert [h.value for h in at.subheader] == [f"Changes in `{RUN_PANEL}`"]


def test_normalisation_warning_dry_warning_and_judge_name(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    lb_path = ws / "runs" / RUN1 / "leaderboard.json"
    lb = json.loads(lb_path.read_text())
    lb["options"]["anchor"] = ["model-alpha", 1000]
    lb_path.write_text(json.dumps(lb))
    stats_path = ws / "runs" / RUN1 / "judge_stats.json"
    stats_path.write_text(json.dumps({"judge <b>$x$</b>": json.loads(stats_path.read_text())[JUDGES[0]]}))
    partial = ws / "runs" / RUN_PARTIAL / "run.json"
    partial.write_text(partial.read_text().replace('"dry_run": false', '"dry_run": true'))
    at = open_app(ws, monkeypatch, "history")
    assert "normalised differently" in at.warning[0].value
    at.selectbox(key="hist_series").set_value("panel · pairwise · " + PANEL).run()
    assert not at.warning
    at = open_app(ws, monkeypatch, run=RUN1)
    assert "Judge: **judge &lt;b>\\$x\\$&lt;/b>**" in texts(at)
    assert not any("Dry run" in w.value for w in open_app(ws, monkeypatch, run=RUN_PARTIAL).warning)
    assert any("Dry run" in w.value for w in open_app(ws, monkeypatch, run=RUN_DRY).warning)


def test_bench_only_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = build_bench_workspace(tmp_path / "ws")
    at = open_app(ws, monkeypatch)
    table = at.dataframe[-1].value.set_index("model")
    assert table.loc["model-gamma", "gsm8k"] == BENCH["model-gamma"]["gsm8k"]
    assert table.loc["model-alpha", "mmlu n"] == 20 and table.loc["model-alpha", "updated"].startswith("2025-02")
    text = texts(at)
    assert "objective-benchmark run" in text and "Judge it by" not in text
    assert "1 error(s) recorded in run.json; the first: rejected: &lt;b>line 3&lt;/b>" in text
    (ws / "runs" / "20250201-000000-bench" / "run.json").unlink()
    at = open_app(ws, monkeypatch)
    assert "No runs yet" in texts(at) and at.dataframe[-1].value["model"].tolist()


def test_bench_columns_only_with_values(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = open_app(workspace, monkeypatch).dataframe[0].value
    assert "bench: gsm8k" in table and "bench: humaneval" not in table


def test_messages_grammar_and_judges_chart(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = texts(open_app(workspace, monkeypatch, "battles", run=RUN_PARTIAL))
    assert "so it has no battles" in text and "there is no" not in text
    spec = json.loads(open_app(workspace, monkeypatch, "judges").get("plotly_chart")[0].proto.spec)
    assert not spec["layout"].get("shapes")


def test_list_runs_skips_temp_files_and_vanishing_entries(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from viz import data

    ws = tmp_path / "ws"
    shutil.copytree(workspace / "runs" / RUN1, ws / "runs" / RUN1)
    (ws / "runs" / RUN1 / ".run.json.tmp-123").write_text("{")
    real = os.scandir

    class Gone:
        """A directory entry whose file was renamed away between scandir and stat."""

        name = "battles.jsonl.tmp"

        def is_file(self) -> bool:
            return True

        def is_dir(self) -> bool:
            return False

        def stat(self) -> os.stat_result:
            raise FileNotFoundError(self.name)

    class Listing(list):
        """scandir result with a vanished entry, usable as a context manager."""

        def __enter__(self) -> Listing:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def scandir(path: str) -> Listing:
        return Listing([*real(path), Gone()])

    monkeypatch.setattr(data.os, "scandir", scandir)
    runs = data.list_runs(ws)
    assert [r.run_id for r in runs] == [RUN1]
    assert not any(f.startswith(".") or f.endswith(".tmp") for f in runs[0].files)


def test_leaderboard_shows_a_shared_rank_1_and_flags_low_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = build_tied_workspace(tmp_path / "ws")
    rows = board(ws, RUN_TIED)["overall"]["table"]
    first = [r["model"] for r in sorted(rows, key=lambda r: (-r["rating"], r["model"])) if r["rank"] == 1]
    assert len(first) >= 4
    at = open_app(ws, monkeypatch)
    assert {m.label: m.value for m in at.metric}["Top model"] == f"{len(first)}-way tie"
    assert f"{len(first)} models share rank 1: {', '.join(first)}." in texts(at)
    caution = at.dataframe[0].value.set_index("model")["caution"]
    assert caution[NEWCOMER] == "⚠ low data: only 2 battles"
    from viz.page_leaderboard import shared_top_caption

    many = [f"<m{k}>" for k in range(281)]  # a sparse 300-model arena tied 281 at the top
    line = shared_top_caption(many)
    assert line.startswith("281 models share rank 1: &lt;m0>, &lt;m1>,") and "&lt;m11> and 269 more." in line
    assert "m12" not in line
    assert (caution.drop(NEWCOMER) == "").all()
    marker = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    symbols = dict(zip(marker["y"], marker["marker"]["symbol"]))
    assert symbols[NEWCOMER] == "circle-open" and symbols["tie-a"] == "circle"
    caution = rewrite_and_show(ws, monkeypatch, "tie-d", ci_low=None, ci_high=None, ci_note="undefined: why")
    assert caution["tie-d"] == "⚠ low data: interval undefined: why" and caution["tie-a"] == ""
    for row in rows:  # a leaderboard written before the low_data flag: the app judges it itself
        row.pop("low_data", None), row.pop("ci_note", None)
    caution = rewrite_and_show(ws, monkeypatch, "tie-c", ci_low=1000.0, ci_high=1000.0, rows=rows)
    assert caution[NEWCOMER] == "⚠ low data: only 2 battles"
    assert caution["tie-c"].startswith("⚠ low data: zero-width interval") and caution["tie-a"] == ""


def rewrite_and_show(
    ws: Path, monkeypatch: pytest.MonkeyPatch, model: str, rows: list | None = None, **fields: object
) -> pd.Series:
    """Change one model's row of the tied run's leaderboard.json (or all rows); the caution column shown."""
    data = board(ws, RUN_TIED)
    data["overall"]["table"] = rows or data["overall"]["table"]
    for row in data["overall"]["table"]:
        if row["model"] == model:
            row.update(fields)
    (ws / "runs" / RUN_TIED / "leaderboard.json").write_text(json.dumps(data))
    return open_app(ws, monkeypatch).dataframe[0].value.set_index("model")["caution"]


def test_history_after_quick_start_says_dry_runs_are_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = build_tied_workspace(tmp_path / "ws")
    at = open_app(ws, monkeypatch, "history")
    message = at.info[0].value
    assert "only dry runs (1)" in message and "dry runs are hidden" in message
    assert "**Include dry runs**" in message and "No run has a leaderboard" not in message
    switch = at.checkbox(key="hist_dry")
    assert switch.label == "Include dry runs (1)" and not switch.disabled
    switch.check().run()
    assert not [i for i in at.info if "dry runs" in i.value]
    assert list(at.dataframe[-1].value.columns) == [RUN_TIED]


def test_truncated_answers_are_marked_in_battles_and_single_scores(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, question = next(iter(CUT_TURNS))
    at = open_app(workspace, monkeypatch, "battles", model=model, question=question)
    side = "A" if f"A: {model}" in [h.value for h in at.subheader] else "B"
    assert f"**✂ Truncated: answer {side}**" in texts(at)
    assert [w.value for w in at.warning if "max_tokens" in w.value] == [
        "Truncated: this answer stopped at the `max_tokens` limit (finish_reason `length`), "
        + "so it is incomplete."
    ]
    at = open_app(workspace, monkeypatch, "battles", model="model-delta", question="q1")
    assert "**Turn 2** · ✂ Truncated" in texts(at) and "✂ Truncated: answer" not in texts(at)  # turn 1 judged
    assert any("this turn stopped at the `max_tokens` limit" in w.value for w in at.warning)
    at = open_app(workspace, monkeypatch, "battles", model="model-gamma", question="q2")
    assert "Truncated" not in texts(at) and not [w for w in at.warning if "max_tokens" in w.value]
    at = open_app(workspace, monkeypatch, "single-scores", run=RUN_SINGLE)
    cut = at.dataframe[0].value["truncated answers"].to_dict()
    assert cut == {"model-gamma": 0, "model-alpha": 1, "model-delta": 1, "model-beta": 0}
    assert "2 scored answer(s) stopped at the `max_tokens` limit" in at.warning[0].value


def test_top_model_tile_shows_a_markdown_name_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model named like a Markdown image is the tile's text, not an image fetched from its address (one top
    model: the tile's value; a shared rank 1: its help text)."""
    from viz_fixture import _run_json, _write_json, _write_jsonl

    from arena.rating import RatingOptions, write_leaderboard
    from viz.render import escape_markdown_html

    image = "![t](http://127.0.0.1:9/img.png)"
    for clear, ws in ((True, tmp_path / "one"), (False, tmp_path / "tie")):
        run = ws / "runs" / "20250301-000000-img"
        rows = [{"question_id": f"q{k}", "model_a": image, "model_b": other, "judge": "j", "turn": 1,
                 "winner": "model_a" if clear or k % 2 else "model_b"}
                for k in range(40) for other in ("plain-b", "plain-c")]
        _write_jsonl(run / "battles.jsonl", rows)
        _write_json(run / "run.json", _run_json(run.name, "pairwise", [image, "plain-b", "plain-c"]))
        write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=20, seed=0))
        at = open_app(ws, monkeypatch, "leaderboard")
        tile = next(m for m in at.metric if m.label == "Top model")
        shown = tile.value if clear else tile.proto.help
        assert escape_markdown_html(image) in shown and "![" not in shown


def test_a_model_with_only_weightless_battles_is_not_the_top_model_tile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model whose battles all weigh 0 has no interval and so shares rank 1 by the rank rule; the tile names
    the model the data puts first (before: a 2-way tie with the weightless one)."""
    from viz_fixture import _run_json, _write_json, _write_jsonl

    from arena.rating import RatingOptions, write_leaderboard

    run = tmp_path / "runs" / "20250301-000000-w0"
    rows = [{"question_id": f"q{k}", "model_a": "strong", "model_b": "weak", "judge": "j", "turn": 1,
             "winner": "model_a" if k % 5 else "model_b"} for k in range(200)]
    rows += [{"question_id": f"q{k}", "model_a": "ghost", "model_b": "weak", "judge": "j", "turn": 1,
              "winner": "model_a", "weight": 0} for k in range(5)]
    _write_jsonl(run / "battles.jsonl", rows)
    _write_json(run / "run.json", _run_json(run.name, "pairwise", ["strong", "weak", "ghost"]))
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=50, seed=0))
    at = open_app(tmp_path, monkeypatch, "leaderboard")
    tile = next(m for m in at.metric if m.label == "Top model")
    assert tile.value == "strong"


def test_leaders_of_groups_that_never_met_are_not_called_a_tie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from viz_fixture import _run_json, _write_json, _write_jsonl

    from arena.rating import RatingOptions, write_leaderboard

    run = tmp_path / "runs" / "20250301-000000-groups"
    rows = [{"question_id": f"q{k}", "model_a": a, "model_b": b, "judge": "j", "turn": 1,
             "winner": "model_a" if k % 5 else "model_b"} for k in range(120) for a, b in (("a", "b"), ("c", "d"))]
    _write_jsonl(run / "battles.jsonl", rows)
    _write_json(run / "run.json", _run_json(run.name, "pairwise", ["a", "b", "c", "d"]))
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=50, seed=0))
    at = open_app(tmp_path, monkeypatch, "leaderboard")
    assert next(m for m in at.metric if m.label == "Top model").value == "2 in 2 groups"
    assert any("at rank 1 in 2 groups of models that never met" in c.value for c in at.caption)
    # a tie inside one group, and a pair that met only in weightless battles (no group of its own): a plain tie
    rows = [{"question_id": f"q{k}", "model_a": "a", "model_b": "b", "judge": "j", "turn": 1,
             "winner": "model_a" if k % 2 else "model_b"} for k in range(40)]
    rows += [{"question_id": "q0", "model_a": "x", "model_b": "y", "judge": "j", "turn": 1, "winner": "model_a",
              "weight": 0}] * 3
    _write_jsonl(run / "battles.jsonl", rows)
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=50, seed=0))
    at = open_app(tmp_path, monkeypatch, "leaderboard")
    assert next(m for m in at.metric if m.label == "Top model").value == "2-way tie"
    shown = at.dataframe[0].value
    assert list(shown["model"])[-2:] == ["x", "y"] and shown["rank"].iloc[-2:].isna().all()  # last, no rank


def test_a_run_archived_with_gzipped_battles_is_browsed_and_an_empty_one_is_not_compared(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    plain = ws / "runs" / RUN2 / "battles.jsonl"
    (plain.parent / "battles.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    at = open_app(ws, monkeypatch, "battles", run=RUN2, question="q2")
    assert "verdict: **" in texts(at)  # a battle is shown, read from the gzipped file
    h2h = open_app(ws, monkeypatch, "head-to-head", run=RUN2)
    assert "has no battles.jsonl" not in texts(h2h)
    # the newest run with an empty battles file is not offered for a comparison
    empty = ws / "runs" / "20250601-000000-weekly"
    empty.mkdir()
    (empty / "run.json").write_text((ws / "runs" / RUN1 / "run.json").read_text().replace(RUN1, empty.name))
    (empty / "battles.jsonl").write_text("")
    compare = open_app(ws, monkeypatch, "compare", errors_ok=True)
    assert "no battles" not in " ".join(e.value for e in compare.error)


def test_history_changes_are_on_a_common_scale_since_the_last_completed_run() -> None:
    """Each fit is fixed only up to a shift: one model that fell 300 points in a mean-centred fit lifts the
    others by 75 each; the common scale shows the fall alone. An unfinished run in between is skipped."""
    import pandas as pd

    from viz.derive import changes_since

    def rows(run: str, status: str, ratings: dict[str, float], pin: str = "centred on 1000") -> list[dict]:
        ranked = sorted(ratings, key=ratings.get, reverse=True)
        return [{"model": m, "rating": r, "rank": ranked.index(m) + 1, "run_id": run, "status": status,
                 "normalisation": pin} for m, r in ratings.items()]

    week1 = {"a": 1100.0, "b": 1050.0, "c": 950.0, "d": 900.0}
    week2 = {"a": 1100.0 - 300 + 75, "b": 1050.0 + 75, "c": 950.0 + 75, "d": 900.0 + 75}  # centred: sum unchanged
    half = {"a": 1000.0, "b": 1000.0, "c": 1000.0, "d": 1000.0}
    history = pd.DataFrame(rows("w1", "completed", week1) + rows("w2-try", "partial", half)
                           + rows("w2", "completed", week2))
    table, previous, entered, left = changes_since(history, "w2")
    change = table.set_index("model")["rating change"]
    assert previous == "w1" and entered == left == []
    # median of (-225, 75, 75, 75) is 75: a -300 and the others 0
    assert change.to_dict() == pytest.approx({"a": -300.0, "b": 0.0, "c": 0.0, "d": 0.0})
    pinned = pd.DataFrame(rows("w1", "completed", week1, "anchor d=900")
                          + rows("w2", "completed", {"a": 800.0, "b": 1100.0, "c": 1000.0, "d": 900.0},
                                 "anchor d=900"))
    change = changes_since(pinned, "w2")[0].set_index("model")["rating change"]
    assert change.to_dict() == pytest.approx({"a": -300.0, "b": 50.0, "c": 50.0, "d": 0.0})  # pinned: as they are
    only_unfinished = pd.DataFrame(rows("w1", "partial", week1) + rows("w2", "completed", week2))
    assert changes_since(only_unfinished, "w2")[1] == "w1"  # no completed run before: the latest one all the same
