"""Question-level bootstrap (`--bootstrap-by question`): whole questions with all their battles are resampled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.config import load_config
from arena.errors import ArenaError, ConfigError
from arena.rating import RatingOptions
from arena.rating.bootstrap import bootstrap_bt
from arena.rating.bt import fit_lbfgs
from arena.rating.clusters import question_clusters
from arena.rating.counts import aggregate, aggregate_indexed
from arena.rating.diagnostics import mle_exists
from arena.rating.leaderboard import rate_battles

ROOT = Path(__file__).resolve().parents[1]
PRIOR = 0.01


def _tiny() -> pd.DataFrame:
    """Six questions over three models; each question holds a cycle, so every resample has a finite MLE."""
    rows = []
    extra = [("a", "b", 1.0), ("a", "c", 1.0), ("b", "c", 0.5), ("a", "b", 1.0), ("c", "b", 1.0), ("a", "c", 0.0)]
    for q, (x, y, s) in enumerate(extra):
        for ma, mb, score in [("a", "b", 1.0), ("b", "c", 1.0), ("c", "a", 1.0), (x, y, s)]:
            rows.append({"model_a": ma, "model_b": mb, "score": score, "weight": 1.0, "question_id": f"q{q}"})
    return pd.DataFrame(rows)


def _fit(battles: pd.DataFrame, models: list[str]) -> np.ndarray:
    """Textbook single BT fit of a battle list (weak prior only when the MLE does not exist)."""
    counts = aggregate(battles, models)
    s, n = counts.pair_stats()
    alpha = 0.0 if mle_exists(counts.n_models, counts.pair_i, counts.pair_j, s, n) else PRIOR
    return fit_lbfgs(counts.pair_i, counts.pair_j, s, n, counts.n_models, alpha)


def _reference(battles: pd.DataFrame, picks: np.ndarray) -> np.ndarray:
    """Slow reference: for each round, rebuild the battle list from the drawn questions and refit."""
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    qids = sorted(battles["question_id"].unique())
    by_q = {q: battles[battles["question_id"] == q] for q in qids}
    out = []
    for row in picks:
        drawn = pd.concat([by_q[qids[k]] for k in row], ignore_index=True)
        out.append(_fit(drawn, models))
    return np.array(out)


def _gaps(theta: np.ndarray) -> np.ndarray:
    """Strength differences to model 0 (the BT scale has a free shift)."""
    return theta[:, 1:] - theta[:, :1]


def _question_draws(battles: pd.DataFrame, rounds: int, seed: int) -> np.ndarray:
    """Theta draws of the product's question bootstrap (sufficient statistics, batched refit)."""
    counts, cells = aggregate_indexed(battles)
    clusters = question_clusters(battles)
    s, n = counts.pair_stats()
    theta = fit_lbfgs(counts.pair_i, counts.pair_j, s, n, counts.n_models, 0.0)
    matrix = clusters.cell_matrix(cells, len(counts.cell_count))
    return bootstrap_bt(counts, theta, rounds, seed, PRIOR, matrix).theta


def test_question_bootstrap_equals_textbook_resampling_round_by_round() -> None:
    battles = _tiny()
    rounds, seed = 40, 7  # one batch: drawn from child 0 of SeedSequence(seed)
    fast = _question_draws(battles, rounds, seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    multiplicity = rng.multinomial(6, np.full(6, 1 / 6), size=rounds)
    picks = np.array([np.repeat(np.arange(6), m) for m in multiplicity])
    slow = _reference(battles, picks)
    np.testing.assert_allclose(_gaps(fast), _gaps(slow), atol=1e-5)
    assert np.ptp(_gaps(fast)[:, 0]) > 0.1  # the rounds really differ


def test_question_bootstrap_matches_independent_textbook_quantiles() -> None:
    battles = _tiny()
    fast = _gaps(_question_draws(battles, 300, 1))
    picks = np.random.default_rng(12345).integers(0, 6, size=(300, 6))  # questions with replacement
    slow = _gaps(_reference(battles, picks))
    for q in (10, 50, 90):
        np.testing.assert_allclose(np.percentile(fast, q, axis=0), np.percentile(slow, q, axis=0), atol=0.25)


def _correlated(seed: int = 3) -> pd.DataFrame:
    """40 questions, 8 battles each between one pair; every battle of a question has the same winner."""
    rng = np.random.default_rng(seed)
    models = ["m0", "m1", "m2", "m3"]
    rows = []
    for q in range(40):
        i, j = rng.choice(4, 2, replace=False)
        score = float(rng.random() < 0.5 + 0.1 * (j - i))
        for _ in range(8):
            rows.append({"model_a": models[i], "model_b": models[j], "score": score, "weight": 1.0,
                         "question_id": f"q{q}"})
    return pd.DataFrame(rows)


def test_correlated_questions_give_wider_question_intervals() -> None:
    battles = _correlated()
    width = {}
    for by in ("battle", "question"):
        result = rate_battles(battles, RatingOptions(bootstrap=300, seed=0, bootstrap_by=by))
        width[by] = (result.table["ci_high"] - result.table["ci_low"]).to_numpy()
        assert result.bootstrap_by == by and f"resampling {by}s" in result.resampling
    # 8 copies of one outcome per question: the battle bootstrap counts them as independent evidence
    assert (width["question"] > 1.5 * width["battle"]).all(), width


def test_battles_without_question_id_are_own_clusters_and_warned() -> None:
    battles = _correlated()
    battles["question_id"] = battles["question_id"].astype(object)
    battles.loc[:7, "question_id"] = None
    clusters = question_clusters(battles)
    assert clusters.n_questions == 39 and clusters.n_unlabelled == 8 and clusters.n_clusters == 47
    result = rate_battles(battles, RatingOptions(bootstrap=50, bootstrap_by="question"))
    assert any("8 battle(s) have no question_id" in w for w in result.warnings)
    assert "8 battle(s) without a question_id" in result.resampling


def test_style_control_resamples_questions_too() -> None:
    battles = _correlated()
    battles["len_a"] = np.arange(len(battles)) % 7 * 50 + 100
    battles["len_b"] = 300
    widths = {}
    for by in ("battle", "question"):
        result = rate_battles(battles, RatingOptions(bootstrap=60, style_control=True, bootstrap_by=by))
        widths[by] = float((result.table["ci_high"] - result.table["ci_low"]).mean())
    assert widths["question"] > widths["battle"]


def test_options_reject_unknown_unit_and_elo() -> None:
    with pytest.raises(ArenaError, match="bootstrap-by"):
        RatingOptions(bootstrap_by="questions")
    with pytest.raises(ArenaError, match="Bradley-Terry"):
        RatingOptions(bootstrap_by="question", method="elo")


def test_config_key_is_validated(tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"question_id": "1", "turns": ["hi"]}) + "\n")
    base = f"questions:\n  path: {qfile}\ncandidates:\n  - name: a\n    backend: demo\nrating:\n"
    good = tmp_path / "good.yaml"
    good.write_text(base + "  bootstrap_by: question\n")
    assert load_config(good).rating.bootstrap_by == "question"
    bad = tmp_path / "bad.yaml"
    bad.write_text(base + "  bootstrap_by: prompts\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "bootstrap_by" in str(err.value) and str(bad) in str(err.value)


def test_cli_states_the_resampling(tmp_path: Path) -> None:
    path = tmp_path / "battles.jsonl"
    rows = _correlated().assign(winner=lambda d: np.where(d["score"] == 1.0, "model_a", "model_b"))
    path.write_text("".join(json.dumps({k: r[k] for k in ("model_a", "model_b", "winner", "question_id")}) + "\n"
                            for r in rows.to_dict("records")))

    def rate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "arena.rating.cli", "rate", str(path), "--bootstrap", "50",
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    table = rate("--bootstrap-by", "question")
    assert table.returncode == 0, table.stderr
    assert "CI 2.5-97.5% by question" in table.stdout.splitlines()[0]
    assert "intervals: 50 bootstrap rounds resampling questions (40 questions" in table.stdout
    out = tmp_path / "lb.json"
    done = rate("--bootstrap-by", "question", "--format", "json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert payload["options"]["bootstrap_by"] == "question" and payload["bootstrap_by"] == "question"
    assert "resampling questions" in payload["resampling"]
    default = rate()
    assert "by battle" in default.stdout.splitlines()[0] and "resampling battles" in default.stdout


def test_app_caption_states_the_resampling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest
    from viz_fixture import RUN_TIED, build_tied_workspace

    ws = build_tied_workspace(tmp_path / "ws")
    monkeypatch.setenv("ARENA_WORKSPACE", str(ws))
    path = ws / "runs" / RUN_TIED / "leaderboard.json"
    data = json.loads(path.read_text())

    def captions(section: dict) -> str:
        path.write_text(json.dumps({**data, "overall": section}))
        at = AppTest.from_file(str(ROOT / "viz" / "app.py"), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return "\n".join(c.value for c in at.caption)

    said = "200 bootstrap rounds resampling questions (40 questions, each with all its battles)"
    assert f"Intervals: {said}." in captions({**data["overall"], "resampling": said})
    old = {k: v for k, v in data["overall"].items() if k not in ("resampling", "bootstrap_by")}
    assert "Intervals:" not in captions(old)  # a leaderboard written before this says nothing: neither do we


def test_run_rating_stage_uses_the_config_key(tmp_path: Path, questions_file: Path, fake_openai,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import write_config
    from openai_server import FakeOpenAI

    from arena.cli import main

    cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("a", "b")]
    with FakeOpenAI(reply=lambda req: "Final verdict: [[A]]") as judge:
        jcfg = {"mode": "pairwise", "model": "j", "base_url": judge.base_url, "verdict": "3way"}
        cfg = write_config(tmp_path, questions_file, cands, judge=jcfg,
                           rating={"bootstrap": 20, "bootstrap_by": "question"})
        assert main(["run", "-c", str(cfg), "--no-progress"]) == 0
    board = json.loads(next((tmp_path / "ws" / "runs").iterdir()).joinpath("leaderboard.json").read_text())
    assert board["options"]["bootstrap_by"] == "question"
    assert board["overall"]["resampling"].startswith("20 bootstrap rounds resampling questions (4 questions")
    printed = capsys.readouterr().out  # the run's closing summary names the resampling too
    assert "leaderboard (Bradley-Terry, 20 bootstrap rounds resampling questions (4 questions" in printed
