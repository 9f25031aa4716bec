"""Per-judge breakdown of `arena compare`: hand-built runs judged by two judges where one judge sees a model's
change and the other does not; the breakdown names the judge that sees it, flags the disagreement, and its numbers
add up to the change in win rate computed by a plain loop over the raw battle rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_compare import STRENGTH, _battles, _changed, _write_run

from arena.compare.result import compare_runs
from arena.compare.runs import load_run
from judges.panel import aggregate_battles

SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
N_QUESTIONS = 80


def _tag(rows: list[dict], judge: str) -> list[dict]:
    """The rows as `judge`'s battles."""
    return [{**r, "judge": judge} for r in rows]


def _two_judges() -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """(old, new) battles of two judges: 'sharp' sees m-a's much better answers in week 2, 'blind' does not
    (its week-2 verdicts on m-a are drawn from m-a's old strength); every other judgment is reused."""
    old = {"sharp": _battles(STRENGTH, N_QUESTIONS, seed=1), "blind": _battles(STRENGTH, N_QUESTIONS, seed=11)}
    new = {"sharp": _changed(old["sharp"], _battles({**STRENGTH, "m-a": 2.0}, N_QUESTIONS, seed=2), "m-a"),
           "blind": _changed(old["blind"], _battles(STRENGTH, N_QUESTIONS, seed=12), "m-a")}
    return ({j: _tag(r, j) for j, r in old.items()}, {j: _tag(r, j) for j, r in new.items()})


def _panel_run(root: Path, name: str, per_judge: dict[str, list[dict]], method: str) -> Path:
    """A panel run as the pipeline writes it: each judge's battles under judges/<name>/, their aggregate (by the
    panel's own code) as the run's battles.jsonl, the panel in run.json's config."""
    path = _write_run(root, name, aggregate_battles(per_judge, "duo", method), judge="duo")
    config = json.loads((path / "run.json").read_text())
    config["config"]["judge"].update(name="duo", aggregate=method, panel=[{"name": j} for j in per_judge])
    (path / "run.json").write_text(json.dumps(config))
    for judge, rows in per_judge.items():
        (path / "judges" / judge).mkdir(parents=True)
        (path / "judges" / judge / "battles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _points(rows: list[dict], model: str) -> tuple[float, int]:
    """(model's own points, its battles) by a plain loop over battle rows (weight 1 each)."""
    pts, n = 0.0, 0
    for r in rows:
        if model in (r["model_a"], r["model_b"]):
            s = r["prob_a"] if r.get("prob_a") is not None else SCORE[r["winner"]]
            pts += s if r["model_a"] == model else 1.0 - s
            n += 1
    return pts, n


def test_panel_one_judge_sees_the_change_and_the_sums_add_up(tmp_path: Path) -> None:
    from arena.compare.render import markdown, terminal

    old_rows, new_rows = _two_judges()
    old, new = _panel_run(tmp_path, "r1", old_rows, "mean"), _panel_run(tmp_path, "r2", new_rows, "mean")
    result = compare_runs(load_run(old), load_run(new), rounds=200)
    assert result["comparable"] and result["better"] == ["m-a"], result["models"]
    assert result["judges"]["available"] and result["judges"]["source"] == "panel"
    assert result["judges"]["judges"] == ["blind", "sharp"]
    j = result["why"]["m-a"]["judges"]
    by = {r["judge"]: r for r in j["rows"]}
    assert by["sharp"]["verdict"] == "better" and by["blind"]["verdict"] == "no detectable change"
    assert j["see"] == ["sharp"] and j["miss"] == ["blind"]
    assert j["flag"].startswith("the change comes from one judge only: sharp sees it, blind does not")
    assert [r["judge"] for r in j["rows"]] == ["sharp", "blind"]  # largest contribution first
    # each judge's own win rates and contribution, by hand from the raw rows
    totals = [sum(_points(rows[k], "m-a")[1] for k in rows) for rows in (old_rows, new_rows)]
    for judge in ("sharp", "blind"):
        (p_old, n_old), (p_new, n_new) = _points(old_rows[judge], "m-a"), _points(new_rows[judge], "m-a")
        assert by[judge]["old_win_rate"] == pytest.approx(p_old / n_old)
        assert by[judge]["new_win_rate"] == pytest.approx(p_new / n_new)
        assert by[judge]["contribution"] == pytest.approx(p_new / totals[1] - p_old / totals[0])
    # the contributions add up to the change in the pooled win rate, and (mean aggregate, every battle decided
    # by both judges) to the change in win rate of the run's own aggregated battles
    total = sum(r["contribution"] for r in j["rows"])
    pooled = [sum(_points(rows[k], "m-a")[0] for k in rows) / n for rows, n in zip((old_rows, new_rows), totals)]
    assert total == pytest.approx(pooled[1] - pooled[0])
    rate = result["why"]["m-a"]["win_rate"]
    assert total == pytest.approx(rate["new"] - rate["old"])
    assert by["blind"]["contribution"] == pytest.approx(0.0, abs=0.03) and by["sharp"]["contribution"] > 0.1
    # the judge's rating change is its own paired comparison: it matches comparing that judge's battles alone
    alone = compare_runs(load_run(_write_run(tmp_path, "s1", old_rows["sharp"], judge="sharp")),
                         load_run(_write_run(tmp_path, "s2", new_rows["sharp"], judge="sharp")), rounds=200,
                         seed=10_007 + 1, why=False)
    own = next(r for r in alone["models"] if r["model"] == "m-a")
    assert by["sharp"]["rating_change"] == pytest.approx(own["change"])
    assert (by["sharp"]["ci_low"], by["sharp"]["ci_high"]) == pytest.approx((own["ci_low"], own["ci_high"]))
    # every view says it: the terminal, the Markdown report
    text = terminal(result)
    assert "judges behind m-a (win-rate contribution, own verdict): sharp +" in text
    assert "FLAG: the change comes from one judge only: sharp sees it, blind does not" in text
    md = markdown(result)
    assert "| judge | battles old / new |" in md and "- FLAG: the change comes from one judge only" in md
    assert "Judges: judge panel of 2 (blind, sharp; the run's battles aggregate them by mean)" in md
    assert md.count("### ") == 1  # the breakdown sits inside m-a's section


def test_judges_in_one_battles_file_add_up_to_the_run_win_rate(tmp_path: Path) -> None:
    old_rows, new_rows = _two_judges()
    old = _write_run(tmp_path, "r1", [], judge="x")
    new = _write_run(tmp_path, "r2", [], judge="x")
    for path, rows in ((old, old_rows), (new, new_rows)):  # both judges' battles in one file, judge column kept
        (path / "battles.jsonl").write_text("".join(json.dumps(r) + "\n" for k in rows for r in rows[k]))
    result = compare_runs(load_run(old), load_run(new), rounds=200)
    assert result["judges"]["source"] == "battles" and result["better"] == ["m-a"]
    w = result["why"]["m-a"]
    total = sum(r["contribution"] for r in w["judges"]["rows"])
    assert total == pytest.approx(w["win_rate"]["new"] - w["win_rate"]["old"])  # a partition of the run's battles
    assert w["judges"]["pooled"] == pytest.approx(w["win_rate"])
    assert w["judges"]["see"] == ["sharp"] and "judges disagree" in w["judges"]["flag"]


def test_judges_that_agree_are_not_flagged(tmp_path: Path) -> None:
    old_rows = {j: _tag(_battles(STRENGTH, N_QUESTIONS, seed=s), j) for j, s in (("j1", 1), ("j2", 11))}
    new_rows = {j: _tag(_changed(old_rows[j], _battles({**STRENGTH, "m-a": 2.0}, N_QUESTIONS, seed=s), "m-a"), j)
                for j, s in (("j1", 2), ("j2", 12))}
    result = compare_runs(load_run(_panel_run(tmp_path, "r1", old_rows, "majority")),
                          load_run(_panel_run(tmp_path, "r2", new_rows, "majority")), rounds=200)
    j = result["why"]["m-a"]["judges"]
    assert j["flag"] is None and sorted(j["see"]) == ["j1", "j2"] and j["agreement"] == "all 2 judges see the change (better)"
    # majority vote: the aggregated win rate differs from the pooled one; the contributions add up to the pooled
    total = sum(r["contribution"] for r in j["rows"])
    assert total == pytest.approx(j["pooled"]["new"] - j["pooled"]["old"])
    pooled_new = sum(_points(new_rows[k], "m-a")[0] for k in new_rows) / sum(_points(new_rows[k], "m-a")[1]
                                                                             for k in new_rows)
    assert j["pooled"]["new"] == pytest.approx(pooled_new)


def test_one_judge_is_said_in_one_line(tmp_path: Path) -> None:
    from arena.compare.render import markdown, terminal

    old_rows = _battles(STRENGTH, 60, seed=1)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-a": 1.5}, 60, seed=2), "m-a")
    result = compare_runs(load_run(_write_run(tmp_path, "r1", old_rows)),
                          load_run(_write_run(tmp_path, "r2", new_rows)), rounds=100)
    assert result["judges"] == {"available": False, "source": "single", "judges": ["judge-x"], "only_old": [],
                                "only_new": [], "note": "one judge (judge-x) judged both runs: no per-judge breakdown"}
    assert "judges" not in result["why"]["m-a"]
    assert terminal(result).count("judges: one judge (judge-x) judged both runs: no per-judge breakdown") == 1
    md = markdown(result)
    assert md.count("Judges: one judge (judge-x) judged both runs: no per-judge breakdown.") == 1
    assert "| judge |" not in md


def test_hostile_judge_names_are_escaped_in_every_view(tmp_path: Path) -> None:
    from arena.compare.charts import judges_figure
    from arena.compare.html import html_report
    from arena.compare.render import markdown

    hostile = '<img src=x onerror=alert(1)>'
    old_rows, new_rows = _two_judges()
    old_rows, new_rows = ({hostile if k == "sharp" else k: _tag(v, hostile if k == "sharp" else k)
                           for k, v in rows.items()} for rows in (old_rows, new_rows))
    paths = []
    for name, rows in (("r1", old_rows), ("r2", new_rows)):
        paths.append(_write_run(tmp_path, name, [], judge="x"))
        (paths[-1] / "battles.jsonl").write_text("".join(json.dumps(r) + "\n" for k in rows for r in rows[k]))
    result = compare_runs(load_run(paths[0]), load_run(paths[1]), rounds=50)
    assert result["why"]["m-a"]["judges"]["see"] == [hostile]
    html = html_report(result)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<" not in markdown(result).replace("<br>", "")
    assert "<" not in "".join(judges_figure(result, "m-a").data[0].y)
    assert np.isfinite(result["why"]["m-a"]["judges"]["rows"][0]["rating_change"])


def test_compare_page_shows_the_breakdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    old_rows, new_rows = _two_judges()
    _panel_run(tmp_path, "20260101-000000-weekly", old_rows, "mean")
    _panel_run(tmp_path, "20260108-000000-weekly", new_rows, "mean")
    monkeypatch.setenv("ARENA_WORKSPACE", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "viz" / "app.py"), default_timeout=120)
    at.query_params["page"] = "compare"
    at.run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    table = next(df.value for df in at.dataframe if "sees the change" in df.value.columns)
    assert dict(zip(table["judge"], table["sees the change"])) == {"sharp": "yes", "blind": "no"}
    assert any("FLAG: the change comes from one judge only: sharp sees it, blind does not" in m.value
               for m in at.markdown)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium: apt-get install -y chromium")
@pytest.mark.timeout(180)
def test_report_html_draws_the_judges_chart_with_hostile_names_as_text(tmp_path: Path) -> None:
    from playwright import sync_api

    from arena.cli import main

    hostile = "<img src=x onerror=alert(1)>"
    old_rows, new_rows = _two_judges()
    old_rows, new_rows = ({hostile if k == "sharp" else k: _tag(v, hostile if k == "sharp" else k)
                           for k, v in rows.items()} for rows in (old_rows, new_rows))
    old, new = _panel_run(tmp_path, "r1", old_rows, "mean"), _panel_run(tmp_path, "r2", new_rows, "mean")
    assert main(["compare", str(old), str(new), "--rounds", "60", "--no-categories"]) == 0
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((new / "report.html").as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        titles = page.locator(".js-plotly-plot .gtitle").all_text_contents()
        ticks = page.locator(".js-plotly-plot .ytick text").all_text_contents()
        cells = page.locator("td").all_text_contents()
        browser.close()
    assert dialogs == [] and "m-a: rating change seen by each judge" in titles
    assert "‹img src=x onerror=alert(1)›" in ticks and hostile in cells


def test_two_real_weekly_panel_runs_name_the_judge_that_sees_the_change(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`arena run` twice with a panel of two local judge servers: 'sharp' prefers the better answer with noise,
    'blind' judges c4's new answers as if they were its old ones; `arena compare` flags the change as sharp's."""
    import yaml
    from openai_server import FakeOpenAI
    from test_compare_weekly import _between, _candidate, _judge

    from arena.cli import main

    def blind(req: dict) -> str:  # the same judge, except that c4's new answers look like its old ones
        for side in "AB":
            start, end = f"<<<ANSWER {side} START>>>", f"<<<ANSWER {side} END>>>"
            text = _between(req["messages"][-1]["content"], start, end)
            if text:
                req = {**req, "messages": [{"role": "user", "content": req["messages"][-1]["content"].replace(
                    text, text.replace("answer from c4-v2", "answer from c4-v1"))}]}
        return _judge(req)

    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question_id": f"w{k:02d}", "category": "ab"[k % 2],
                                             "turns": [f"Question number {k}?"]}) + "\n" for k in range(24)))
    version = {"c4": "v1"}
    with FakeOpenAI(reply=_candidate(version)) as cand, FakeOpenAI(reply=_judge) as sharp, \
            FakeOpenAI(reply=blind) as blind_server:
        for week in ("v1", "v2"):
            version["c4"] = week
            cands = [{"name": n, "backend": "openai", "model": n, "base_url": cand.base_url, "api_key_env": None}
                     for n in ("c1", "c2", "c3")]
            cands.append({"name": "c4", "backend": "openai", "model": "c4", "base_url": cand.base_url,
                          "api_key_env": None, "revision": week})
            panel = [{"name": "sharp", "model": "judge-model", "base_url": sharp.base_url},
                     {"name": "blind", "model": "judge-model", "base_url": blind_server.base_url}]
            cfg = {"workspace": str(tmp_path / "ws"), "run_name": "weekly", "questions": {"path": str(questions)},
                   "candidates": cands, "rating": {"bootstrap": 10},
                   "judge": {"mode": "pairwise", "name": "duo", "aggregate": "mean", "verdict": "3way",
                             "order": "random", "panel": panel}}
            (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
            assert main(["run", "-c", str(tmp_path / "cfg.yaml"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "ws"), "--rounds", "100", "--format", "json", "--no-write"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["comparable"] and out["better"] == ["c4"], (out["reasons"], out["models"])
    assert out["judges"]["source"] == "panel" and out["judges"]["judges"] == ["blind", "sharp"]
    j = out["why"]["c4"]["judges"]
    assert j["see"] == ["sharp"] and j["flag"].startswith("the change comes from one judge only: sharp sees it")
    rate = out["why"]["c4"]["win_rate"]  # mean aggregate, every battle decided by both judges
    assert sum(r["contribution"] for r in j["rows"]) == pytest.approx(rate["new"] - rate["old"])


def test_forced_comparison_of_two_different_judges_says_so(tmp_path: Path) -> None:
    old_rows = _battles(STRENGTH, 60, seed=1)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-a": 1.5}, 60, seed=2), "m-a")
    result = compare_runs(load_run(_write_run(tmp_path, "r1", old_rows, judge="gpt-judge")),
                          load_run(_write_run(tmp_path, "r2", new_rows, judge="qwen-judge")), rounds=50, force=True)
    assert not result["comparable"] and result["better"] == ["m-a"]
    assert result["judges"]["note"] == ("no judge judged both runs (old: gpt-judge; new: qwen-judge): "
                                        "no per-judge breakdown")


def test_battles_without_a_judge_column_name_the_configured_judge(tmp_path: Path) -> None:
    old_rows = _battles(STRENGTH, 60, seed=1)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-a": 1.5}, 60, seed=2), "m-a")
    paths = []
    for name, rows in (("r1", old_rows), ("r2", new_rows)):
        paths.append(_write_run(tmp_path, name, [], judge="judge-in-config"))
        (paths[-1] / "battles.jsonl").write_text("".join(
            json.dumps({k: v for k, v in r.items() if k != "judge"}) + "\n" for r in rows))
    result = compare_runs(load_run(paths[0]), load_run(paths[1]), rounds=50)
    assert result["judges"]["note"] == "one judge (judge-in-config) judged both runs: no per-judge breakdown"


def test_a_panel_member_that_decided_no_battle_is_left_out(tmp_path: Path) -> None:
    """A member whose every call failed has an empty battles file (the judge stage writes it): the comparison
    and the other members' breakdown go on; the empty member is left out as one that judged one run only."""
    old_rows, new_rows = _two_judges()
    old_rows["dead"] = _tag(old_rows["blind"], "dead")
    new_rows["dead"] = []
    result = compare_runs(load_run(_panel_run(tmp_path, "r1", old_rows, "mean")),
                          load_run(_panel_run(tmp_path, "r2", new_rows, "mean")), rounds=100)
    assert result["better"] == ["m-a"] and result["judges"]["judges"] == ["blind", "sharp"]
    assert result["judges"]["only_old"] == ["dead"] and "left out, judged one run only: dead" in result["judges"]["note"]
    assert result["why"]["m-a"]["judges"]["see"] == ["sharp"]


def test_a_judge_without_a_rating_change_of_its_own_does_not_make_the_judges_disagree(tmp_path: Path) -> None:
    """j3 did not judge m-a in the old run (its budget ran out, say): it has a contribution but no verdict of its
    own, so it is named apart instead of counted as a judge that does not see the change."""
    old_rows = {j: _tag(_battles(STRENGTH, N_QUESTIONS, seed=s), j) for j, s in (("j1", 1), ("j2", 11))}
    new_rows = {j: _tag(_changed(old_rows[j], _battles({**STRENGTH, "m-a": 2.0}, N_QUESTIONS, seed=s), "m-a"), j)
                for j, s in (("j1", 2), ("j2", 12))}
    old_rows["j3"] = [r for r in _tag(_battles(STRENGTH, N_QUESTIONS, seed=21), "j3") if "m-a" not in
                      (r["model_a"], r["model_b"])]
    new_rows["j3"] = _tag(_battles({**STRENGTH, "m-a": 2.0}, N_QUESTIONS, seed=22), "j3")
    result = compare_runs(load_run(_panel_run(tmp_path, "r1", old_rows, "mean")),
                          load_run(_panel_run(tmp_path, "r2", new_rows, "mean")), rounds=100)
    j = result["why"]["m-a"]["judges"]
    by = {r["judge"]: r for r in j["rows"]}
    assert by["j3"]["old_battles"] == 0 and by["j3"]["verdict"] is None
    assert by["j1"]["verdict"] == by["j2"]["verdict"] == "better"
    assert sorted(j["see"]) == ["j1", "j2"] and j["miss"] == [] and j["flag"] is None
    assert j["agreement"] == "all 2 judges see the change (better); no rating change of its own: j3"
    from arena.compare.render import markdown

    row = next(line for line in markdown(result).splitlines() if line.startswith("| j3 |"))
    assert row.endswith("| n/a | n/a |")  # its verdict, and whether it sees the change


def test_one_judge_with_a_verdict_of_its_own_is_named_not_counted() -> None:
    from arena.compare.judges import _agreement

    rows = [{"judge": "j1", "verdict": "better"}, {"judge": "j2", "verdict": None}]
    see, miss, text, flag = _agreement("better", rows)
    assert (see, miss, flag) == (["j1"], [], None)
    assert text == "the one judge with its own verdict (j1) sees the change (better); no rating change of its own: j2"
