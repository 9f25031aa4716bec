"""Bad records in a vote log, MT-bench imports (judge lists, the published JSON layout, a bad row) and the
`arena human battles` / `arena agreement` guards, through the real CLI on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_human_agreement import JUDGE, RUN, VOTES, battle, judged_run, vote

from arena.cli import main
from arena.human.agreement import agreement
from arena.human.votes import append_record, grade_record, votes_path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A workspace with one judged run (4 battles) and no votes yet."""
    return judged_run(tmp_path)


def log_of(run_dir: Path) -> Path:
    """The run's vote log path."""
    return votes_path(run_dir.parent.parent, RUN)


def write_bad_log(run_dir: Path) -> Path:
    """The example votes with five bad records between them (file lines 3 to 7)."""
    path = log_of(run_dir)
    for rec in VOTES[:2]:
        append_record(path, rec)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({**VOTES[2], "turn": "abc", "vote_id": "x1"}) + "\n")
        fh.write("not json at all\n")
        fh.write(json.dumps(["a", "list"]) + "\n")
        fh.write(json.dumps({**VOTES[3], "winner": "bogus", "vote_id": "x2"}) + "\n")
        fh.write(json.dumps({**VOTES[4], "model_a": ["a"], "vote_id": "x3"}) + "\n")
    for rec in VOTES[2:]:
        append_record(path, rec)
    return path


def test_bad_records_are_skipped_with_warnings_and_the_rest_used(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write_bad_log(run_dir)
    assert main(["agreement", str(run_dir), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    for line, field in ((3, "turn"), (6, "winner"), (7, "model_a")):
        assert f"votes.jsonl:{line}: field '{field}'" in err
    assert "votes.jsonl:4: not valid JSON" in err and "votes.jsonl:5: expected a JSON object" in err
    assert "5 bad record(s) skipped" in err
    result = json.loads(out)
    expected = agreement(JUDGE, VOTES)  # the good votes alone, computed directly
    assert result["judges"] == json.loads(json.dumps(expected["judges"])) and result["n_votes"] == len(VOTES)
    battles = tmp_path / "human.jsonl"
    assert main(["human", "battles", str(run_dir), "-o", str(battles)]) == 0
    rows = [json.loads(line) for line in battles.read_text().splitlines()]
    assert [(r["model_a"], r["model_b"], r["winner"]) for r in rows] == [
        (v["model_a"], v["model_b"], v["winner"]) for v in VOTES]
    assert main(["rate", str(battles), "--bootstrap", "5"]) == 0
    assert path.read_text().count("\n") == len(VOTES) + 5  # the log itself is never rewritten


def test_agreement_skips_a_judge_battle_with_an_unreadable_turn() -> None:
    judge = [*JUDGE, {**battle("q9", "a", "b", "model_a"), "turn": "abc"}]
    assert agreement(judge, VOTES)["judges"] == agreement(JUDGE, VOTES)["judges"]


def test_a_votes_null_category_does_not_override_the_judges() -> None:
    votes = [{**v, "category": None} for v in VOTES]
    cats = agreement(JUDGE, votes)["judges"]["gpt"]["categories"]
    assert set(cats) == {"math", "writing"}
    assert cats == agreement(JUDGE, VOTES)["judges"]["gpt"]["categories"]


def test_output_never_overwrites_the_vote_log_or_the_runs_battles(
    run_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    for rec in VOTES:
        append_record(log_of(run_dir), rec)
    log_before, battles_before = log_of(run_dir).read_bytes(), (run_dir / "battles.jsonl").read_bytes()
    attempts = [["human", "battles", str(run_dir), "-o", str(log_of(run_dir))],
                ["human", "battles", str(run_dir), "--pool", "-o", str(run_dir / "battles.jsonl")],
                ["agreement", str(run_dir), "-o", str(log_of(run_dir))]]
    for argv in attempts:
        assert main(argv) == 2
        assert "-o would overwrite" in capsys.readouterr().err
    assert log_of(run_dir).read_bytes() == log_before
    assert (run_dir / "battles.jsonl").read_bytes() == battles_before


def test_voter_with_pool_keeps_only_that_voters_votes(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for rec in VOTES:
        append_record(log_of(run_dir), rec)
    out = tmp_path / "pooled.jsonl"
    assert main(["human", "battles", str(run_dir), "--pool", "--voter", "h2", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["vote_id"] for r in rows if r["judge"] == "human"] == [v["vote_id"] for v in VOTES if v["voter"] == "h2"]
    assert sum(r["judge"] == "gpt" for r in rows) == len(JUDGE)
    assert main(["human", "battles", str(run_dir), "--pool", "--voter", "nobody"]) == 2
    assert "no active pairwise votes by nobody" in capsys.readouterr().err


def test_votes_of_another_run_or_a_grade_log_do_not_match(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    other = tmp_path / "other.jsonl"
    for rec in [vote("h1", "q77", "x", "y", "model_a"), vote("h2", "q78", "x", "y", "tie")]:
        append_record(other, rec)
    assert main(["agreement", str(run_dir), "--votes", str(other)]) == 2
    assert "does not match the run" in capsys.readouterr().err
    assert main(["human", "battles", str(run_dir), "--votes", str(other)]) == 2
    assert "does not match the run" in capsys.readouterr().err
    grades = tmp_path / "grades.jsonl"
    item = {"battle": "g1", "question_id": "q1", "turn": 1, "category": "math", "model": "a"}
    append_record(grades, grade_record("h1", item, 7))
    assert main(["agreement", str(run_dir), "--votes", str(grades)]) == 2
    assert "holds 1-10 grades, not pairwise votes" in capsys.readouterr().err


MT_ROWS = [
    {"question_id": 81, "model_a": "a", "model_b": "b", "winner": "model_b", "judge": "expert_0", "turn": 1},
    {"question_id": 81, "model_a": "a", "model_b": "b", "winner": "model_a", "judge": ["gpt-4", "pair-v2"],
     "turn": 1},
    {"question_id": 82, "model_a": "b", "model_b": "a", "winner": "tie", "judge": "author_3", "turn": 2},
    {"question_id": 82, "model_a": "b", "model_b": "a", "winner": "tie", "judge": "claude-v1", "turn": 2},
]


def imported(run_dir: Path) -> list[dict]:
    """The imported votes of the run's log."""
    path = log_of(run_dir)
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r.get("imported_from")]


def test_import_skips_llm_judges_named_by_a_list_or_not_like_a_human(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = tmp_path / "judgments.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in MT_ROWS))
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 0
    assert "2 human judgment(s) added" in capsys.readouterr().out
    assert [r["voter"] for r in imported(run_dir)] == ["expert_0", "author_3"]
    assert main(["human", "import-mtbench", str(source), str(run_dir), "--include-llm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 judgment(s), human and LLM judges (--include-llm), added") and "; 2 already there" in out
    assert [r["voter"] for r in imported(run_dir)][2:] == ["gpt-4", "claude-v1"]  # the list's first element


def test_import_reads_the_published_json_object_of_splits(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = tmp_path / "mt_bench_human_judgments.json"
    source.write_text(json.dumps({"human": [MT_ROWS[0], MT_ROWS[2]],
                                  "gpt4_pair": [{**MT_ROWS[0], "judge": "gpt4_pair", "winner": "model_a"}]}))
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 human judgment(s) added") and "; 1 LLM-judge row(s) skipped" in out
    assert [(r["voter"], r["winner"]) for r in imported(run_dir)] == [("expert_0", "model_b"), ("author_3", "tie")]
    source.write_text(json.dumps({"rows": 3}))
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 2
    assert '{"human": [...], "gpt4_pair": [...]}' in capsys.readouterr().err


def test_a_bad_row_imports_nothing(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "judgments.jsonl"
    source.write_text(json.dumps(MT_ROWS[0]) + "\n" + json.dumps({**MT_ROWS[2], "winner": "model_x"}) + "\n")
    assert main(["human", "import-mtbench", str(source), str(run_dir)]) == 2
    assert "judgments.jsonl:2: field 'winner'" in capsys.readouterr().err
    assert not log_of(run_dir).exists() or not imported(run_dir)
