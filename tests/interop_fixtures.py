"""Small hand-made files in the shapes of FastChat MT-bench, arena-hard-auto, AlpacaEval, evalscope and
Chatbot Arena, shared by the tests/test_interop_*.py files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSONL (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json(path: Path, rows: Any) -> Path:
    """Write a JSON document (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def arena(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the interop CLI (`python -m arena.interop.cli ...`) in a subprocess."""
    return subprocess.run([sys.executable, "-m", "arena.interop.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=120, check=False)


def run_main(*args: Any) -> int:
    """Run an interop subcommand in-process (fast); errors propagate as exceptions; returns the exit code."""
    import argparse

    from arena.interop.cli import register

    parser = argparse.ArgumentParser(prog="arena")
    register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args([str(a) for a in args])
    return parsed.func(parsed)


def comparable(rec: dict[str, Any]) -> dict[str, Any]:
    """A record without what legitimately differs between two imports (file paths, lines, run id, times)."""
    out = {k: v for k, v in rec.items() if k not in ("run_id", "created")}
    if isinstance(out.get("source"), dict):
        out["source"] = {k: v for k, v in out["source"].items() if k not in ("path", "line", "from")}
    return out


# ---------------------------------------------------------------- MT-bench (FastChat llm_judge)

MT_QUESTIONS = [
    {"question_id": 1, "category": "writing", "turns": ["Write a poem.", "Shorter."]},
    {"question_id": 2, "category": "math", "turns": ["2+2?", "Times 3?"]},
    {"question_id": 3, "category": "coding", "turns": ["Sort a list.", "In place?"]},
]
# model -> per question -> (turn 1 score, turn 2 score); -1 is a failed grade
MT_SINGLE = {
    "m1": {1: (8, 7), 2: (6, 5), 3: (10, -1)},
    "m2": {1: (5, 4), 2: (5, 3), 3: (2, 3)},
    "m3": {1: (9, 10), 2: (8.5, 8), 3: (9, -1)},
}
# (question, turn, g1_winner, g2_winner) for m1 (model_1) vs m2 (model_2)
MT_PAIRS = [(1, 1, "model_1", "model_1"), (2, 1, "model_1", "model_2"), (3, 1, "error", "model_1"),
            (1, 2, "tie", "tie"), (2, 2, "model_2", "model_2"), (3, 2, "model_1", "model_1")]


def mt_bench_files(root: Path) -> Path:
    """A FastChat data/mt_bench folder: questions, a reference, answers of 3 models, single and pair judgments."""
    write_jsonl(root / "question.jsonl", MT_QUESTIONS)
    write_jsonl(root / "reference_answer" / "gpt-4.jsonl",
                [{"question_id": 2, "answer_id": "r2", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["4", "12"]}],
                  "tstamp": 1.0}])
    for model in MT_SINGLE:
        write_jsonl(root / "model_answer" / f"{model}.jsonl",
                    [{"question_id": q["question_id"], "answer_id": f"{model}-{q['question_id']}", "model_id": model,
                      "choices": [{"index": 0, "turns": [f"{model} answer {q['question_id']}.1 " * (1 + i),
                                                         f"{model} answer {q['question_id']}.2"]}], "tstamp": 2.0}
                     for i, q in enumerate(MT_QUESTIONS)])
    single = []
    for model, by_q in MT_SINGLE.items():
        for qid, scores in by_q.items():
            for turn, score in enumerate(scores, start=1):
                text = "$ERROR$" if (score == -1 and model == "m1") else f"Explanation. Rating: [[{score}]]"
                single.append({"question_id": qid, "model": model,
                               "judge": ["gpt-4", "single-v1" if turn == 1 else "single-v1-multi-turn"],
                               "user_prompt": f"[Question] {qid}", "judgment": text, "score": score, "turn": turn,
                               "tstamp": 3.0})
    write_jsonl(root / "model_judgment" / "gpt-4_single.jsonl", single)
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", [
        {"question_id": q, "model_1": "m1", "model_2": "m2", "g1_winner": g1, "g2_winner": g2,
         "judge": ["gpt-4", "pair-v2" if t == 1 else "pair-v2-multi-turn"], "g1_user_prompt": f"p1 {q}",
         "g1_judgment": f"game 1 says {g1}", "g2_user_prompt": f"p2 {q}", "g2_judgment": f"game 2 says {g2}",
         "turn": t, "tstamp": 4.0} for q, t, g1, g2 in MT_PAIRS])
    return root


# ---------------------------------------------------------------- arena-hard-auto

AH_V01_GAMES = {  # question -> (game 1 score, game 2 score) for model "m-x"; baseline is A in game 1
    "q1": ("A>>B", "A>B"), "q2": ("B>A", "B>>A"), "q3": ("A=B", "B>>A"),
    "q4": (None, "A>>B"), "q5": ("A<B", "A>>A"), "q6": ("B>A", "A=B"),
}
AH_V01_SCORE = 100 * 7.0 / 17  # points (strong = 3 games) / games, worked by hand in test_interop_arenahard


def arena_hard_v01_files(root: Path) -> Path:
    """data/arena-hard-v0.1: questions, two answers with conv_metadata, judgments of two models."""
    qs = sorted(AH_V01_GAMES)
    write_jsonl(root / "question.jsonl", [{"question_id": q, "category": "arena-hard-v0.1", "cluster": "c",
                                           "turns": [{"content": f"prompt {q}"}]} for q in qs])
    for model, tokens in (("gpt-4-0314", 100), ("m-x", 50)):
        write_jsonl(root / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model,
             "choices": [{"index": 0, "turns": [{"content": f"{model} says {q}", "token_len": tokens}]}],
             "tstamp": 1.0, "conv_metadata": {"token_len": tokens, "header_count": {"h1": 1, "h2": 0},
                                              "list_count": {"ordered": 2, "unordered": 1},
                                              "bold_count": {"**": 1, "__": 0}}} for q in qs])
    judge = root / "model_judgment" / "gpt-4-1106-preview"
    write_jsonl(judge / "m-x.jsonl", [
        {"question_id": q, "model": "m-x", "judge": "gpt-4-1106-preview",
         "games": [{"user_prompt": f"u{g}", "judgment": f"... [[{s}]]" if s else "no verdict", "score": s}
                   for g, s in enumerate(AH_V01_GAMES[q])]} for q in qs])
    write_jsonl(judge / "m-y.jsonl", [
        {"question_id": "q1", "model": "m-y", "judge": "gpt-4-1106-preview",
         "games": [{"user_prompt": "u", "judgment": "[[A=B]]", "score": "A=B"}] * 2}])
    return root


def arena_hard_2025_judgments(root: Path) -> Path:
    """A 2025-layout judgment file (uid, baseline, judgment {answer}); pair u2 has a null game."""
    games = {"u1": ("B>A", "A>B"), "u2": ("A<<B", None), "u3": ("B=A", "A<B")}
    return write_jsonl(root / "model_judgment" / "o3-mini" / "m-z.jsonl", [
        {"uid": u, "category": "hard_prompt", "judge": "o3-mini", "model": "m-z", "baseline": "o3-mini-base",
         "games": [{"score": s, "judgment": {"answer": f"[[{s}]]"}, "prompt": [{"role": "user", "content": "x"}]}
                   for s in pair]} for u, pair in games.items()])


# ---------------------------------------------------------------- Chatbot Arena

def clean_battles() -> list[dict[str, Any]]:
    """Six clean_battle records (one not anonymous) with conv_metadata."""
    rows = []
    for i, (a, b, w, anony) in enumerate([("a", "b", "model_a", True), ("b", "c", "model_b", True),
                                          ("a", "c", "tie", True), ("c", "a", "tie (bothbad)", True),
                                          ("b", "a", "model_b", True), ("a", "b", "model_b", False)]):
        rows.append({"model_a": a, "model_b": b, "winner": w, "judge": f"arena_user_{i}", "turn": 1,
                     "anony": anony, "language": "English", "tstamp": 1700000000.0 + i,
                     "conv_metadata": {"sum_user_tokens": 10, "sum_assistant_a_tokens": 100 + i,
                                       "sum_assistant_b_tokens": 200, "header_count_a": {"h1": 1},
                                       "header_count_b": {"h1": 0}, "list_count_a": {"ordered": 0},
                                       "list_count_b": {"ordered": 3}, "bold_count_a": {"**": 0},
                                       "bold_count_b": {"**": 2}},
                     "question_id": f"cq{i}"})
    return rows


# ---------------------------------------------------------------- AlpacaEval

ALPACA_PREFS = [2, 1, 1.5, 1.8]  # model mA against the reference gpt4_ref; a 5th annotation has no preference


def alpaca_files(root: Path) -> Path:
    """reference_outputs.json, mA/model_outputs.json and mA/annotations.json."""
    n = len(ALPACA_PREFS) + 1
    inst = [f"Instruction {i}" for i in range(n)]
    ref = [{"instruction": inst[i], "output": "ref " * (i + 1), "generator": "gpt4_ref", "dataset": "helpful_base"}
           for i in range(n)]
    out = [{"instruction": inst[i], "output": "model out " * (2 * i + 1), "generator": "mA", "dataset": "helpful_base"}
           for i in range(n)]
    write_json(root / "reference_outputs.json", ref)
    write_json(root / "mA" / "model_outputs.json", out)
    write_json(root / "mA" / "annotations.json", [
        {"instruction": inst[i], "output_1": ref[i]["output"], "generator_1": "gpt4_ref", "output_2": out[i]["output"],
         "generator_2": "mA", "annotator": "weighted_alpaca_eval_gpt4_turbo",
         "preference": ALPACA_PREFS[i] if i < len(ALPACA_PREFS) else None, "raw_completion": {"logprobs": i}}
        for i in range(n)])
    return root


# ---------------------------------------------------------------- evalscope (legacy arena)

def evalscope_files(root: Path) -> Path:
    """Questions, answers of two models, swap-pairwise reviews and single reviews."""
    write_jsonl(root / "question.jsonl", [{"question_id": i, "text": f"Q{i}?", "category": "generic"}
                                          for i in range(1, 7)])
    for m in ("qwen", "llama"):
        write_jsonl(root / "answers" / f"answer_{m}.jsonl", [
            {"question_id": i, "text": f"Q{i}?", "category": "generic", "model_id": m, "metadata": {},
             "answer": f"{m} answer {i}"} for i in range(1, 7)])
    wins = [("model_a", "model_a"), ("model_a", "model_b"), ("tie", "model_a"), ("model_b", "model_b"),
            ("model_a", None), ("model_a", "model_a")]
    write_jsonl(root / "reviews" / "review_gpt4_swap.jsonl", [
        {"model_a": "qwen", "model_b": "llama", "win_1": w1, "win_2": w2, "anony": True, "tstamp": 1.0 + i,
         "language": "NA", "question_id": i + 1, "category": "generic", "question": f"Q{i + 1}?",
         "review_text_1": f"r1 {w1}", "review_text_2": f"r2 {w2}"} for i, (w1, w2) in enumerate(wins)])
    write_jsonl(root / "reviews" / "review_single.jsonl", [
        {"model": m, "score": s, "anony": True, "tstamp": 2.0, "language": "NA", "question_id": q,
         "category": "generic", "question": f"Q{q}?", "review_text": f"[[{s}]]"}
        for m, q, s in (("qwen", 1, 8), ("qwen", 2, 6), ("llama", 1, 5), ("llama", 2, None))])
    return root


# ---------------------------------------------------------------- a native Arena run with strong verdicts

FIVE_WAY = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


def native_pairwise_run(root: Path, models: tuple[str, ...] = ("m1", "m2", "m3"), n_questions: int = 15,
                        seed: int = 0) -> Path:
    """A run folder shaped like `arena run` pairwise output: 5-way judgments in both orders, weighted battles."""
    import random

    from judges.verdicts import Verdict, combine_orders

    rng = random.Random(seed)
    judgments, battles = [], []
    for q in range(1, n_questions + 1):
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                games, keys = [], []
                for order in ("AB", "BA"):
                    label = rng.choice(FIVE_WAY)
                    pos = "tie" if label == "A=B" else label[0]
                    first, second = (a, b) if order == "AB" else (b, a)
                    winner = "tie" if pos == "tie" else ("model_a" if (first if pos == "A" else second) == a
                                                         else "model_b")
                    key = f"k{q}-{a}-{b}-{order}"
                    judgments.append({"key": key, "judge": "gpt-4o", "judge_model": "gpt-4o", "mode": "pairwise",
                                      "verdict_kind": "5way", "template": "pair", "question_id": f"q{q}",
                                      "category": "writing", "turn": 1, "model_a": a, "model_b": b, "order": order,
                                      "status": "ok", "label": label, "position_winner": pos, "winner": winner,
                                      "strength": 2 if ">>" in label else 1, "score": None, "prob_a": None,
                                      "raw": f"Verdict: [[{label}]]", "error": None})
                    games.append(Verdict(kind="5way", label=label, winner=pos, strength=2 if ">>" in label else 1))
                    keys.append(key)
                outcome = combine_orders(games[0], games[1], strong_weight=3.0)
                battles.append({"question_id": f"q{q}", "model_a": a, "model_b": b,
                                "winner": {"A": "model_a", "B": "model_b"}.get(outcome.winner, "tie"),
                                "judge": "gpt-4o", "category": "writing", "turn": 1, "weight": outcome.weight,
                                "mode": "pairwise", "games": keys, "consistent": outcome.consistent})
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "run.json", {"run_id": root.name, "status": "completed",
                                   "config": {"judge": {"mode": "pairwise", "baseline": None}}})
    write_jsonl(root / "judgments.jsonl", judgments)
    write_jsonl(root / "battles.jsonl", battles)
    return root
