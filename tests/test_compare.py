"""`arena compare`: hand-built weekly runs with a known truth, the paired interval against a slow textbook loop,
comparability reasons, exit codes and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from arena.cli import main
from arena.compare.paired import iter_multiplicities
from arena.compare.result import compare_runs
from arena.compare.runs import load_run
from arena.rating import RatingOptions
from arena.rating.leaderboard import rate_battles

MODELS = ["m-a", "m-b", "m-c", "m-d", "m-e"]
STRENGTH = {"m-a": 0.0, "m-b": 0.3, "m-c": -0.3, "m-d": 0.6, "m-e": -0.6}  # natural log-odds
FACTOR = 400 / np.log(10)


def _battles(strength: dict[str, float], n_questions: int, seed: int, cats: tuple[str, ...] = ("x", "y")) -> list[dict]:
    """One battle per pair and question, drawn from BT with the given strengths (own stream per pair)."""
    rows = []
    models = sorted(strength)
    for q in range(n_questions):
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                rng = np.random.default_rng([seed, q, i, models.index(b)])
                p = 1 / (1 + np.exp(strength[b] - strength[a]))
                winner = "model_a" if rng.random() < p else "model_b"
                rows.append({"question_id": f"q{q:03d}", "model_a": a, "model_b": b, "winner": winner,
                             "judge": "judge-x", "category": cats[q % len(cats)], "turn": 1, "mode": "pairwise"})
    return rows


def _write_run(root: Path, name: str, rows: list[dict], judge: str = "judge-x", run_name: str = "weekly",
               status: str = "completed", candidates: list[str] | None = None) -> Path:
    """A run folder with run.json (a minimal config) and battles.jsonl."""
    path = root / "runs" / name
    path.mkdir(parents=True)
    config = {"run_name": run_name, "judge": {"mode": "pairwise", "model": judge, "verdict": "3way"},
              "rating": {"anchor": None, "baseline": None}, "dry_run": False,
              **({"candidates": [{"name": c, "backend": "demo"} for c in candidates]} if candidates else {})}
    (path / "run.json").write_text(json.dumps({"run_id": name, "status": status, "config": config}))
    with (path / "battles.jsonl").open("w") as fh:
        for row in rows:
            fh.write(json.dumps({**row, "judge": judge}) + "\n")
    return path


def _changed(rows_old: list[dict], rows_new: list[dict], model: str) -> list[dict]:
    """Last week's battles, except those of `model`, which come from the new draw (cached judgments kept)."""
    keep = [r for r in rows_old if model not in (r["model_a"], r["model_b"])]
    return keep + [r for r in rows_new if model in (r["model_a"], r["model_b"])]


@pytest.fixture()
def weekly(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two weekly runs: m-a's answers got much better (+1.5 log-odds); every other judgment is cached."""
    old = _battles(STRENGTH, 80, seed=1)
    new = _changed(old, _battles({**STRENGTH, "m-a": 1.5}, 80, seed=2), "m-a")
    return tmp_path, _write_run(tmp_path, "20260101-000000-weekly", old), _write_run(tmp_path, "20260108-000000-weekly", new)


def test_changed_model_is_better_and_only_it(weekly: tuple[Path, Path, Path]) -> None:
    _, old, new = weekly
    result = compare_runs(load_run(old), load_run(new), rounds=200, seed=0)
    verdicts = {r["model"]: r["verdict"] for r in result["models"]}
    assert result["comparable"]
    assert verdicts == {"m-a": "better", "m-b": "no detectable change", "m-c": "no detectable change",
                        "m-d": "no detectable change", "m-e": "no detectable change"}
    row = next(r for r in result["models"] if r["model"] == "m-a")
    assert row["ci_low"] < 1.5 * FACTOR < row["ci_high"] and row["change"] > 150
    assert row["old_rank"] > row["new_rank"] == 1 and row["rank_change"] > 0
    assert result["better"] == ["m-a"] and result["worse"] == [] and result["summary"] == "improvement"
    assert all(r["new_rating"] - r["old_rating"] == pytest.approx(r["change"]) for r in result["models"])
    assert set(result["categories"]) == {"x", "y"}
    assert {r["model"]: r["verdict"] for r in result["categories"]["x"]["models"]}["m-a"] == "better"


def test_identical_runs_show_no_change(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 30, seed=3)
    old, new = _write_run(tmp_path, "r1", rows), _write_run(tmp_path, "r2", rows)
    result = compare_runs(load_run(old), load_run(new), rounds=50, seed=0)
    assert all(r["verdict"] == "no detectable change" and abs(r["change"]) < 1e-6 for r in result["models"])


def _textbook(old: pd.DataFrame, new: pd.DataFrame, rounds: int, seed: int, level: float) -> dict[str, tuple]:
    """Slow reference: per round, rebuild both runs' battle lists from the same drawn questions, rate each
    with rate_battles (no bootstrap), take new - old minus its median over the models, then percentiles when
    each tail holds 5 expected draws, else the full-data change plus or minus z SD of the draws."""
    qids = sorted(set(old["question_id"]) & set(new["question_id"]))
    by_q_old = {q: old[old["question_id"] == q] for q in qids}
    by_q_new = {q: new[new["question_id"] == q] for q in qids}
    options = RatingOptions(bootstrap=0)
    diffs = []
    for picks in iter_multiplicities(len(qids), rounds, seed):
        for row in picks:
            chosen = [q for q, k in zip(qids, row) for _ in range(k)]
            r_old = rate_battles(pd.concat([by_q_old[q] for q in chosen]), options).table.set_index("model")["rating"]
            r_new = rate_battles(pd.concat([by_q_new[q] for q in chosen]), options).table.set_index("model")["rating"]
            d = (r_new - r_old).sort_index()
            diffs.append((d - d.median()).to_numpy())
    draws = np.array(diffs)
    tail = (1 - level) / 2 * 100
    if tail / 100 * rounds >= 5 - 1e-9:
        low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    else:
        full_old = rate_battles(old, options).table.set_index("model")["rating"]
        full_new = rate_battles(new, options).table.set_index("model")["rating"]
        d = (full_new - full_old).sort_index()
        point = (d - d.median()).to_numpy()
        half = NormalDist().inv_cdf(1 - tail / 100) * draws.std(axis=0, ddof=1)
        low, high = point - half, point + half
    return {m: (lo, hi) for m, lo, hi in zip(sorted(STRENGTH), low, high)}


def test_paired_interval_matches_textbook_loop(tmp_path: Path) -> None:
    old_rows = _battles(STRENGTH, 12, seed=4)
    new_rows = _changed(old_rows, _battles({**STRENGTH, "m-c": 0.5}, 12, seed=5), "m-c")
    old, new = load_run(_write_run(tmp_path, "r1", old_rows)), load_run(_write_run(tmp_path, "r2", new_rows))
    for rounds in (25, 100):  # 1.25 expected draws a tail (normal intervals), then 5 (percentiles)
        result = compare_runs(old, new, level=0.9, rounds=rounds, seed=7, categories=False, adjust=False)
        assert result["intervals"].startswith("normal" if rounds == 25 else "percentiles")
        reference = _textbook(old.battles, new.battles, rounds, 7, 0.9)
        for row in result["models"]:
            assert row["ci_low"] == pytest.approx(reference[row["model"]][0], abs=1e-3)
            assert row["ci_high"] == pytest.approx(reference[row["model"]][1], abs=1e-3)


def test_different_judge_is_not_comparable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _battles(STRENGTH, 10, seed=1)
    old = _write_run(tmp_path, "r1", rows, judge="gpt-4o")
    new = _write_run(tmp_path, "r2", rows, judge="qwen-max")
    assert main(["compare", str(old), str(new), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not out["comparable"] and out["models"] == [] and out["summary"] == "not comparable"
    assert any("different judge" in r and "gpt-4o" in r and "qwen-max" in r for r in out["reasons"])
    assert main(["compare", str(old), str(new), "--strict"]) == 5
    assert "different judge" in capsys.readouterr().err
    saved = json.loads((new / "compare.json").read_text())
    assert saved["comparable"] is False and saved["schema_version"] == 1
    assert main(["compare", str(old), str(new), "--force", "--rounds", "20", "--format", "json"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert forced["summary"] == "not comparable (forced)" and len(forced["models"]) == 5
    assert main(["compare", str(old), str(new), "--force", "--rounds", "20"]) == 0
    assert "NOT COMPARABLE: different judge" in capsys.readouterr().out


def test_disjoint_questions_are_not_comparable(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 10, seed=1)
    moved = [{**r, "question_id": "other-" + r["question_id"]} for r in rows]
    result = compare_runs(load_run(_write_run(tmp_path, "r1", rows)), load_run(_write_run(tmp_path, "r2", moved)))
    assert result["reasons"] == ["different question sets: no question id is shared"]


def test_fail_on_regression_exit_code(weekly: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, old, new = weekly
    # swapped: the new run is last week's, so m-a got significantly worse
    assert main(["compare", str(new), str(old), "--rounds", "100", "--fail-on-regression", "m-a"]) == 4
    assert "m-a significantly worse" in capsys.readouterr().err
    assert main(["compare", str(new), str(old), "--rounds", "100", "--fail-on-regression", "m-b"]) == 0
    assert main(["compare", str(old), str(new), "--rounds", "100", "--fail-on-regression", "m-a"]) == 0
    verdicts = json.loads((new / "compare.json").read_text())
    assert verdicts["better"] == ["m-a"] and (new / "report.md").read_text().count("m-a") >= 2


def test_workspace_picks_latest_two_of_the_series(weekly: tuple[Path, Path, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, _, new = weekly
    _write_run(root, "20260109-000000-other", _battles(STRENGTH, 5, seed=9), run_name="other")
    _write_run(root, "20260110-000000-weekly", _battles(STRENGTH, 80, seed=1))
    assert main(["compare", str(root), "--rounds", "20", "--no-categories", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["old_run"]["run_id"] == new.name and out["new_run"]["run_id"] == "20260110-000000-weekly"
    assert "latest run of series" in out["picked"]


def test_an_unfinished_attempt_is_not_last_week(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Week 2 ended partial (the judge failed half way) and was run again: the re-run continues it, so the
    default pair is the re-run against week 1, and a regression there fails the gate."""
    week1 = _battles({**STRENGTH, "m-a": 1.5}, 80, seed=1)
    week2 = _changed(week1, _battles(STRENGTH, 80, seed=2), "m-a")  # m-a got much worse
    _write_run(tmp_path, "20260101-000000-weekly", week1)
    _write_run(tmp_path, "20260108-000000-weekly", week2[: len(week2) // 2], status="partial")
    _write_run(tmp_path, "20260108-010000-weekly", week2)
    assert main(["compare", str(tmp_path), "--rounds", "100", "--no-categories", "--format", "json",
                 "--fail-on-regression", "m-a"]) == 4
    out = json.loads(capsys.readouterr().out)
    assert out["old_run"]["run_id"] == "20260101-000000-weekly"
    assert out["new_run"]["run_id"] == "20260108-010000-weekly" and out["worse"] == ["m-a"]
    assert "against the previous completed one" in out["picked"]
    assert "1 unfinished run skipped (20260108-000000-weekly: partial)" in out["picked"]


def test_a_configured_model_without_battles_is_not_said_to_have_left(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Every judgment of m-e failed in the new run: it did not leave the arena, it was not rated; the gate on it
    says so (and fails) rather than calling the model unknown."""
    old_rows = _battles(STRENGTH, 40, seed=1)
    new_rows = [r for r in old_rows if "m-e" not in (r["model_a"], r["model_b"])]
    old = _write_run(tmp_path, "r1", old_rows)
    new = _write_run(tmp_path, "r2", new_rows, candidates=sorted(STRENGTH))
    result = compare_runs(load_run(old), load_run(new), rounds=20, seed=0)
    assert result["left"] == [] and [e["model"] for e in result["unrated"]] == ["m-e"]
    assert main(["compare", str(old), str(new), "--rounds", "20", "--no-categories",
                 "--fail-on-regression", "m-e"]) == 2
    captured = capsys.readouterr()
    assert "not rated in the new run (configured, but no battles" in captured.out
    assert "the new run was configured with the model but has no battles for it" in captured.err


@pytest.mark.parametrize("case", ["missing", "no-battles", "one-run", "same-run", "level"])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    run = _write_run(tmp_path, "r1", _battles(STRENGTH, 3, seed=1))
    if case == "missing":
        args, expect = [str(run), str(tmp_path / "nope")], "no such run folder"
    elif case == "no-battles":
        (run / "battles.jsonl").unlink()
        args, expect = [str(run), str(_write_run(tmp_path, "r2", _battles(STRENGTH, 3, seed=1)))], "has no battles.jsonl"
    elif case == "same-run":
        args, expect = [str(run), str(run)], "the same run given twice"
    elif case == "level":
        args, expect = [str(run), str(run), "--level", "95"], "--level must be in [0.5, 1)"
    else:
        args, expect = [str(tmp_path)], "only judged run of its series"
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expect in err and "Traceback" not in err


def test_intervals_cover_the_true_change_at_about_the_stated_rate(tmp_path: Path) -> None:
    """Simulated weekly pairs (m-a +0.5 log-odds, the rest cached): per-model 80% intervals cover the truth
    (+0.5 * 400/ln10 for m-a, 0 for the others on the median scale) about 80% of the time; an unpaired or
    mis-centred interval would miss this band (benchmarks/compare_coverage.py runs the larger simulation)."""
    covered = []
    for sim in range(25):
        old = _battles(STRENGTH, 40, seed=100 + sim)
        new = _changed(old, _battles({**STRENGTH, "m-a": 0.5}, 40, seed=200 + sim), "m-a")
        result = compare_runs(load_run(_write_run(tmp_path, f"o{sim}", old)), load_run(_write_run(tmp_path, f"n{sim}", new)),
                              level=0.8, rounds=100, seed=sim, categories=False, adjust=False, why=False)
        for row in result["models"]:
            truth = 0.5 * FACTOR if row["model"] == "m-a" else 0.0
            covered.append(row["ci_low"] <= truth <= row["ci_high"])
    assert 0.65 <= np.mean(covered) <= 0.93


def test_draws_do_not_depend_on_the_chunk_size() -> None:
    whole = np.vstack(list(iter_multiplicities(9, 50, seed=3, chunk=50)))
    pieces = np.vstack(list(iter_multiplicities(9, 50, seed=3, chunk=7)))
    assert (whole == pieces).all() and whole.shape == (50, 9) and (whole.sum(axis=1) == 9).all()


def test_a_category_with_one_model_is_skipped_not_fatal(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 20, seed=1)
    lonely = [{**r, "model_b": r["model_a"], "category": "solo", "question_id": "q000"} for r in rows[:3]]
    old, new = _write_run(tmp_path, "r1", rows + lonely), _write_run(tmp_path, "r2", rows + lonely)
    result = compare_runs(load_run(old), load_run(new), rounds=20)
    assert result["categories"]["solo"]["models"] == [] and "skipped" in result["categories"]["solo"]
    assert len(result["models"]) == 5


def test_many_models_get_normal_intervals_that_keep_the_family_level() -> None:
    """Bonferroni over 200 models at 95% puts each tail at 0.0125%: 0.06 of 500 draws. A percentile there is
    the extreme draw, and unchanged models got flagged far above the stated rate; the normal interval (change
    plus or minus z SD) keeps it. Simulated tables: true change 0, point estimate and its bootstrap draws from
    the same normal noise."""
    from scipy.stats import norm

    from arena.compare.paired import change_intervals
    from arena.compare.result import model_level
    from arena.rating.bootstrap import percentile_interval

    rng = np.random.default_rng(7)
    models, rounds, tables = 200, 500, 100
    level = model_level(0.95, models, adjust=True)
    flagged_normal = flagged_percentile = 0
    for _ in range(tables):
        sd = rng.uniform(5, 30, models)
        diff = rng.normal(0.0, sd)
        draws = diff + rng.normal(0.0, sd, (rounds, models))
        lows, highs, method = change_intervals(draws, diff, level)
        assert method.startswith("normal: change ± ")
        z = norm.ppf(1 - (1 - level) / 2)
        np.testing.assert_allclose(highs - diff, z * draws.std(axis=0, ddof=1))
        flagged_normal += bool(((lows > 0) | (highs < 0)).any())
        p_low, p_high = percentile_interval(draws, (100 * (1 - level) / 2, 100 * (1 + level) / 2))
        flagged_percentile += bool(((p_low > 0) | (p_high < 0)).any())
    assert flagged_normal / tables <= 0.12  # stated: at most 5% of tables flag any unchanged model
    assert flagged_percentile / tables >= 0.25  # what percentiles of 500 draws gave
    # each model at 95% alone: 12.5 expected draws a tail, and the percentiles stay
    few = model_level(0.95, 10, adjust=False)
    draws = rng.normal(0.0, 10.0, (rounds, 10))
    lows, highs, method = change_intervals(draws, np.zeros(10), few)
    assert method == "percentiles of each model's 500 bootstrap draws"
    np.testing.assert_allclose((lows, highs), percentile_interval(draws, (100 * (1 - few) / 2, 100 * (1 + few) / 2)))
    # a model in only 100 of the rounds decides, unless it gets no interval at all (then the others do)
    draws[:400, 3] = np.nan
    assert change_intervals(draws, np.zeros(10), few)[2].startswith("normal")
    assert "holds 2.5 expected draws of 100" in change_intervals(draws, np.zeros(10), few)[2]
    usable = np.arange(10) != 3
    assert change_intervals(draws, np.zeros(10), few, usable)[2] == "percentiles of each model's 500 bootstrap draws"


def test_terminal_table_keeps_changes_and_top_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strength = {f"w{k:02d}": 0.25 * k for k in range(12)}
    old_rows = _battles(strength, 12, seed=2)
    new_rows = _changed(old_rows, _battles({**strength, "w01": 4.0}, 12, seed=3), "w01")
    extra = {f"new{k:02d}": 0.0 for k in range(14)}
    entrants = [r for r in _battles({"w11": strength["w11"], **extra}, 1, seed=4) if r["model_a"] != "w11"]
    old = _write_run(tmp_path, "r1", old_rows)
    new = _write_run(tmp_path, "r2", new_rows + entrants)
    assert main(["compare", str(old), str(new), "--rounds", "60", "--no-categories", "--format", "json"]) == 0
    rated = json.loads(capsys.readouterr().out)["models"]
    verdicts = {r["model"]: r["verdict"] for r in rated}
    assert verdicts["w01"] == "better" and sum(v != "no detectable change" for v in verdicts.values()) == 1
    by_rating = [r["model"] for r in sorted(rated, key=lambda r: -r["new_rating"])]
    table = {}
    for rows in ("5", "0"):
        assert main(["compare", str(old), str(new), "--rounds", "60", "--no-categories", "--no-write",
                     "--rows", rows]) == 0
        lines = capsys.readouterr().out.splitlines()
        table[rows] = [ln.split()[0] for ln in lines if ln.split()[:1] and ln.split()[0] in strength]
        table[rows + "-text"] = "\n".join(lines)
    # rows 5: the one significant change and the best 4 others of the new ranking, best first
    top = [m for m in by_rating if m != "w01"][:4]
    assert table["5"] == [m for m in by_rating if m in {"w01", *top}] and len(table["5"]) == 5
    assert "(5 of 12 models shown: the 1 significant change and the top of the new ranking" in table["5-text"]
    assert "entered: new00, new01" in table["5-text"] and "new11 and 2 more" in table["5-text"]
    assert table["0"] == by_rating and "models shown" not in table["0-text"]
    assert "new13" in table["0-text"]
    assert main(["compare", str(old), str(new), "--rows", "-1"]) == 2
    assert "--rows must be >= 0" in capsys.readouterr().err


def test_judges_swapped_between_categories_are_not_comparable(tmp_path: Path) -> None:
    rows = _battles(STRENGTH, 10, seed=1)
    by_cat = [{**r, "judge": {"x": "judge-a", "y": "judge-b"}[r["category"]]} for r in rows]
    swapped = [{**r, "judge": {"x": "judge-b", "y": "judge-a"}[r["category"]]} for r in rows]
    same = load_run(_write_run(tmp_path, "r0", rows))  # _write_run sets one judge: rewrite the column below

    def run(name: str, battles: list[dict]) -> Path:
        path = _write_run(tmp_path, name, battles)
        (path / "battles.jsonl").write_text("".join(json.dumps(b) + "\n" for b in battles))
        return path

    old, new, again = run("r1", by_cat), run("r2", swapped), run("r3", by_cat)
    result = compare_runs(load_run(old), load_run(new), rounds=20, categories=False)
    assert not result["comparable"] and result["reasons"] == [
        "different judge per category: x: judge-a (old) vs judge-b (new); y: judge-b (old) vs judge-a (new)"]
    assert compare_runs(load_run(old), load_run(again), rounds=20, categories=False)["comparable"]
    assert compare_runs(same, load_run(_write_run(tmp_path, "r4", rows)), rounds=20, categories=False)["comparable"]


def test_workspace_whose_latest_run_is_alone_compares_the_newest_series_with_two_runs(
        weekly: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    root, old, new = weekly
    _write_run(root, "20260301-000000-single", _battles(STRENGTH, 5, seed=9), run_name="single")
    assert main(["compare", str(root), "--rounds", "20", "--no-categories", "--format", "json", "--no-write"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["old_run"]["run_id"], out["new_run"]["run_id"]) == (old.name, new.name)
    assert out["picked"].startswith("the latest run is alone in its series")


def test_a_failed_latest_run_with_an_empty_battles_file_is_passed_over(
        weekly: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The quick start without --dry-run on a machine that cannot reach the judge writes an empty battles file:
    the workspace's comparison is still the last two judged weeks, not an error about that run."""
    root, old, new = weekly
    failed = _write_run(root, "20260401-000000-weekly", [])
    info = json.loads((failed / "run.json").read_text())
    (failed / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    assert (failed / "battles.jsonl").read_text() == ""
    assert main(["compare", str(root), "--rounds", "20", "--no-categories", "--format", "json", "--no-write"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["old_run"]["run_id"], out["new_run"]["run_id"]) == (old.name, new.name)
