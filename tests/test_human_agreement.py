"""Human votes as battles for `arena rate`, judge-human agreement against a hand-worked example, and the
import of MT-bench's published human judgments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arena.cli import main
from arena.human.agreement import agreement, agreement_rows
from arena.human.items import battle_key
from arena.human.votes import append_record, votes_path, withdraw_record

RUN = "20250101-000000-week"


def battle(q: str, a: str, b: str, winner: str, judge: str = "gpt", category: str = "math") -> dict:
    return {"question_id": q, "model_a": a, "model_b": b, "winner": winner, "judge": judge, "category": category,
            "turn": 1}


def vote(voter: str, q: str, a: str, b: str, winner: str, category: str = "math", vid: str = "") -> dict:
    return {"kind": "vote", "voter": voter, "time": "2025-01-01T00:00:00Z", "battle": battle_key(q, 1, a, b),
            "judgments": [], "question_id": q, "turn": 1, "category": category, "model_a": a, "model_b": b,
            "shown": [a, b], "choice": "1", "winner": winner, "comment": "", "vote_id": vid or f"{voter}-{q}"}


# The hand-worked example (models a and b; "first" means a wins):
#   q1: judge a wins,  h1 a wins,  h2 b wins        q2: judge tie,  h1 a wins
#   q3: judge b wins,  h1 b wins,  h2 b wins        q4: judge a wins, h2 both bad (a tie)
JUDGE = [battle("q1", "a", "b", "model_a"), battle("q2", "b", "a", "tie"), battle("q3", "b", "a", "model_a"),
         battle("q4", "a", "b", "model_a", category="writing")]
VOTES = [vote("h1", "q1", "b", "a", "model_b"), vote("h2", "q1", "a", "b", "model_b"),
         vote("h1", "q2", "a", "b", "model_a"), vote("h1", "q3", "a", "b", "model_b"),
         vote("h2", "q3", "b", "a", "model_a"), vote("h2", "q4", "a", "b", "tie (bothbad)", "writing")]


def test_agreement_matches_the_hand_worked_example() -> None:
    result = agreement(JUDGE, VOTES)
    gpt = result["judges"]["gpt"]
    # 6 judge-human pairs: (f,f) (f,s) (t,f) (s,s) (s,s) (f,t) -> 3 equal
    assert gpt["with_ties"]["n"] == 6 and gpt["with_ties"]["agreement"] == pytest.approx(0.5)
    # po = 1/2, pe = (3*2 + 2*3 + 1*1) / 36 = 13/36 -> kappa = 5/23
    assert gpt["with_ties"]["kappa"] == pytest.approx(5 / 23)
    # without ties: (f,f) (f,s) (s,s) (s,s) -> 3/4; pe = .5*.25 + .5*.75 = .5 -> kappa = .5
    assert gpt["without_ties"] == {"n": 4, "agreement": pytest.approx(0.75), "kappa": pytest.approx(0.5)}
    assert gpt["confusion"]["matrix"] == [[1, 1, 1], [0, 2, 0], [1, 0, 0]]
    assert gpt["categories"]["writing"]["with_ties"] == {"n": 1, "agreement": 0.0, "kappa": 0.0}  # po = pe = 0
    assert gpt["categories"]["math"]["with_ties"]["agreement"] == pytest.approx(3 / 5)
    # inter-annotator: h1 vs h2 on q1 (f vs s) and q3 (s vs s)
    assert result["humans"]["with_ties"]["n"] == 2 and result["humans"]["with_ties"]["agreement"] == 0.5
    assert result["voter_pairs"]["h1 | h2"]["without_ties"]["agreement"] == 0.5
    rows = agreement_rows(result)
    assert [r["judge"] for r in rows] == ["gpt", "human (inter-annotator)"]
    again = agreement(JUDGE, [*VOTES, vote("h1", "q1", "a", "b", "model_b", vid="h1-q1-again")])  # h1: a, then b
    assert again["repeats"]["with_ties"] == {"n": 1, "agreement": 0.0, "kappa": 0.0}  # first, then second
    assert agreement_rows(again)[-1]["judge"] == "human (same voter, repeated votes)"


def judged_run(tmp_path: Path) -> Path:
    """A workspace with one judged run (4 battles) and no votes yet; returns the run folder."""
    run = tmp_path / "ws" / "runs" / RUN
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"run_id": RUN, "status": "completed"}))
    (run / "battles.jsonl").write_text("".join(json.dumps(b) + "\n" for b in JUDGE))
    return run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A workspace with one judged run (4 battles) and the example votes (one of them withdrawn)."""
    run = judged_run(tmp_path)
    path = votes_path(tmp_path / "ws", RUN)
    for rec in VOTES + [vote("h3", "q2", "a", "b", "model_b", vid="gone")]:
        append_record(path, rec)
    append_record(path, withdraw_record("h3", "gone"))
    return run


def test_human_battles_are_rated_by_arena_rate(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "human.jsonl"
    assert main(["human", "battles", str(run_dir), "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(VOTES) and {r["judge"] for r in rows} == {"human"}
    assert [(r["model_a"], r["model_b"], r["winner"]) for r in rows] == [
        (v["model_a"], v["model_b"], v["winner"]) for v in VOTES]  # the withdrawn vote is not a battle
    by_hand = tmp_path / "by_hand.jsonl"
    by_hand.write_text("".join(json.dumps({"model_a": v["model_a"], "model_b": v["model_b"], "winner": v["winner"]})
                               + "\n" for v in VOTES))
    ratings = []
    for path in (out, by_hand):
        capsys.readouterr()
        assert main(["rate", str(path), "--bootstrap", "20", "--format", "json"]) == 0
        table = json.loads(capsys.readouterr().out)["table"]
        ratings.append({r["model"]: r["rating"] for r in table})
    assert ratings[0] == pytest.approx(ratings[1]) and ratings[0]["b"] > ratings[0]["a"]
    pooled = tmp_path / "pooled.jsonl"
    assert main(["human", "battles", str(run_dir), "--pool", "-o", str(pooled)]) == 0
    judges = [json.loads(line)["judge"] for line in pooled.read_text().splitlines()]
    assert judges.count("gpt") == len(JUDGE) and judges.count("human") == len(VOTES)
    assert main(["rate", str(pooled), "--bootstrap", "10"]) == 0


def test_agreement_command_table_csv_json(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["agreement", str(run_dir)]) == 0
    table = capsys.readouterr().out
    assert "gpt" in table and "0.500" in table and "0.750" in table and "inter-annotator" in table
    assert main(["agreement", str(run_dir), "--format", "csv", "-o", str(tmp_path / "a.csv")]) == 0
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0].startswith("judge,n,agreement,kappa") and lines[1].startswith("gpt,6,0.5,")
    assert main(["agreement", str(run_dir), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["judges"]["gpt"]["without_ties"]["n"] == 4


def test_agreement_without_votes_says_how_to_vote(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "runs" / RUN
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    assert main(["agreement", str(run)]) == 2
    assert "nobody has voted" in capsys.readouterr().err


def test_import_mtbench_human_judgments(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [{"question_id": 81, "model_a": "a", "model_b": "b", "winner": "model_b", "judge": "expert_0", "turn": 1},
            {"question_id": 81, "model_a": "a", "model_b": "b", "winner": "model_a", "judge": "gpt4_pair", "turn": 1},
            {"question_id": 81, "model_a": "b", "model_b": "a", "winner": "tie", "judge": "author_2", "turn": 2}]
    source = tmp_path / "human.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "questions.jsonl").write_text(json.dumps({"question_id": 81, "category": "writing", "turns": ["x"]}))
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 0
    assert "2 human judgment(s) added" in capsys.readouterr().out
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 0  # idempotent
    again = capsys.readouterr().out
    assert again.startswith("0 human judgment(s) added") and "; 2 already there; 1 LLM-judge row(s) skipped" in again
    log = [json.loads(x) for x in votes_path(run_dir.parent.parent, RUN).read_text().splitlines()]
    imported = [r for r in log if r.get("imported_from")]
    assert [(r["voter"], r["question_id"], r["turn"], r["winner"]) for r in imported] == [
        ("expert_0", "81", 1, "model_b"), ("author_2", "81", 2, "tie")]
    assert {r["category"] for r in imported} == {"writing"}  # from the run's questions
    source.write_text(json.dumps({**rows[0], "winner": "model_c"}) + "\n")
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 2
    assert "human.jsonl:1: field 'winner'" in capsys.readouterr().err


def _pearson(xs: list[float], ys: list[float]) -> float:
    """Textbook Pearson correlation."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return cov / (sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)) ** 0.5


def _ranks(xs: list[float]) -> list[float]:
    """Average ranks (ties share the mean rank)."""
    return [sum(1 for y in xs if y < x) + (sum(1 for y in xs if y == x) + 1) / 2 for x in xs]


def test_grade_agreement_of_a_single_mode_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from arena.human.items import grade_key
    from arena.human.votes import grade_record

    run = tmp_path / "ws" / "runs" / RUN
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    scores = [("m1", "q1", 8.0), ("m2", "q1", 4.0), ("m1", "q2", 6.0)]
    (run / "scores.jsonl").write_text("".join(json.dumps(
        {"question_id": q, "model": m, "turn": 1, "score": s, "judge": "gpt"}) + "\n" for m, q, s in scores))
    path = votes_path(tmp_path / "ws", RUN)
    for voter, m, q, grade in [("h1", "m1", "q1", 7), ("h1", "m2", "q1", 4), ("h1", "m1", "q2", 9),
                               ("h2", "m1", "q1", 8)]:
        item = {"battle": grade_key(q, 1, m), "question_id": q, "turn": 1, "model": m}
        append_record(path, grade_record(voter, item, grade))
    assert main(["agreement", str(run), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    gpt = result["judges"]["gpt"]
    judge, human = [8, 8, 4, 6], [7, 8, 4, 9]  # every (judge score, human grade) pair of one answer
    assert gpt["n"] == 4 and gpt["mean_abs_diff"] == pytest.approx(1.0) and gpt["within_1"] == pytest.approx(0.75)
    assert gpt["pearson"] == pytest.approx(_pearson(judge, human))
    assert gpt["spearman"] == pytest.approx(_pearson(_ranks(judge), _ranks(human)))
    assert result["humans"] == {"n": 1, "pearson": None, "spearman": None, "mean_abs_diff": 1.0, "within_1": 1.0}
    assert main(["agreement", str(run)]) == 0
    assert "4 human grade(s) by 2 voter(s) on 3 answer(s)" in capsys.readouterr().out


def test_cohen_kappa_equals_scikit_learn_on_random_labels():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    from arena.human.agreement import cohen_kappa

    rng = np.random.default_rng(7)
    for _ in range(20):
        left = rng.choice(["first", "second", "tie"], size=30, p=[0.5, 0.3, 0.2])
        right = np.where(rng.random(30) < 0.6, left, rng.choice(["first", "second", "tie"], size=30))
        expected = sklearn_metrics.cohen_kappa_score(left, right)
        assert cohen_kappa(list(zip(left, right))) == pytest.approx(expected, abs=1e-12)
    assert cohen_kappa([("tie", "tie")] * 4) is None  # one label only: chance agreement is 1
