"""Write an import bundle as a run folder that `arena rate`, `arena leaderboard` and the viz app read like a native run.

Answers go into the workspace answer cache (`WORKSPACE/answers/<model>.jsonl`) when the run folder sits
in a workspace (`.../runs/<run_id>`); a run folder elsewhere keeps its answers in `RUN_DIR/answers/`.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from arena.answers import AnswerStore, make_record
from arena.errors import ArenaError, DataError
from arena.interop.chatbot_arena import board_scale
from arena.interop.common import Bundle, add_style, write_jsonl
from arena.questions import Question
from arena.rating import RatingOptions, write_leaderboard
from arena.rating.io import ANONYMOUS_FILENAME
from arena.records import content_hash, write_json_atomic, write_jsonl_atomic
from arena.run_status import shown_status
from arena.store import RunDir, Workspace

REPLACEABLE = ("interrupted", "failed", "killed")  # an import run in one of these states is written again


def answers_root_for(run_path: Path) -> Path:
    """Where a run's answers live: the workspace cache for `WORKSPACE/runs/<id>`, else `RUN_DIR/answers`."""
    run_path = Path(run_path).resolve()
    if run_path.parent.name == "runs":
        return run_path.parent.parent / "answers"
    return run_path / "answers"


def unfinished_import(out: Path) -> str | None:
    """The status of an import run folder left interrupted, failed or killed (which the same command may
    write again), else None: a completed run, a running one or a folder that is not an import run."""
    try:
        info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance((info.get("config") or {}).get("import"), dict):
        return None
    status = shown_status(info)
    return status if status in REPLACEABLE else None


def new_run_dir(out: Path | None, workspace: Path, fmt: str) -> RunDir:
    """The run folder to import into: -o RUN_DIR (new, empty, or an import run left interrupted, failed or
    killed, which is emptied and written again) or WORKSPACE/runs/<time>-import-<fmt>."""
    if out is None:
        return Workspace(workspace).new_run(f"import-{fmt}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ArenaError(f"{out}: -o names an existing file, not a run folder",
                         hint="pass a new folder to -o (import never overwrites a file)")
    if out.exists() and any(out.iterdir()):
        status = unfinished_import(out)
        if status is None:
            raise ArenaError(f"{out}: run folder already exists and is not empty (not an interrupted or failed "
                             "import run)", hint="pass a new folder to -o")
        print(f"note: {out}: replacing an import run left {status}")
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArenaError(f"{out}: cannot create the run folder ({exc.strerror})", hint="pass a new folder to -o") from None
    return RunDir(out)


def _question_for(bundle: Bundle, qid: str, ans: dict[str, Any]) -> Question:
    """The imported question, or a stand-in holding only the id when no question file was given."""
    return bundle.questions.get(qid) or Question(ans["question_id"], [], "general")


def write_answers(bundle: Bundle, run: RunDir, root: Path) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Append imported answers to the answer store (skipping ones already there); returns index and summary."""
    store, index, summary = AnswerStore(root), {}, {}
    for model, by_q in sorted(bundle.answers.items()):
        have = store.load(model)
        index[model], added = {}, 0
        with store.appender(model) as app:
            for qid, ans in by_q.items():
                q = _question_for(bundle, qid, ans)
                key = content_hash({"import": bundle.tool, "model": model, "question": q.content_hash(),
                                    "turns": ans["turns"]})
                index[model][qid] = key
                if key not in have:
                    src = {"tool": bundle.tool, **ans["meta"]}
                    app.append(make_record(key=key, model=model, question=q, turns=ans["turns"], params={},
                                           backend=f"import:{bundle.tool}", run_id=run.run_id, source=src))
                    added += 1
        summary[model] = {"questions": len(by_q), "cached": len(by_q) - added, "generated": 0, "imported": added,
                          "failed": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0,
                          "mean_latency_s": None, "mean_ttft_s": None}
    return index, summary


def _fill_from_answers(bundle: Bundle) -> None:
    """Answer hashes on judgments and style features on battles, from the imported answers."""
    def turn_hash(model: str | None, qid: Any) -> str | None:
        ans = bundle.answers.get(model or "", {}).get(str(qid))
        return content_hash(ans["turns"]) if ans else None

    for j in bundle.judgments:
        j["answer_a_hash"] = turn_hash(j["model_a"], j["question_id"])
        j["answer_b_hash"] = turn_hash(j["model_b"], j["question_id"])
    for b in bundle.battles:
        turn = int(b.get("turn") or 1)
        add_style(b, bundle.answer_text(b["model_a"], b.get("question_id"), turn),
                  bundle.answer_text(b["model_b"], b.get("question_id"), turn))


def single_summary(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """single_scores.json: mean score per model, per turn and per category."""
    judges = Counter(s["judge"] for s in scores)
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in scores:
        by_model[s["model"]].append(s)
    models = []
    for model, rows in by_model.items():
        per_turn, per_cat = defaultdict(list), defaultdict(list)
        for r in rows:
            per_turn[str(r["turn"])].append(r["score"])
            if r.get("category"):
                per_cat[r["category"]].append(r["score"])
        models.append({"model": model, "mean": float(np.mean([r["score"] for r in rows])), "n": len(rows),
                       "per_turn": {t: float(np.mean(v)) for t, v in sorted(per_turn.items())},
                       "per_category": {c: float(np.mean(v)) for c, v in sorted(per_cat.items())}})
    models.sort(key=lambda m: (-m["mean"], m["model"]))
    return {"judge": judges.most_common(1)[0][0] if judges else None, "models": models}


def judge_stats(judgments: list[dict[str, Any]]) -> dict[str, Any]:
    """judge_stats.json: per judge counts, parse failures, position consistency and first-position wins."""
    out: dict[str, Any] = {}
    for judge in sorted({j["judge"] for j in judgments}):
        js = [j for j in judgments if j["judge"] == judge]
        status = Counter(j["status"] for j in js)
        games = [j for j in js if j["status"] == "ok" and j["winner"] is not None]
        decisive = [j for j in games if j["winner"] != "tie"]
        first = sum(1 for j in decisive if (j["winner"] == "model_a") == (j["order"] == "AB"))
        pairs: dict[tuple, dict[str, str]] = defaultdict(dict)
        for j in games:
            pairs[(j["question_id"], j["turn"], j["model_a"], j["model_b"])][j["order"]] = j["winner"]
        both = [p for p in pairs.values() if len(p) == 2]
        out[judge] = {
            "calls": len(js), "cached": 0, "ok": status["ok"], "unparsed": status["unparsed"],
            "errors": status["error"], "parse_failure_rate": (len(js) - status["ok"]) / len(js) if js else None,
            "pairs_both_orders": len(both),
            "position_consistency": sum(p["AB"] == p["BA"] for p in both) / len(both) if both else None,
            "first_position_win_rate": first / len(decisive) if decisive else None,
            "tie_rate": sum(j["winner"] == "tie" for j in games) / len(games) if games else None,
            "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "dry_run": False,
        }
    return out


def _rate(bundle: Bundle, run: RunDir, bootstrap: int, seed: int) -> dict[str, Any]:
    """leaderboard.{json,csv} for runs with battles between at least two models; notes instead of failing."""
    models = {b["model_a"] for b in bundle.battles} | {b["model_b"] for b in bundle.battles}
    if len(models) < 2:
        return {"skipped": "fewer than two models in the battles"}
    options = RatingOptions(bootstrap=bootstrap, seed=seed,
                            baseline=bundle.baseline if bundle.baseline in models else None)
    source = run.path / "battles.jsonl"
    if bundle.tool == "chatbot-arena":
        rated, which = [b for b in bundle.battles if b.get("anony", True) is True], "these battles"
        if not rated:  # nothing to rate the anonymous way: all battles, and say so
            rated = bundle.battles
            bundle.notes.append(f"no anonymous battles (anony=true): the leaderboard rates all {len(rated)} "
                                "battles (Chatbot Arena's counts anonymous battles only)")
        elif len(rated) < len(bundle.battles):
            # Chatbot Arena's leaderboard counts anonymous battles only: rate those, keep all in battles.jsonl
            source, which = run.path / ANONYMOUS_FILENAME, "the anonymous battles"
            write_jsonl_atomic(source, rated)
        models = {b["model_a"] for b in rated} | {b["model_b"] for b in rated}
        anchor, scale_note = board_scale(models, which=which)
        options = RatingOptions(bootstrap=bootstrap, seed=seed, anchor=anchor)
        bundle.notes.append(f"leaderboard {scale_note}")
    try:
        report = write_leaderboard(source, run.path, options, workspace=run.path.parent.parent)  # + bench columns
    except (ArenaError, DataError) as exc:
        return {"skipped": str(exc)}
    return {"method": "bt", "bootstrap": bootstrap, "n_battles": report["n_battles"], "warnings": report["warnings"]}


def write_run(bundle: Bundle, run: RunDir, command: list[str], *, bootstrap: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Write questions, answers, judgments, battles, scores, stats, leaderboard and run.json; returns run.json."""
    mode = bundle.mode
    judge = {"mode": mode, "baseline": bundle.baseline}
    if bundle.baselines:
        judge["baselines"] = dict(bundle.baselines)
    config = {"judge": judge, "dry_run": False, "import": {"format": bundle.tool, "paths": bundle.paths}}
    run.start(config, command)
    try:
        _write_files(bundle, run, bootstrap, seed)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM as the CLI turns it: the same command writes it again
        run.finish("interrupted")
        raise
    except Exception as exc:
        run.error(str(exc), stage="import")
        run.finish("failed", [f"import: {exc}"])
        raise
    run.finish("completed")
    return run.info


def _write_files(bundle: Bundle, run: RunDir, bootstrap: int, seed: int) -> None:
    """Every file of an import run (run.json is started and finished by write_run)."""
    run.info["source"] = {"tool": bundle.tool, "paths": bundle.paths, "files": [f.as_dict() for f in bundle.files]}
    root = answers_root_for(run.path)
    index, ans_summary = write_answers(bundle, run, root)
    write_json_atomic(run.path / "answers_index.json", index)
    run.stage("answers", {"models": ans_summary, "answers_dir": str(root)})
    _fill_from_answers(bundle)
    if bundle.questions:
        write_jsonl(run.path / "questions.jsonl", (_question_record(q) for q in bundle.questions.values()))
    if bundle.references:
        write_jsonl(run.path / "reference_answers.jsonl", bundle.references)
    write_jsonl(run.path / "judgments.jsonl", bundle.judgments)
    status = Counter(j["status"] for j in bundle.judgments)
    run.stage("judge", {"calls": len(bundle.judgments), "cached": 0, "failed": status["error"],
                        "unparsed": status["unparsed"], "prompt_tokens": 0, "completion_tokens": 0,
                        "cost_usd": 0.0, "imported": True})
    if bundle.judgments:
        write_json_atomic(run.path / "judge_stats.json", judge_stats(bundle.judgments))
    if bundle.scores:
        write_jsonl(run.path / "scores.jsonl", bundle.scores)
        write_json_atomic(run.path / "single_scores.json", single_summary(bundle.scores))
    if bundle.battles:
        write_jsonl(run.path / "battles.jsonl", bundle.battles)
        run.stage("rating", _rate(bundle, run, bootstrap, seed))
    run.stage("import", {"files": [f.as_dict() for f in bundle.files], "notes": bundle.notes,
                         "battles": len(bundle.battles), "scores": len(bundle.scores)})


def _question_record(q: Question) -> dict[str, Any]:
    """A question in Arena's question-file shape (extra source fields kept)."""
    rec: dict[str, Any] = {"question_id": q.question_id, "category": q.category, "turns": q.turns}
    if q.reference:
        rec["reference"] = q.reference
    rec.update({k: v for k, v in q.meta.items() if k not in rec})
    return rec
