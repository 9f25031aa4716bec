"""MT-bench fidelity: every turn's reference up to the judged turn, and the self-answer template (real servers)."""
from __future__ import annotations

import json
import re

import pytest
from conftest import read_jsonl, write_config
from openai_server import FakeOpenAI

from arena.config import JudgeConfig, load_config
from arena.errors import ArenaError
from arena.pipeline import run_pipeline
from arena.questions import Question
from judges.tasks import build_prompt, build_tasks, judgment_key
from judges.templates import template_hash

MATH2 = {"question_id": "m2", "category": "math", "turns": ["What is 17 * 23?", "Now divide it by 17."],
         "reference": ["REF-ONE 17 * 23 = 391", "REF-TWO 391 / 17 = 23"]}
WRITING2 = {"question_id": "w2", "category": "writing", "turns": ["Write a haiku.", "Make it sadder."]}


def _questions(tmp_path, *records):
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _run(tmp_path, questions, cands, names, judge_srv, **judge):
    """Run the pipeline with candidates `names` on `cands` and the judge on `judge_srv`."""
    cands_cfg = [{"name": n, "backend": "openai", "model": n, "base_url": cands.base_url} for n in names]
    judge = {"mode": "pairwise", "model": "judge-model", "base_url": judge_srv.base_url, **judge}
    cfg = write_config(tmp_path, questions, cands_cfg, judge=judge, rating={"bootstrap": 10})
    return run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)


def _tasks(mode: str, reference: list[str]):
    cfg = JudgeConfig(mode=mode)
    q = Question("m2", list(MATH2["turns"]), "math", reference)
    answers = {m: {q.qid: [f"{m} says 391", f"{m} says 23"]} for m in ("x", "y")}
    return cfg, build_tasks(cfg, [q], answers, ["x", "y"])[0]


def _references_block(user: str) -> str:
    return user.split("<<<REFERENCE ANSWERS START>>>")[1].split("<<<REFERENCE ANSWERS END>>>")[0]


@pytest.mark.parametrize("mode", ["pairwise", "single"])
def test_turn_two_shows_both_turns_references_in_order_turn_one_only_the_first(mode):
    cfg, tasks = _tasks(mode, list(MATH2["reference"]))
    by_turn = {t.turn: build_prompt(cfg, t) for t in tasks if t.order == "AB"}
    name2, p2 = by_turn[2]
    assert name2.endswith("_multiturn_ref")
    block = _references_block(p2.user)
    assert re.search(r"<<<REFERENCE FOR TURN 1>>>\nREF-ONE 17 \* 23 = 391\n\n"
                     r"<<<REFERENCE FOR TURN 2>>>\nREF-TWO 391 / 17 = 23\n$", block)
    name1, p1 = by_turn[1]
    assert name1.endswith("_ref") and "REF-ONE" in p1.user and "REF-TWO" not in p1.user


def test_turn_two_cache_key_covers_the_earlier_turns_reference():
    cfg, tasks = _tasks("pairwise", list(MATH2["reference"]))
    _, other = _tasks("pairwise", ["REF-ONE changed", MATH2["reference"][1]])
    ident = {"model": "judge"}
    keys = [{t.turn: judgment_key(ident, cfg, t, build_prompt(cfg, t)[0]) for t in ts if t.order == "AB"}
            for ts in (tasks, other)]
    assert keys[0][2] != keys[1][2]  # turn 2's verdict depended on the turn-1 reference it was shown
    assert keys[0][1] != keys[1][1]


def test_judge_server_receives_both_references_for_turn_two(tmp_path, fake_openai):
    questions = _questions(tmp_path, MATH2)
    with FakeOpenAI(reply=lambda req: "Both agree with the reference. [[A=B]]") as j:
        ctx = _run(tmp_path, questions, fake_openai, ("x", "y"), j)
        sent = [r["messages"][-1]["content"] for r in j.requests]
    turn2 = [u for u in sent if "<<<FINAL USER MESSAGE START>>>" in u]
    turn1 = [u for u in sent if u not in turn2]
    assert len(turn2) == 2 and len(turn1) == 2  # both orders of each turn
    for user in turn2:
        block = _references_block(user)
        assert block.index("<<<REFERENCE FOR TURN 1>>>\nREF-ONE") < block.index("<<<REFERENCE FOR TURN 2>>>\nREF-TWO")
    assert all("REF-ONE" in u and "REF-TWO" not in u for u in turn1)
    recs = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert {(r["turn"], r["template"]) for r in recs} == {(1, "pair_ref"), (2, "pair_multiturn_ref")}


@pytest.mark.parametrize(("judge", "message"), [
    ({"template": "bogus"}, "template"),
    ({"template": "self-answer", "mode": "single"}, "self-answer"),
])
def test_bad_template_settings_are_rejected(tmp_path, fake_openai, judge, message):
    questions = _questions(tmp_path, WRITING2)
    cfg = write_config(tmp_path, questions, [{"name": "x", "backend": "openai", "model": "x",
                                              "base_url": fake_openai.base_url}],
                       judge={"mode": "pairwise", "model": "j", "base_url": fake_openai.base_url, **judge})
    with pytest.raises(ArenaError, match=message):
        load_config(cfg)


def _own_answer_judge(req):
    user = req["messages"][-1]["content"]
    answer_a = user.split("<<<ANSWER A START>>>\n")[1].split("\n<<<ANSWER A END>>>")[0]
    own = "My own answer: a sad haiku. [[not a verdict]]"
    return f"{own}\nAnswer A vs mine: fine.\n[[{'A>B' if 'from good' in answer_a else 'B>A'}]]"


@pytest.mark.parametrize("mode", ["pairwise", "baseline"])
def test_self_answer_template_end_to_end(tmp_path, fake_openai, mode):
    questions = _questions(tmp_path, WRITING2, MATH2)
    extra = {"baseline": "bad"} if mode == "baseline" else {}
    with FakeOpenAI(reply=_own_answer_judge) as j:
        ctx = _run(tmp_path, questions, fake_openai, ("bad", "good"), j, mode=mode, template="self-answer", **extra)
        sent = [r["messages"][-1]["content"] for r in j.requests]
    assert sum("Step 1. Write your own answer" in u for u in sent) == 4  # the writing question, 2 turns x 2 orders
    recs = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert {r["status"] for r in recs} == {"ok"} and len(recs) == 8
    names = {(r["question_id"], r["turn"]): r["template"] for r in recs}
    # the math question has references: a known-correct reference is used instead of the judge's own answer
    assert names == {("w2", 1): "pair_self", ("w2", 2): "pair_multiturn_self",
                     ("m2", 1): "pair_ref", ("m2", 2): "pair_multiturn_ref"}
    assert all(r["template_hash"] == template_hash(r["template"], "5way") for r in recs)
    assert len({r["template_hash"] for r in recs}) == 4
    battles = read_jsonl(ctx.run.path / "battles.jsonl")
    wins = [b for b in battles if b["question_id"] == "w2"]
    assert len(wins) == 2 and all(b["winner"] == ("model_b" if b["model_a"] == "bad" else "model_a")
                                  for b in wins)


def test_self_answer_reply_echoing_only_the_examples_is_unparsed(tmp_path, fake_openai):
    def judge(req):
        user = req["messages"][-1]["content"]
        return "My own answer first. Then the rules:\n" + user[user.index("End your reply with your final"):]

    questions = _questions(tmp_path, WRITING2)
    with FakeOpenAI(reply=judge) as j:
        ctx = _run(tmp_path, questions, fake_openai, ("bad", "good"), j, template="self-answer", verdict="3way")
    recs = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert len(recs) == 4 and {r["status"] for r in recs} == {"unparsed"}
    assert {r["template"] for r in recs} == {"pair_self", "pair_multiturn_self"}


def test_default_template_cache_survives_the_new_setting(tmp_path, fake_openai):
    questions = _questions(tmp_path, WRITING2)
    with FakeOpenAI(reply=lambda req: "[[A=B]]") as j:
        _run(tmp_path, questions, fake_openai, ("bad", "good"), j)
        first = len(j.requests)
        _run(tmp_path, questions, fake_openai, ("bad", "good"), j, template="default")
        assert len(j.requests) == first  # same prompts, same keys: all cached
        _run(tmp_path, questions, fake_openai, ("bad", "good"), j, template="self-answer")
        assert len(j.requests) == first + 4  # a new template means new judgments
