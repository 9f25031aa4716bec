"""Dry run: zero judge requests, reproducible verdicts, and a cost estimate that matches the real run."""
from __future__ import annotations

import json
import math

from arena.config import load_config
from arena.pipeline import run_pipeline
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI
from test_judge_stage import _cands, _judge, prefer

PRICE = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}


def _run(cfg, dry_run):
    return run_pipeline(load_config(cfg), dry_run=dry_run, show_progress=False, log=lambda s: None)


def test_dry_run_makes_no_judge_request_and_is_reproducible(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=prefer("good")) as judge:
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("good", "bad", "ugly")),
                           judge=_judge(judge, price=PRICE, seed=7), rating={"bootstrap": 10})
        ctx1 = _run(cfg, True)
        assert judge.requests == []
        assert len(fake_openai.requests) == 15  # answers are generated for real
        (tmp_path / "other").mkdir()  # a second workspace: nothing cached, same seed
        cfg2 = write_config(tmp_path / "other", questions_file, _cands(fake_openai, ("good", "bad", "ugly")),
                            judge=_judge(judge, price=PRICE, seed=7), rating={"bootstrap": 10})
        ctx2 = _run(cfg2, True)
        assert judge.requests == []
    b1, b2 = read_jsonl(ctx1.run.path / "battles.jsonl"), read_jsonl(ctx2.run.path / "battles.jsonl")
    strip = lambda bs: [(b["question_id"], b["turn"], b["model_a"], b["model_b"], b["winner"]) for b in bs]  # noqa
    assert strip(b1) == strip(b2) and len(b1) == 15
    labels = {r["label"] for r in read_jsonl(ctx1.run.path / "judgments.jsonl")}
    assert {"A=B"} <= labels and len(labels) >= 4  # ties and other verdict kinds are drawn
    recs = read_jsonl(ctx1.run.path / "judgments.jsonl")
    assert all(r["dry_run"] and r["raw"].startswith("[DRY RUN") for r in recs)
    assert (ctx1.run.path / "leaderboard.json").exists()
    # dry-run verdicts never land in the real judge's cache
    assert not (tmp_path / "ws" / "judgments" / "judge-model").exists()


def test_estimate_matches_the_real_runs_prompts(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=prefer("good")) as judge:
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai),
                           judge=_judge(judge, price=PRICE, expected_output_tokens=12), rating={"bootstrap": 10})
        est = _run(cfg, True).run.info["stages"]["judge"]["estimate"]
        assert judge.requests == [] and est["calls"] == 10
        _run(cfg, False)
        assert len(judge.requests) == 10
    chars = sum(len(m["content"]) for r in judge.requests for m in r["messages"])
    assert est["prompt_chars"] == chars  # the estimate is made on exactly the prompts the real run sent
    assert est["prompt_tokens"] == sum(math.ceil(sum(len(m["content"]) for m in r["messages"]) / 4)
                                       for r in judge.requests)
    assert est["cost_usd"] == round((est["prompt_tokens"] * 3.0 + 10 * 12 * 15.0) / 1e6, 4)


def test_estimate_never_counts_more_output_than_max_tokens(tmp_path, questions_file, fake_openai):
    """A reply cannot be longer than judge.max_tokens: expected_output_tokens above it is capped, and said."""
    cfg = write_config(tmp_path, questions_file, _cands(fake_openai),
                       judge=_judge(fake_openai, price=PRICE, expected_output_tokens=400, max_tokens=256),
                       rating={"bootstrap": 10})
    est = _run(cfg, True).run.info["stages"]["judge"]["estimate"]
    assert est["calls"] == 10 and est["completion_tokens"] == 10 * 256
    assert est["cost_usd"] == round((est["prompt_tokens"] * 3.0 + 10 * 256 * 15.0) / 1e6, 4)
    assert "256 output tokens per call (judge.max_tokens)" in est["method"]


def test_calibrated_estimate_within_ten_percent_of_real_usage(tmp_path, questions_file, fake_openai):
    """After a real run, the dry run for a new model uses this judge's measured characters per token."""
    with FakeOpenAI(reply=prefer("good")) as judge:
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge=_judge(judge, price=PRICE),
                           rating={"bootstrap": 10})
        _run(cfg, False)  # the fake judge counts words as tokens: nothing like 4 characters per token
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("good", "bad", "new")),
                           judge=_judge(judge, price=PRICE), rating={"bootstrap": 10})
        est = _run(cfg, True).run.info["stages"]["judge"]["estimate"]
        n = len(judge.requests)
        real = _run(cfg, False).run.info["stages"]["judge"]
    new = [r for r in read_jsonl(tmp_path / "ws" / "judgments" / "judge-model" / "pairwise.jsonl")][n:]
    real_prompt = sum(r["prompt_tokens"] for r in new)
    real_out = sum(r["completion_tokens"] for r in new)
    assert est["calls"] == len(new) == real["new_calls"] == 20
    assert abs(est["prompt_tokens"] - real_prompt) / real_prompt < 0.10
    assert abs(est["completion_tokens"] - real_out) / real_out < 0.10
    real_cost = sum(r["cost_usd"] for r in new)
    assert abs(est["cost_usd"] - real_cost) / real_cost < 0.10
    assert "calibrated on 10 earlier calls" in est["method"]


def test_estimate_counts_a_prompt_asked_once_once(tmp_path, questions_file, fake_openai):
    # "twin" answers exactly like "good": their two orders are one prompt, which the real run asks once
    fake_openai.reply = lambda body: "an answer from good " if body["model"] in ("good", "twin") else "from bad "
    with FakeOpenAI(reply=prefer("good")) as judge:
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai, ("good", "twin", "bad")),
                           judge=_judge(judge, price=PRICE), rating={"bootstrap": 10})
        est = _run(cfg, True).run.info["stages"]["judge"]["estimate"]
        _run(cfg, False)
        sent = judge.requests
    # 5 judged turns x (good-bad = twin-bad in 2 orders, good-twin's 2 orders one prompt): 15 of 30 games
    assert len(sent) == 15 and len({json.dumps(r["messages"]) for r in sent}) == 15
    assert est["calls"] == len(sent)
    assert est["prompt_chars"] == sum(len(m["content"]) for r in sent for m in r["messages"])


def test_a_dry_run_judge_kind_marks_the_run_a_dry_run(tmp_path, questions_file, fake_openai):
    from viz.data import list_runs

    panel = [{"name": "rng1", "kind": "dry-run"}, {"name": "rng2", "kind": "dry-run", "seed": 3}]
    for name, judge in [("single", {"mode": "pairwise", "kind": "dry-run"}),
                        ("panel", {"mode": "pairwise", "name": "rngs", "panel": panel, "aggregate": "majority"})]:
        (tmp_path / name).mkdir()
        cfg = write_config(tmp_path / name, questions_file, _cands(fake_openai), judge=judge, rating={"bootstrap": 10})
        info = _run(cfg, False).run.info
        assert info["config"]["dry_run"] is True  # random verdicts: the app warns and History leaves it out
        assert info["stages"]["judge"]["dry_run"] is True
        (run,) = list_runs(tmp_path / name / "ws")
        assert run.dry_run


def test_a_dry_run_says_so_in_arena_runs_and_arena_leaderboard(tmp_path, questions_file, fake_openai, capsys):
    from arena.cli import main
    from arena.interop.leaderboard import run_boards

    cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge={"mode": "pairwise", "model": "gpt-4o"},
                       rating={"bootstrap": 10})
    ctx = _run(cfg, True)
    assert main(["runs", str(tmp_path / "ws")]) == 0
    assert "completed (dry run)" in capsys.readouterr().out
    boards = run_boards(ctx.run.path)
    assert boards and all(b.notes[0].startswith("DRY RUN: the verdicts were drawn at random") for b in boards)


def test_a_dry_runs_leaderboard_files_and_printed_boards_say_so_first(tmp_path, questions_file, fake_openai, capsys):
    """The note comes before the numbers in the text and markdown boards; CSV output stays plain CSV and the
    note goes to stderr; the run's own leaderboard.json / .csv carry a dry_run flag (a real run's do not)."""
    import csv
    import io

    from arena.cli import main

    cfg = write_config(tmp_path, questions_file, _cands(fake_openai), judge={"mode": "pairwise", "model": "gpt-4o"},
                       rating={"bootstrap": 10})
    run = _run(cfg, True).run.path
    capsys.readouterr()
    assert main(["leaderboard", str(run), "--bootstrap", "10"]) == 0
    out = capsys.readouterr().out
    assert out.index("note: DRY RUN") < out.index("\nmodel ")
    assert main(["leaderboard", str(run), "--bootstrap", "10", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.index("**DRY RUN") < out.index("| ")
    assert main(["leaderboard", str(run), "--bootstrap", "10", "--format", "csv"]) == 0
    got = capsys.readouterr()
    assert "DRY RUN" not in got.out and "DRY RUN" in got.err
    rows = list(csv.DictReader(io.StringIO(got.out)))
    assert rows and all(r["model"] for r in rows)
    board = json.loads((run / "leaderboard.json").read_text())
    assert board["dry_run"] is True and board["note"].startswith("DRY RUN")
    with open(run / "leaderboard.csv") as fh:
        assert all(r["dry_run"] == "True" for r in csv.DictReader(fh))
