"""Judge task schedules and prompt choice: pairs, sampled opponents, orders, templates, JSON output."""
from __future__ import annotations

import json
from collections import Counter

from arena.config import JudgeConfig
from arena.questions import Question
from judges.tasks import build_prompt, build_tasks, schedule_pairs, template_name

MODELS = [f"m{i}" for i in range(6)]


def _q(i: int, cat: str = "writing", turns: int = 1, ref: bool = False) -> Question:
    return Question(f"q{i}", [f"turn {t} of q{i}" for t in range(turns)], cat,
                    [f"ref {t}" for t in range(turns)] if ref else None)


def _answers(qs):
    return {m: {q.qid: [f"{m} answer {t}" for t in range(len(q.turns))] for q in qs} for m in MODELS}


def test_all_pairs_and_both_orders():
    cfg = JudgeConfig(mode="pairwise")
    tasks, skipped = build_tasks(cfg, [_q(1)], _answers([_q(1)]), MODELS)
    assert len(tasks) == 15 * 2 and not skipped
    assert Counter(t.order for t in tasks) == {"AB": 15, "BA": 15}


def test_sampled_schedule_is_seeded_and_gives_each_model_its_opponents():
    cfg = JudgeConfig(mode="pairwise", pairs="sampled", opponents_per_question=2, seed=3)
    q = _q(1)
    pairs = schedule_pairs(cfg, MODELS, q)
    assert pairs == schedule_pairs(cfg, MODELS, q)  # same seed, same schedule
    degree = Counter(m for p in pairs for m in p)
    assert all(degree[m] >= 2 for m in MODELS) and len(pairs) < 15
    others = {tuple(schedule_pairs(cfg, MODELS, _q(i))) for i in range(10)}
    assert len(others) > 1  # different questions draw different opponents


def test_baseline_pairs_and_random_order():
    cfg = JudgeConfig(mode="baseline", baseline="m0", order="random", seed=1)
    qs = [_q(i) for i in range(40)]
    tasks, _ = build_tasks(cfg, qs, _answers(qs), MODELS)
    assert {(t.model_a, t.model_b) for t in tasks} == {("m0", m) for m in MODELS[1:]}
    orders = Counter(t.order for t in tasks)
    assert len(tasks) == 40 * 5 and 60 < orders["AB"] < 140  # one seeded random order per game


def test_missing_answers_are_skipped_and_reported():
    cfg = JudgeConfig(mode="pairwise")
    ans = _answers([_q(1)])
    del ans["m5"]["q1"]
    tasks, skipped = build_tasks(cfg, [_q(1)], ans, MODELS)
    assert len(tasks) == 10 * 2 and "m5" in skipped[0]


def test_templates_for_turns_and_references():
    cfg = JudgeConfig(mode="pairwise")
    math2 = _q(2, "math", turns=2, ref=True)
    tasks, _ = build_tasks(cfg, [math2], _answers([math2]), MODELS[:2])
    names = {(t.turn, template_name(cfg, t)) for t in tasks}
    assert names == {(1, "pair_ref"), (2, "pair_multiturn_ref")}
    t2 = next(t for t in tasks if t.turn == 2 and t.order == "BA")
    _, prompt = build_prompt(cfg, t2)
    # in BA order model m1 is shown as A: its own earlier answer is in conversation A
    conv_a = prompt.user.split("CONVERSATION WITH ASSISTANT A START>>>")[1].split("<<<CONVERSATION WITH")[0]
    assert "m1 answer 0" in conv_a and "m0 answer 0" not in conv_a
    writing = _q(3, "writing", ref=True)
    t, _ = build_tasks(cfg, [writing], _answers([writing]), MODELS[:2])
    assert template_name(cfg, t[0]) == "pair"  # references only for the reference categories


def test_json_output_sends_a_schema_and_parses_json(tmp_path, questions_file, fake_openai):
    from conftest import read_jsonl, write_config
    from openai_server import FakeOpenAI

    from arena.config import load_config
    from arena.pipeline import run_pipeline

    with FakeOpenAI(reply=lambda req: json.dumps({"reasoning": "B is clearer", "verdict": "B>A"})) as judge:
        cands = [{"name": n, "backend": "openai", "model": n, "base_url": fake_openai.base_url} for n in ("x", "y")]
        cfg = write_config(tmp_path, questions_file, cands, rating={"bootstrap": 5},
                           judge={"model": "j", "base_url": judge.base_url, "json_output": True})
        ctx = run_pipeline(load_config(cfg), show_progress=False, log=lambda s: None)
        assert judge.requests[0]["response_format"]["type"] == "json_schema"
    recs = read_jsonl(ctx.run.path / "judgments.jsonl")
    assert {r["label"] for r in recs} == {"B>A"} and {r["status"] for r in recs} == {"ok"}


def test_a_pair_missing_a_planned_order_is_incomplete_not_a_one_order_battle() -> None:
    """A budget stop can leave one order of a pair unjudged: with both orders planned that pair gives no battle
    (it is counted incomplete and judged whole next time); one order on purpose (order random, adaptive one-first:
    nothing planned) is a battle."""
    from arena.questions import Question
    from judges.battles import make_battles
    from judges.tasks import JudgeTask

    q = Question("q1", ["Hi?"])
    ab = JudgeTask(q, 1, "x", "y", "AB", ("ans x",), ("ans y",))
    ba = JudgeTask(q, 1, "x", "y", "BA", ("ans x",), ("ans y",))
    rec = {"key": "k-ab", "status": "ok", "position_winner": "A", "strength": 2, "verdict_kind": "5way",
           "label": "A>>B"}
    settings = {"judge": "j", "mode": "pairwise", "inconsistent": "tie", "strong_weight": 3.0}
    battles, counts = make_battles([(ab, rec)], planned={ab.pair_id: 2}, **settings)
    assert battles == [] and counts["incomplete"] == 1
    battles, counts = make_battles([(ab, rec)], planned=None, **settings)
    assert [(b["winner"], b["weight"]) for b in battles] == [("model_a", 3.0)]
    both = [(ab, rec), (ba, {**rec, "key": "k-ba"})]  # the judge says A in both orders: position bias
    battles, counts = make_battles(both, planned={ab.pair_id: 2}, **settings)
    assert len(battles) == 1 and battles[0]["winner"] == "tie" and counts["inconsistent"] == 1
