"""A small, deterministic Arena workspace (FORMATS.md) for the viz tests: 4 models, 2 pairwise runs,
a single-mode run, a run with answers but no judgments, a dry run, a panel run (judges/<member>/ files, a failed judge
call, run errors), objective benchmark files, one answer full of HTML (`<script>`, `<img onerror>`) to
prove it is shown as text, and one full of code (`<` and `$` in nested fences and indented blocks)."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

from arena.rating import RatingOptions, write_leaderboard
from arena.records import content_hash

STRENGTH = {"model-gamma": 3, "model-alpha": 2, "model-delta": 1, "model-beta": 0}
RATING_ORDER = ["model-gamma", "model-alpha", "model-delta", "model-beta"]
QUESTIONS = [
    {
        "question_id": "q1",
        "category": "writing",
        "turns": ["Write a haiku about rain.", "Now make it sadder."],
    },
    {"question_id": "q2", "category": "math", "turns": ["What is 12 * 7?"], "reference": ["84"]},
    {"question_id": "q3", "category": "coding", "turns": ["Show a minimal HTML page with a script tag."]},
    {"question_id": "q4", "category": "stem", "turns": ["Why is the sky blue?"]},
]
HTML_MODEL, HTML_QUESTION = "model-beta", "q3"
HTML_ANSWER = (
    "Sure! Put this in the page: <script>alert(1)</script> and an image <img src=x onerror=alert(1)> "
    "then **bold** text. It costs $5 and $10."
)
RUN1, RUN2 = "20250101-000000-week1", "20250108-000000-week2"
RUN_DRY, RUN_PANEL = "20250104-000000-dry", "20250105-000000-panel"
PANEL = "panel-of-two"
CODE_MODEL, CODE_QUESTION = "model-gamma", "q3"
CODE_ANSWER = (
    "Here is the check:\n\n"
    "- step one:\n\n"
    "  ```python\n  if a < b and cost == '$x':\n      print(\"<ok>\")\n  ```\n\n"
    "> quoted:\n>\n>     while i < n: total += '$y'\n\n"
    "Indented:\n\n    if (x < 10) { echo '$z'; }\n\n"
    "Inline `a < b` and `'$w'`. Prices \\$5 and $6. ![pixel](http://tracker.invalid/x.png)"
)
ERROR_TEXT = "timeout <img src=x onerror=alert(2)> after $3$ tries"
LONG_RAW = "Long reasoning. " * 1600
RUN_SINGLE, RUN_PARTIAL = "20250108-120000-single", "20250109-090000-partial"
JUDGES = ("gpt-4o-judge", "qwen-max-judge")
RUN_TIED, TIED, NEWCOMER = "20250301-000000-quickstart", ("tie-a", "tie-b", "tie-c", "tie-d"), "newcomer"
# answers stopped at max_tokens: (model, question) -> (turn, how the record says so)
CUT_TURNS = {("model-alpha", "q4"): (1, "finish_reason"), ("model-delta", "q1"): (2, "truncated")}
BENCH = {"model-gamma": {"gsm8k": 0.81, "mmlu": 0.72}, "model-alpha": {"gsm8k": 0.64, "mmlu": 0.66}}


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records as JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _write_json(path: Path, obj: Any) -> None:
    """Write one JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")


def _answer_text(model: str, q: dict[str, Any], turn: int) -> str:
    """Deterministic answer text for one model, question and turn."""
    if model == HTML_MODEL and q["question_id"] == HTML_QUESTION:
        return HTML_ANSWER
    if model == CODE_MODEL and q["question_id"] == CODE_QUESTION:
        return CODE_ANSWER
    return f"Answer of {model} to {q['question_id']} turn {turn}. " + "detail " * (5 + 3 * STRENGTH[model])


def write_answers(ws: Path) -> dict[str, dict[str, str]]:
    """answers/<model>.jsonl for every model; returns the answers index {model: {qid: key}}."""
    index: dict[str, dict[str, str]] = {}
    for model in STRENGTH:
        records = []
        for q in QUESTIONS:
            key = content_hash([model, q["question_id"], {"temperature": 0}])
            turns = [_answer_text(model, q, t) for t in range(1, len(q["turns"]) + 1)]
            cut_turn, how = CUT_TURNS.get((model, q["question_id"]), (0, ""))
            flags = [t == cut_turn for t in range(1, len(turns) + 1)]
            records.append(
                {
                    "key": key,
                    "model": model,
                    "question_id": q["question_id"],
                    "category": q["category"],
                    "question_hash": content_hash(q),
                    "turns": turns,
                    "params": {"temperature": 0},
                    "backend": "demo",
                    "status": "ok",
                    "run_id": RUN1,
                    "created": "2025-01-01T00:00:00Z",
                }
            )
            if how == "truncated":  # a record that only carries the flag
                records[-1]["truncated"] = flags
            else:
                records[-1]["finish_reason"] = ["length" if f else "stop" for f in flags]
            index.setdefault(model, {})[q["question_id"]] = key
        _write_jsonl(ws / "answers" / f"{model}.jsonl", records)
    return index


def _run_json(run_id: str, mode: str, models: list[str], status: str = "completed") -> dict[str, Any]:
    """A run.json as the pipeline writes it."""
    day = run_id[:4] + "-" + run_id[4:6] + "-" + run_id[6:8]
    clock = run_id[9:11] + ":" + run_id[11:13] + ":" + run_id[13:15]
    return {
        "run_id": run_id,
        "status": status,
        "command": ["arena", "run"],
        "started": f"{day}T{clock}Z",
        "finished": f"{day}T{clock}Z",
        "config": {"run_name": "weekly", "judge": {"mode": mode, "name": "gpt-4o-judge"}, "dry_run": False},
        "stages": {"answers": {"models": {m: {"questions": len(QUESTIONS)} for m in models}}},
        "errors": [],
    }


def _outcome(stronger_first: bool, qi: int, pi: int, adjacent: bool) -> str:
    """Verdict for a battle in model terms: mostly the stronger model wins, with ties and upsets."""
    if (qi + pi) % 5 == 0:
        return "tie"
    upset = adjacent and qi == 3
    stronger_wins = not upset
    return "model_a" if stronger_wins == stronger_first else "model_b"


def _judgment(run_id: str, judge: str, q: dict, turn: int, a: str, b: str, order: str, winner: str) -> dict:
    """One judge call record; its label is in position terms."""
    position = {
        "model_a": "A" if order == "AB" else "B",
        "model_b": "B" if order == "AB" else "A",
        "tie": "tie",
    }
    label = position[winner]
    raw = (
        f"Comparing the two assistants on {q['question_id']} (turn {turn}). <b>Judge note</b>: "
        f"assistant {label} is better. Final verdict: [[{'C' if label == 'tie' else label}]]"
    )
    key = content_hash([judge, q["question_id"], turn, a, b, order])
    return {
        "key": key,
        "judge": judge,
        "judge_model": judge.replace("-judge", ""),
        "mode": "pairwise",
        "verdict_kind": "3way",
        "template": "pair-v2",
        "template_hash": "t1",
        "question_id": q["question_id"],
        "category": q["category"],
        "turn": turn,
        "model_a": a,
        "model_b": b,
        "answer_a_hash": "ha",
        "answer_b_hash": "hb",
        "order": order,
        "status": "ok",
        "label": label,
        "winner": winner,
        "strength": 1,
        "score": None,
        "prob_a": None,
        "raw": raw,
        "followup_raw": None,
        "error": None,
        "prompt_tokens": 500,
        "completion_tokens": 80,
        "cost_usd": 0.002,
        "latency_s": 1.0,
        "dry_run": False,
        "run_id": run_id,
        "created": "2025-01-01T00:00:00Z",
    }


def write_pairwise_run(
    ws: Path,
    run_id: str,
    models: list[str],
    judges: tuple[str, ...],
    index: dict[str, dict[str, str]],
    folder: Path | None = None,
) -> None:
    """A completed pairwise run: questions, judgments (both orders), battles, judge stats, leaderboard."""
    run = folder or ws / "runs" / run_id
    battles, judgments = [], []
    pairs = list(combinations(models, 2))
    for judge in judges:
        for qi, q in enumerate(QUESTIONS):
            for turn in range(1, len(q["turns"]) + 1):
                for pi, (x, y) in enumerate(pairs):
                    a, b = (x, y) if (qi + pi) % 2 == 0 else (y, x)
                    adjacent = abs(STRENGTH[a] - STRENGTH[b]) == 1
                    winner = _outcome(STRENGTH[a] > STRENGTH[b], qi, pi, adjacent)
                    games = [_judgment(run_id, judge, q, turn, a, b, o, winner) for o in ("AB", "BA")]
                    judgments.extend(games)
                    la, lb = (len(_answer_text(m, q, turn).split()) for m in (a, b))
                    battles.append(
                        {
                            "question_id": q["question_id"],
                            "model_a": a,
                            "model_b": b,
                            "winner": winner,
                            "judge": judge,
                            "category": q["category"],
                            "turn": turn,
                            "weight": 1,
                            "consistent": True,
                            "games": [g["key"] for g in games],
                            "mode": "pairwise",
                            "len_a": la,
                            "len_b": lb,
                            "header_a": 0,
                            "header_b": 0,
                            "list_a": 0,
                            "list_b": 0,
                            "bold_a": 1,
                            "bold_b": 0,
                        }
                    )
    _write_json(run / "run.json", _run_json(run_id, "pairwise", models))
    _write_json(run / "answers_index.json", {m: index[m] for m in models})
    _write_jsonl(run / "questions.jsonl", QUESTIONS)
    _write_jsonl(run / "judgments.jsonl", judgments)
    _write_jsonl(run / "battles.jsonl", battles)
    stats = {
        j: {
            "calls": 2 * sum(b["judge"] == j for b in battles),
            "cached": 0,
            "ok": 2 * sum(b["judge"] == j for b in battles),
            "unparsed": 0,
            "errors": 0,
            "parse_failure_rate": 0.0,
            "pairs_both_orders": sum(b["judge"] == j for b in battles),
            "position_consistency": 0.9 if j == JUDGES[0] else 0.75,
            "first_position_win_rate": 0.55,
            "tie_rate": 0.2,
            "prompt_tokens": 100000,
            "completion_tokens": 9000,
            "cost_usd": 1.25,
            "dry_run": False,
        }
        for j in judges
    }
    _write_json(run / "judge_stats.json", stats)
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=20, seed=0))


def write_single_run(ws: Path, index: dict[str, dict[str, str]]) -> None:
    """A single-mode run: scores.jsonl, single_scores.json, judgments with raw text."""
    run, judge, scores = ws / "runs" / RUN_SINGLE, JUDGES[0], []
    for model in RATING_ORDER:
        for q in QUESTIONS:
            for turn in range(1, len(q["turns"]) + 1):
                score = float(min(10, 4 + 2 * STRENGTH[model] + (turn == 2)))
                scores.append(
                    {
                        "question_id": q["question_id"],
                        "model": model,
                        "turn": turn,
                        "score": score,
                        "judge": judge,
                        "category": q["category"],
                        "key": content_hash([model, q["question_id"], turn]),
                    }
                )
    summary = {"judge": judge, "models": []}
    for model in RATING_ORDER:
        own = [s for s in scores if s["model"] == model]
        mean = lambda xs: sum(x["score"] for x in xs) / len(xs)
        summary["models"].append(
            {
                "model": model,
                "mean": mean(own),
                "n": len(own),
                "per_turn": {str(t): mean([s for s in own if s["turn"] == t]) for t in (1, 2)},
                "per_category": {
                    q["category"]: mean([s for s in own if s["category"] == q["category"]]) for q in QUESTIONS
                },
            }
        )
    _write_json(run / "run.json", _run_json(RUN_SINGLE, "single", RATING_ORDER))
    _write_json(run / "answers_index.json", index)
    _write_jsonl(run / "questions.jsonl", QUESTIONS)
    _write_jsonl(run / "scores.jsonl", scores)
    _write_json(run / "single_scores.json", summary)


def write_panel_run(ws: Path, index: dict[str, dict[str, str]]) -> None:
    """A panel run: each member's files under judges/<member>/, merged battles judged by the panel name."""
    run, models = ws / "runs" / RUN_PANEL, ["model-alpha", "model-beta", "model-gamma"]
    members = {j: run / "judges" / j for j in JUDGES}
    for judge, folder in members.items():
        write_pairwise_run(ws, RUN_PANEL, models, (judge,), index, folder)
    merged: dict[tuple, dict] = {}
    judgments, stats = [], {}
    for judge, folder in members.items():
        rows = [json.loads(x) for x in (folder / "judgments.jsonl").read_text().splitlines()]
        for row in rows:
            if judge == JUDGES[1] and row["question_id"] == "q4" and row["order"] == "AB":
                row.update(status="error", winner=None, label=None, raw=LONG_RAW, error=ERROR_TEXT)
        judgments += rows
        stats.update(json.loads((folder / "judge_stats.json").read_text()))
        for b in (json.loads(x) for x in (folder / "battles.jsonl").read_text().splitlines()):
            key = (b["question_id"], b["turn"], b["model_a"], b["model_b"])
            if key in merged:
                merged[key]["games"] += b["games"]
                merged[key]["panel_votes"][judge] = 1.0 if b["winner"] == "model_a" else 0.0
            else:
                merged[key] = {**b, "judge": PANEL, "games": list(b["games"]), "panel_votes": {judge: 0.5}}
    _write_jsonl(run / "judgments.jsonl", judgments)
    _write_jsonl(run / "battles.jsonl", list(merged.values()))
    _write_json(run / "judge_stats.json", stats)
    _write_json(run / "answers_index.json", {m: index[m] for m in models})
    _write_jsonl(run / "questions.jsonl", QUESTIONS)
    info = _run_json(RUN_PANEL, "pairwise", models)
    info["config"]["run_name"] = "panel"
    info["config"]["judge"] = {"mode": "pairwise", "name": PANEL, "panel": [{"name": j} for j in JUDGES]}
    info["errors"] = [{"message": ERROR_TEXT, "stage": "judge"}, {"message": "second", "stage": "judge"}]
    _write_json(run / "run.json", info)
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=20, seed=0))


def write_dry_run(ws: Path) -> None:
    """A dry run in the same series as RUN1/RUN2 (a copy of RUN1 flagged dry_run)."""
    source, target = ws / "runs" / RUN1, ws / "runs" / RUN_DRY
    target.mkdir(parents=True)
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    info = _run_json(RUN_DRY, "pairwise", ["model-alpha", "model-beta", "model-gamma"])
    info["config"]["dry_run"] = True
    _write_json(target / "run.json", info)


def build_bench_workspace(ws: Path) -> Path:
    """A workspace with objective benchmark results only: bench files and an `arena bench` run."""
    for model, scores in BENCH.items():
        _write_json(
            ws / "bench" / f"{model}.json",
            {"model": model, "scores": scores, "n": {t: 20 for t in scores}, "updated": "2025-02-01T00:00:00Z"},
        )
    info = _run_json("20250201-000000-bench", "pairwise", list(BENCH))
    info["config"] = {"run_name": "bench", "bench": {"tasks": [{"name": t} for t in BENCH["model-alpha"]]}}
    info["stages"]["bench"] = {"models": {}, "tasks": list(BENCH["model-alpha"])}
    info["errors"] = [{"message": "rejected: <b>line 3</b>", "stage": "bench"}]
    _write_json(ws / "runs" / "20250201-000000-bench" / "run.json", info)
    _write_json(ws / "runs" / "20250201-000000-bench" / "answers_index.json", {})
    return ws


def build_tied_workspace(ws: Path) -> Path:
    """The quick start's shape: one dry run only, four evenly matched models sharing rank 1, and a
    newcomer with two tied battles (too few to rate with confidence)."""
    battles = []
    for a, b in combinations(TIED, 2):
        edge = int(a == TIED[0])  # tie-a is a little ahead, not significantly
        for k, winner in enumerate(["model_a"] * (4 + edge) + ["model_b"] * (4 - edge) + ["tie"] * 2):
            battles.append({"question_id": f"q{k}", "model_a": a, "model_b": b, "winner": winner})
    newcomer = {"model_a": NEWCOMER, "model_b": TIED[1], "winner": "tie"}
    battles += [{"question_id": q, **newcomer} for q in ("q0", "q1")]
    for b in battles:
        b.update(judge="demo-judge", category="general", turn=1, weight=1)
    run = ws / "runs" / RUN_TIED
    _write_jsonl(run / "battles.jsonl", battles)
    info = _run_json(RUN_TIED, "pairwise", [*TIED, NEWCOMER])
    info["config"].update(run_name="quickstart", dry_run=True)
    info["config"]["judge"]["name"] = "demo-judge"
    _write_json(run / "run.json", info)
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=50, seed=0))
    return ws


def build_workspace(ws: Path) -> Path:
    """Write the whole fixture workspace under ws and return it."""
    index = write_answers(ws)
    write_pairwise_run(ws, RUN1, ["model-alpha", "model-beta", "model-gamma"], JUDGES[:1], index)
    write_pairwise_run(ws, RUN2, list(STRENGTH), JUDGES, index)
    write_single_run(ws, index)
    write_dry_run(ws)
    write_panel_run(ws, index)
    partial = ws / "runs" / RUN_PARTIAL
    _write_json(
        partial / "run.json", _run_json(RUN_PARTIAL, "pairwise", ["model-alpha", "model-beta"], "interrupted")
    )
    _write_json(partial / "answers_index.json", {m: index[m] for m in ("model-alpha", "model-beta")})
    for model, scores in BENCH.items():
        _write_json(ws / "bench" / f"{model}.json", {"model": model, "scores": scores})
    _write_json(ws / "bench" / "other-model.json", {"model": "other-model", "scores": {"humaneval": 0.5}})
    return ws


if __name__ == "__main__":
    import sys

    print(build_workspace(Path(sys.argv[1] if len(sys.argv) > 1 else "viz-fixture-workspace")))


RUN_MANY = "20250301-000000-many"


def build_many_models_workspace(ws: Path, n_models: int = 45) -> tuple[Path, list[str]]:
    """One pairwise run of n_models models in a ring (each meets its four nearest neighbours 3 times; the
    stronger, lower-numbered, one wins twice), rated with a few bootstrap rounds; returns the workspace and
    the models strongest first."""
    models = [f"m{k:03d}" for k in range(n_models)]
    battles = []
    for k in range(n_models):
        for step in (1, 2):
            a, b = models[k], models[(k + step) % n_models]
            strong = "model_a" if k < (k + step) % n_models else "model_b"
            for rep, winner in enumerate([strong, strong, "model_b" if strong == "model_a" else "model_a"]):
                battles.append({"question_id": f"q{rep}", "model_a": a, "model_b": b, "winner": winner,
                                "judge": "demo-judge", "category": "general", "turn": 1, "weight": 1})
    run = ws / "runs" / RUN_MANY
    _write_jsonl(run / "battles.jsonl", battles)
    _write_json(run / "run.json", _run_json(RUN_MANY, "pairwise", models))
    write_leaderboard(run / "battles.jsonl", run, RatingOptions(bootstrap=20, seed=0))
    return ws, models
