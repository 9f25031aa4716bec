"""The 'why' of `arena compare`: category contributions and flipped verdicts against hand counts from the battle
rows, answer lengths from answer records, the longer-answers flag with style control, and the power estimate."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from test_compare import STRENGTH, _battles, _changed, _write_run

from arena.compare.power import noise_floor
from arena.compare.result import compare_runs
from arena.compare.runs import load_run

SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}


def _own(rows: list[dict], model: str) -> dict[tuple[str, str], tuple[float, str]]:
    """(question, opponent) -> (model's own score, category), by a plain loop over the battle rows."""
    out = {}
    for r in rows:
        if model in (r["model_a"], r["model_b"]):
            mine = SCORE[r["winner"]] if r["model_a"] == model else 1.0 - SCORE[r["winner"]]
            other = r["model_b"] if r["model_a"] == model else r["model_a"]
            out[(r["question_id"], other)] = (mine, r["category"])
    return out


def test_contributions_and_flips_match_hand_counts(tmp_path: Path) -> None:
    old_rows = _battles(STRENGTH, 60, seed=1)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-a": 1.5}, 60, seed=2), "m-a")
    old, new = _write_run(tmp_path, "r1", old_rows), _write_run(tmp_path, "r2", new_rows)
    result = compare_runs(load_run(old), load_run(new), rounds=100)
    assert result["better"] == ["m-a"] and list(result["why"]) == ["m-a"]
    why = result["why"]["m-a"]
    was, now = _own(old_rows, "m-a"), _own(new_rows, "m-a")
    # win rates and per-category contributions, by hand (every battle weight 1)
    assert why["win_rate"]["old"] == pytest.approx(np.mean([s for s, _ in was.values()]))
    assert why["win_rate"]["new"] == pytest.approx(np.mean([s for s, _ in now.values()]))
    for cat in why["categories"]:
        pts = [sum(s for s, c in side.values() if c == cat["category"]) / len(side) for side in (was, now)]
        assert cat["contribution"] == pytest.approx(pts[1] - pts[0])
        assert cat["rating_change"] == next(r["change"] for r in result["categories"][cat["category"]]["models"]
                                            if r["model"] == "m-a")
    assert sum(c["contribution"] for c in why["categories"]) == pytest.approx(
        why["win_rate"]["new"] - why["win_rate"]["old"])
    assert [c["contribution"] for c in why["categories"]] == sorted((c["contribution"] for c in why["categories"]),
                                                                    reverse=True)
    # flipped verdicts: outcome classes differ on the same (question, opponent)
    cls = {k: np.sign(s - 0.5) for k, (s, _) in was.items()}, {k: np.sign(s - 0.5) for k, (s, _) in now.items()}
    flipped = [k for k in cls[0] if cls[0][k] != cls[1][k]]
    toward = [k for k in flipped if cls[1][k] > cls[0][k]]
    assert why["flips"]["flipped"] == len(flipped) > 0 and why["flips"]["toward"] == len(toward)
    assert why["flips"]["shared"] == len(was)
    listed = why["flips"]["listed"]
    assert len(listed) == min(30, len(flipped))
    assert all(f["new"] != f["old"] for f in listed)
    assert listed[0]["old"] == "loss" and listed[0]["new"] == "win"  # toward the change first, biggest step first
    query = parse_qs(urlsplit(listed[0]["new_link"]).query)
    assert query["page"] == ["battles"] and query["run"] == ["r2"] and query["model"] == ["m-a"]
    assert query["opponent"] == [listed[0]["opponent"]] and query["question"] == [listed[0]["question_id"]]
    assert query["battle"] == ["1"] and parse_qs(urlsplit(listed[0]["old_link"]).query)["run"] == ["r1"]


def _answer_run(root: Path, name: str, lengths: dict[str, list[int]], strength: dict[str, float], seed: int,
                pull: float) -> Path:
    """A run whose judge prefers the longer answer (by `pull` log-odds per unit of normalised length
    difference), with answer records (answers_index.json + answers/<model>.jsonl) of the given lengths."""
    rng = np.random.default_rng(seed)
    models, rows, index = sorted(strength), [], {}
    answers = root / "answers"
    answers.mkdir(parents=True, exist_ok=True)
    for m in models:
        index[m] = {}
        with (answers / f"{m}.jsonl").open("a") as fh:
            for q, size in enumerate(lengths[m]):
                key = f"{name}-{m}-{q}"
                index[m][f"q{q:03d}"] = key
                fh.write(json.dumps({"key": key, "model": m, "question_id": f"q{q:03d}", "status": "ok",
                                     "turns": ["x" * size], "completion_tokens": [size // 4]}) + "\n")
    for q in range(len(lengths[models[0]])):
        for i, first in enumerate(models):
            for second in models[i + 1:]:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)  # sides at random
                la, lb = lengths[a][q], lengths[b][q]
                p = 1 / (1 + math.exp(-(strength[a] - strength[b] + pull * (la - lb) / (la + lb))))
                rows.append({"question_id": f"q{q:03d}", "model_a": a, "model_b": b, "category": "x", "turn": 1,
                             "winner": "model_a" if rng.random() < p else "model_b", "mode": "pairwise",
                             "len_a": la // 4, "len_b": lb // 4})
    run = _write_run(root, name, rows)
    (run / "answers_index.json").write_text(json.dumps(index))
    return run


def test_longer_answers_are_flagged_and_style_control_explains_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    flat = {m: 0.0 for m in STRENGTH}
    n_q = 120
    base = {m: [int(v) for v in rng.integers(200, 2000, n_q)] for m in flat}
    longer = {**base, "m-a": [3 * v for v in base["m-a"]]}
    old = _answer_run(tmp_path, "r1", base, flat, seed=1, pull=4.0)
    new = _answer_run(tmp_path, "r2", longer, flat, seed=2, pull=4.0)
    result = compare_runs(load_run(old), load_run(new), rounds=60, categories=False)
    assert result["better"] == ["m-a"]
    lengths = result["lengths"]
    assert lengths["unit"] == "characters" and lengths["source"].startswith("answer records")
    row = lengths["models"]["m-a"]
    assert row["old"] == pytest.approx(np.mean(base["m-a"])) and row["change"] == pytest.approx(2.0)
    assert row["new_tokens"] == pytest.approx(np.mean([3 * v // 4 for v in base["m-a"]]))
    assert lengths["models"]["m-b"]["change"] == 0.0
    assert result["longer_answers"] == ["m-a"] and result["why"]["m-a"]["longer_answers"]
    # the judge only liked the length: with length as a covariate, most of m-a's gain disappears
    style = result["style"]
    assert style["available"]
    raw = next(r["change"] for r in result["models"] if r["model"] == "m-a")
    assert raw > 100 and abs(style["changes"]["m-a"]) < 0.5 * raw
    assert style["models"]["m-a"]["verdict"] == "no detectable change"
    assert style["models"]["m-a"]["ci_low"] < style["changes"]["m-a"] < style["models"]["m-a"]["ci_high"]


def test_style_not_available_without_lengths(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 20, seed=1)
    result = compare_runs(load_run(_write_run(tmp_path, "r1", rows)), load_run(_write_run(tmp_path, "r2", rows)),
                          rounds=20, categories=False)
    assert not result["style"]["available"] and "not available" in result["style"]["reason"]
    assert not result["lengths"]["available"]


def test_power_estimate_by_hand() -> None:
    rows = [{"model": "a", "ci_low": -20.0, "ci_high": 20.0, "verdict": "no detectable change"},
            {"model": "b", "ci_low": -5.0, "ci_high": 5.0, "verdict": "no detectable change"},
            {"model": "ref", "ci_low": -90.0, "ci_high": 90.0, "verdict": "reference (fixed)"}]
    power = noise_floor(rows, n_questions=100, model_level=0.95, sizes=(10.0, 50.0))
    se = 40.0 / (2 * 1.959964)  # the widest non-reference interval, z_0.975
    mde = (1.959964 + 0.841621) * se  # z_0.8
    assert power["se"] == pytest.approx(se, rel=1e-5) and power["detectable"] == pytest.approx(mde, rel=1e-5)
    assert [n["questions"] for n in power["needed"]] == [math.ceil(100 * (mde / 10) ** 2),
                                                         math.ceil(100 * (mde / 50) ** 2)]
    assert "a," in power["basis"]


def test_interval_width_scales_like_one_over_sqrt_questions(tmp_path: Path) -> None:
    """The power formula's premise, on simulated weekly pairs: 4x the questions, half the interval."""
    widths = []
    for n_q in (40, 160):
        old_rows = _battles(STRENGTH, n_q, seed=3)
        new_rows = _changed(old_rows, _battles(STRENGTH, n_q, seed=4), "m-a")
        root = tmp_path / str(n_q)
        result = compare_runs(load_run(_write_run(root, "r1", old_rows)), load_run(_write_run(root, "r2", new_rows)),
                              rounds=200, categories=False)
        widths.append(next(r["ci_high"] - r["ci_low"] for r in result["models"] if r["model"] == "m-a"))
    assert 1.6 < widths[0] / widths[1] < 2.5


def test_markdown_report_shows_tags_in_names_as_text(tmp_path: Path) -> None:
    from arena.compare.render import markdown

    hostile = "<img src=x onerror=alert(1)>"
    rows = _battles({**STRENGTH, hostile: 0.2}, 20, seed=1, cats=("x", "<b>y</b>"))
    new_rows = _changed(rows, _battles({**STRENGTH, hostile: 0.2, "m-a": 2.0}, 20, seed=2, cats=("x", "<b>y</b>")),
                        "m-a")
    result = compare_runs(load_run(_write_run(tmp_path, "r1", rows)), load_run(_write_run(tmp_path, "r2", new_rows)),
                          rounds=30)
    text = markdown(result)
    assert "<" not in text and "&lt;img src=x onerror=alert(1)>" in text and "&lt;b>y&lt;/b>" in text


def test_app_url_and_style_rounds_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from arena.cli import main

    old_rows = _battles(STRENGTH, 30, seed=1)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-a": 2.0}, 30, seed=2), "m-a")
    old, new = _write_run(tmp_path, "r1", old_rows), _write_run(tmp_path, "r2", new_rows)
    assert main(["compare", str(old), str(new), "--style-rounds", "-1"]) == 2
    assert "--style-rounds must be between 0 and" in capsys.readouterr().err
    assert main(["compare", str(old), str(new), "--rounds", "40", "--app-url", "http://arena.example:9000/"]) == 0
    report = (new / "report.md").read_text()
    assert "(http://arena.example:9000/?page=battles&run=r2&model=m-a&opponent=" in report
    assert "http://localhost" not in report


def test_lengths_fall_back_to_the_battles_without_answer_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    flat = {m: 0.0 for m in STRENGTH}
    base = {m: [int(v) for v in rng.integers(200, 2000, 30)] for m in flat}
    old = _answer_run(tmp_path, "r1", base, flat, seed=1, pull=0.0)
    new = _answer_run(tmp_path, "r2", {**base, "m-a": [3 * v for v in base["m-a"]]}, flat, seed=2, pull=0.0)
    for run in (old, new):
        (run / "answers_index.json").unlink()  # imported battles: no answer records
    result = compare_runs(load_run(old), load_run(new), rounds=20, categories=False)
    lengths = result["lengths"]
    assert lengths["source"].startswith("battles") and lengths["unit"] == "tokens"
    row = lengths["models"]["m-a"]  # every question once per opponent: the mean over questions
    assert row["old"] == pytest.approx(np.mean([v // 4 for v in base["m-a"]]))
    assert row["new"] == pytest.approx(np.mean([3 * v // 4 for v in base["m-a"]]))


def test_lengths_from_empty_answers_stay_strict_json_and_count_as_longer() -> None:
    """Old answers of length 0: no Infinity in compare.json (strict JSON), the report says 'from empty',
    and a significantly better model whose answers grew from empty is flagged."""
    import json

    from arena.compare.lengths import _row, longer_and_better
    from arena.compare.sections import _length_text

    row = _row(0.0, 120.0, 4)
    assert row["change"] is None
    json.dumps(row, allow_nan=False)
    assert "from empty" in _length_text(row, "characters")
    lengths = {"available": True, "models": {"m": row, "n": _row(100.0, 110.0, 4)}}
    assert longer_and_better(lengths, ["m", "n"]) == ["m"]


def test_markdown_report_renders_hostile_names_as_written(tmp_path: Path) -> None:
    """Model names and categories that look like Markdown (emphasis, a link, a pipe, an entity, a heading) render
    as the same text in a CommonMark renderer: no link, emphasis, tag or decoded entity, the table intact."""
    from html import unescape

    from markdown_it import MarkdownIt

    from arena.compare.render import markdown

    link, starry, entity, heading = "[click](https://evil.example/x)", "a|*x*_y_", "&lt;b&gt;", "# top"
    names = {link: 0.2, starry: -0.1, entity: 0.1, heading: -0.2}
    cats = ("x", "*cat*|[c](https://evil.example/c)")
    rows = _battles({**STRENGTH, **names}, 24, seed=1, cats=cats)
    new_rows = _changed(rows, _battles({**STRENGTH, **names, link: 3.0}, 24, seed=2, cats=cats), link)
    result = compare_runs(load_run(_write_run(tmp_path, "r1", rows)), load_run(_write_run(tmp_path, "r2", new_rows)),
                          rounds=30)
    assert result["better"] == [link]
    html = MarkdownIt("commonmark").enable("table").render(markdown(result))
    hrefs = [part.split('"', 1)[0] for part in html.split('href="')[1:]]
    assert hrefs and all(h.startswith("http://localhost:8501/?page=battles") for h in hrefs)  # only battle links
    assert "<em>" not in html and "<strong>" not in html and "<b>" not in html and "<h1>top" not in html
    text = unescape(re.sub(r"<[^>]+>", "", html))
    for name in (*names, cats[1]):
        assert name in text
    # every table row keeps its column count (pipes in names escaped)
    for table in re.findall(r"<table>.*?</table>", html, flags=re.DOTALL):
        widths = {len(re.findall(r"<t[dh]", row)) for row in re.findall(r"<tr>.*?</tr>", table, flags=re.DOTALL)}
        assert len(widths) == 1


def test_contributions_add_up_when_some_battles_have_no_category() -> None:
    from arena.compare.why import contributions

    def sided(rows: list[tuple[float, str | None]]) -> pd.DataFrame:
        return pd.DataFrame({"model": "m", "score": [s for s, _ in rows], "weight": 1.0,
                             "category": pd.Series([c for _, c in rows], dtype=object)})

    old = sided([(0.0, "x"), (1.0, "x"), (0.0, None), (0.5, "y")])
    new = sided([(1.0, "x"), (1.0, None), (1.0, None), (0.5, "y"), (0.0, None)])
    rows = {r["category"]: r["contribution"] for r in contributions(old, new, "m", {})}
    # by hand: x 1/5 - 1/4, y 0.5/5 - 0.5/4, no category 2/5 - 0/4
    assert rows == pytest.approx({"x": 0.2 - 0.25, "y": 0.1 - 0.125, "(no category)": 0.4})
    assert sum(rows.values()) == pytest.approx(3.5 / 5 - 1.5 / 4)
    uncategorised_old = sided([(0.0, None), (1.0, None)])  # the old run has no categories at all
    rows = {r["category"]: r["contribution"] for r in contributions(uncategorised_old, new, "m", {})}
    assert sum(rows.values()) == pytest.approx(3.5 / 5 - 0.5) and rows["x"] == pytest.approx(0.2)
    assert contributions(uncategorised_old, uncategorised_old, "m", {}) == []


def test_zero_width_fallback_scales_the_leaderboard_to_the_shared_questions() -> None:
    rows = [{"model": "a", "ci_low": 3.0, "ci_high": 3.0, "verdict": "better"},
            {"model": "b", "ci_low": 0.0, "ci_high": 0.0, "verdict": "no detectable change"}]
    board = {"options": {"percentiles": [2.5, 97.5]},
             "overall": {"table": [{"ci_low": -10.0, "ci_high": 10.0}, {"ci_low": -30.0, "ci_high": 30.0},
                                   {"ci_low": -20.0, "ci_high": 20.0}]}}
    same = noise_floor(rows, n_questions=25, model_level=0.95, leaderboard=board, leaderboard_questions=25)
    fewer = noise_floor(rows, n_questions=25, model_level=0.95, leaderboard=board, leaderboard_questions=100)
    se = math.sqrt(2) * 40.0 / (2 * 1.959964)  # the median width 40, two independent runs
    assert same["se"] == pytest.approx(se, rel=1e-5)
    # the leaderboard's intervals come from 100 questions: on 25 shared ones the SE is twice as large
    assert fewer["se"] == pytest.approx(2 * se, rel=1e-5) and "x sqrt(100/25)" in fewer["basis"]


def test_too_few_shared_questions_give_no_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from arena.cli import main

    old_rows = _battles(STRENGTH, 4, seed=1)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-a": -3.0}, 4, seed=2), "m-a")
    old, new = _write_run(tmp_path, "r1", old_rows), _write_run(tmp_path, "r2", new_rows)
    assert main(["compare", str(old), str(new), "--rounds", "40", "--format", "json",
                 "--fail-on-regression", "m-a"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["verdict"] for r in out["models"]} == {"not enough data"} and out["worse"] == []
    assert all(r["ci_low"] is None for r in out["models"]) and out["intervals"].startswith("none: 4 shared questions")
    assert next(r["change"] for r in out["models"] if r["model"] == "m-a") < 0  # the change itself is still shown
    five = _changed(_battles(STRENGTH, 5, seed=1), _battles({**STRENGTH, "m-a": -3.0}, 5, seed=2), "m-a")
    result = compare_runs(load_run(_write_run(tmp_path, "r3", _battles(STRENGTH, 5, seed=1))),
                          load_run(_write_run(tmp_path, "r4", five)), rounds=40, categories=False)
    assert all(r["ci_low"] is not None for r in result["models"])


def test_flip_links_open_the_battle_of_the_judge_that_changed(tmp_path: Path) -> None:
    """Two judges per battle; only judge-y's verdicts on m-a change: each flip links judge-y's battle (the second
    of the pair's battles on that question in both files), not judge-x's unchanged one."""
    base = _battles(STRENGTH, 40, seed=1)
    moved = _battles({**STRENGTH, "m-a": 3.0}, 40, seed=2)

    def two_judges(rows_y: list[dict]) -> list[dict]:
        out = []
        for x, y in zip(base, rows_y):
            out += [{**x, "judge": "judge-x"}, {**y, "judge": "judge-y"}]
        return out

    def run(name: str, rows: list[dict]) -> Path:
        path = _write_run(tmp_path, name, rows)
        (path / "battles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    new_y = [m if "m-a" in (b["model_a"], b["model_b"]) else b for b, m in zip(base, moved)]
    old, new = run("r1", two_judges(base)), run("r2", two_judges(new_y))
    result = compare_runs(load_run(old), load_run(new), rounds=60, categories=False)
    assert result["better"] == ["m-a"]
    listed = result["why"]["m-a"]["flips"]["listed"]
    assert listed
    for flip in listed:
        for key in ("old_link", "new_link"):
            assert parse_qs(urlsplit(flip[key]).query)["battle"] == ["2"], flip
