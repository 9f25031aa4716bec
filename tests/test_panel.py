"""A panel of judges: each judges separately (own cache and statistics); majority and mean aggregation."""
from __future__ import annotations

import json

import pytest

from arena.config import load_config
from arena.errors import ConfigError
from arena.pipeline import run_pipeline
from conftest import read_jsonl, write_config
from judges.panel import aggregate_battles, aggregate_scores
from openai_server import FakeOpenAI
from test_judge_stage import _cands, prefer


def _b(judge, winner, prob=None, qid="q1"):
    b = {"question_id": qid, "turn": 1, "model_a": "x", "model_b": "y", "winner": winner, "judge": judge,
         "category": "c", "weight": 1.0}
    if prob is not None:
        b["prob_a"] = prob
    return b


def test_majority_and_mean_by_hand():
    per = {"j1": [_b("j1", "model_a")], "j2": [_b("j2", "model_a")], "j3": [_b("j3", "model_b")]}
    maj = aggregate_battles(per, "panel", "majority")
    assert [b["winner"] for b in maj] == ["model_a"] and maj[0]["judge"] == "panel"
    mean = aggregate_battles(per, "panel", "mean")
    assert mean[0]["prob_a"] == pytest.approx(2 / 3) and mean[0]["winner"] == "model_a"
    split = {"j1": [_b("j1", "model_a")], "j2": [_b("j2", "tie")], "j3": [_b("j3", "model_b")]}
    assert aggregate_battles(split, "p", "majority")[0]["winner"] == "tie"  # no majority
    soft = {"j1": [_b("j1", "model_b", prob=0.2)], "j2": [_b("j2", "model_a")]}
    assert aggregate_battles(soft, "p", "mean")[0]["prob_a"] == pytest.approx(0.6)
    # a judge that kept both games as separate battles votes once, with their mean
    sep = {"j1": [_b("j1", "model_a"), _b("j1", "model_b")], "j2": [_b("j2", "model_a")]}
    assert aggregate_battles(sep, "p", "mean")[0]["prob_a"] == pytest.approx(0.75)
    rows = {"j1": [{"question_id": 1, "turn": 1, "model": "x", "score": 8.0, "judge": "j1", "category": "c"}],
            "j2": [{"question_id": 1, "turn": 1, "model": "x", "score": 2.0, "judge": "j2", "category": "c"}],
            "j3": [{"question_id": 1, "turn": 1, "model": "x", "score": 3.0, "judge": "j3", "category": "c"}]}
    assert aggregate_scores(rows, "p", "mean")[0]["score"] == pytest.approx(13 / 3, abs=1e-4)
    assert aggregate_scores(rows, "p", "majority")[0]["score"] == 3.0  # the median


def test_panel_run_with_two_judge_servers(tmp_path, questions_file, fake_openai):
    with FakeOpenAI(reply=prefer("good")) as fair, FakeOpenAI(reply=lambda r: "A wins. [[A>B]]") as biased, \
            FakeOpenAI(reply=prefer("bad")) as contrarian:
        panel = [{"name": "fair", "model": "m1", "base_url": fair.base_url},
                 {"name": "biased", "model": "m2", "base_url": biased.base_url},
                 {"name": "contrarian", "model": "m3", "base_url": contrarian.base_url}]
        cfg = write_config(tmp_path, questions_file, _cands(fake_openai), rating={"bootstrap": 10},
                           judge={"mode": "pairwise", "name": "trio", "panel": panel, "aggregate": "mean"})
        ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
        assert len(fair.requests) == len(biased.requests) == len(contrarian.requests) == 10
    battles = read_jsonl(ctx.run.path / "battles.jsonl")
    # fair says good (1), biased gives ties (0.5), contrarian says bad (0): mean 0.5 -> tie
    assert len(battles) == 5 and all(b["judge"] == "trio" and b["prob_a"] == 0.5 for b in battles)
    assert battles[0]["panel_votes"] == {"fair": 1.0, "biased": 0.5, "contrarian": 0.0}
    keys = {r["key"] for r in read_jsonl(ctx.run.path / "judgments.jsonl")}
    assert len(battles[0]["games"]) == 6 and set(battles[0]["games"]) <= keys  # every judge's two games
    stats = json.loads((ctx.run.path / "judge_stats.json").read_text())
    assert set(stats) == {"fair", "biased", "contrarian"} and stats["biased"]["position_consistency"] == 0.0
    for name in ("fair", "biased", "contrarian"):  # each judge has its own cache and run folder
        assert (tmp_path / "ws" / "judgments" / name / "pairwise.jsonl").exists()
        assert (ctx.run.path / "judges" / name / "battles.jsonl").exists()
    assert ctx.run.info["stages"]["judge"]["new_calls"] == 30


def test_panel_member_errors_name_the_member(tmp_path, questions_file):
    cfg = write_config(tmp_path, questions_file, [{"name": "d", "backend": "demo"}],
                       judge={"panel": [{"name": "a", "modl": "x"}]})
    with pytest.raises(ConfigError, match=r"panel\[0\]: unknown key 'modl'; did you mean 'model'"):
        load_config(cfg)
    cfg = write_config(tmp_path, questions_file, [{"name": "d", "backend": "demo"}],
                       judge={"panel": [{"model": "x"}, {"model": "x"}]})
    with pytest.raises(ConfigError, match="distinct names"):
        load_config(cfg)


def test_strong_verdicts_keep_their_weight_and_count_in_the_vote():
    strong = {**_b("j1", "model_a"), "weight": 3.0}
    per = {"j1": [strong], "j2": [{**_b("j2", "model_a"), "weight": 3.0}], "j3": [_b("j3", "model_b")]}
    maj = aggregate_battles(per, "p", "majority")[0]
    assert (maj["winner"], maj["weight"]) == ("model_a", 3.0)  # as strong as the judges that carried it
    mean = aggregate_battles(per, "p", "mean")[0]
    assert mean["prob_a"] == pytest.approx(2 / 3) and mean["weight"] == pytest.approx(7 / 3)
    # j1 kept its games apart (inconsistent: separate): A>>B weighs 3 against its B>A's 1, so j1 says A
    sep = {"j1": [{**_b("j1", "model_a"), "weight": 3.0}, _b("j1", "model_b")], "j2": [_b("j2", "model_a")],
           "j3": [_b("j3", "model_b")]}
    maj = aggregate_battles(sep, "p", "majority")[0]
    assert maj["panel_votes"]["j1"] == 0.75 and (maj["winner"], maj["weight"]) == ("model_a", 1.5)
    split = {"j1": [{**_b("j1", "model_a"), "weight": 3.0}], "j2": [{**_b("j2", "model_b"), "weight": 3.0}]}
    assert aggregate_battles(split, "p", "majority")[0]["weight"] == 1.0  # no majority: a plain tie


def _graded(req: dict) -> str:
    """A position-consistent judge with strong and weak verdicts: good >> bad, good > meh, meh = bad, except
    on the sky question, where meh beats good."""
    from test_judge_stage import _between

    user = req["messages"][-1]["content"]
    rank = {"good": 2, "meh": 1, "bad": 0}
    side = [next(v for k, v in rank.items() if f"from {k} " in _between(user, f"<<<ANSWER {p} START>>>",
                                                                        f"<<<ANSWER {p} END>>>")) for p in "AB"]
    gap = side[0] - side[1]
    if "sky" in user and {*side} == {2, 1}:
        gap = -gap
    return "Verdict: [[" + {2: "A>>B", 1: "A>B", 0: "A=B", -1: "B>A", -2: "B>>A"}[gap] + "]]"


@pytest.mark.parametrize("method", ["majority", "mean"])
def test_a_panel_of_copies_of_one_judge_rates_as_that_judge(tmp_path, questions_file, fake_openai, method):
    cands = _cands(fake_openai, ("good", "meh", "bad"))
    ratings = {}
    with FakeOpenAI(reply=_graded) as one, FakeOpenAI(reply=_graded) as other:
        for name, judge in [("single", {"mode": "pairwise", "model": "j", "base_url": one.base_url,
                                        "verdict": "5way"}),
                            ("panel", {"mode": "pairwise", "name": "copies", "aggregate": method, "verdict": "5way",
                                       "panel": [{"name": "c1", "model": "j", "base_url": one.base_url},
                                                 {"name": "c2", "model": "j", "base_url": other.base_url}]})]:
            (tmp_path / name).mkdir()
            cfg = write_config(tmp_path / name, questions_file, cands, judge=judge, rating={"bootstrap": 20})
            ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
            lb = json.loads((ctx.run.path / "leaderboard.json").read_text())
            ratings[name] = {r["model"]: r["rating"] for r in lb["overall"]["table"]}
            weights = {b["weight"] for b in read_jsonl(ctx.run.path / "battles.jsonl")}
            assert weights == {1.0, 3.0}  # good >> bad weighs 3, for one judge and for the panel alike
    assert ratings["panel"] == pytest.approx(ratings["single"], abs=1e-6)
    assert ratings["single"]["good"] > ratings["single"]["meh"] > ratings["single"]["bad"]
